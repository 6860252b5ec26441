package devproto

// The payload form outside a device link. A gateway task that relays a
// device's link to the task holding its session (package peerlink) carries
// each message in the same payload form a DATA frame encrypts — flags,
// secret section, zstd or raw body — inside its own encrypted task-to-task
// frames. Reusing the form keeps one codec, one set of field limits and
// one fuzzed decoder for every message, wherever it travels.

// AppendPayload appends m in payload form to dst. Any message type may be
// encoded (a relayed RESUME included); who may send which type is the
// caller's rule, checked with MsgType.SentBy.
func AppendPayload(dst []byte, m Message) ([]byte, error) { return appendPayload(dst, m) }

// DecodePayload decodes one payload. The message does not alias p.
func DecodePayload(p []byte) (Message, error) { return decodePayload(p) }

// SentBy reports whether a DATA frame from r may carry a message of type t:
// the rule Transport.Seal and Transport.Open enforce on a device link.
func (t MsgType) SentBy(r Role) bool { return t.sentBy(r) }
