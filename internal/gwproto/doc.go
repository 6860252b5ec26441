// Package gwproto owns the wire format of the Novell GroupWise Messenger
// client protocol: request encoding, the server-side request parser,
// response and event encoding, and the client-side response and event
// decoder. It does no network I/O; callers hand it byte slices or readers.
//
// Protocol flow (one TLS connection per logged-in user, port 8300 by default):
//
//	client                                         server
//	  | POST /login HTTP/1.0 + Host + fields (txn 1) |
//	  |--------------------------------------------->|
//	  |            HTTP/1.0 200 + binary fields + 0x00|
//	  |<---------------------------------------------|
//	  | POST /setstatus, /getdetails, /createconf,   |
//	  | /sendmessage, /ping ... (txn 2, 3, ...)      |
//	  |--------------------------------------------->|
//	  |   responses matched by NM_A_SZ_TRANSACTION_ID |
//	  |<---------------------------------------------|
//	  |   events at any time: u32le type, source DN,  |
//	  |   then a type-specific payload (108 = an IM)  |
//	  |<---------------------------------------------|
//	  | (no logout command: the client closes TLS)   |
//
// Requests are text: a POST line, a Host header on login only, an empty line,
// then one line of "&tag=..&cmd=..&val=..&type=.." groups in which arrays are
// flattened (val is the count of the sub-fields that follow) and strings are
// escaped byte by byte. Responses and events are binary and little-endian.
// Every length read from the wire is checked against a limit before anything
// is allocated, so a hostile peer can cost at most the limits below.
package gwproto
