// Package devproto owns the wire format and cryptography of the device
// protocol: the link between a mobile device and the gateway's device port
// (3101). It does no network I/O; it turns messages into frames and frames
// into messages over []byte and io.Reader, so the edge server, the device CLI
// and the fuzzers all drive the same code. Package devconn puts it on a
// net.Conn.
//
// # Protocol flow
//
// A login costs one round trip on the radio link:
//
//	device                                                   gateway
//	  │ HELLO: version, Noise IK message 1                       │
//	  │   payload: LOGIN (or RESUME), device timestamp           │
//	  │ ───────────────────────────────────────────────────────▶ │ decrypt, learn device key,
//	  │                                                          │ check clock skew, then the
//	  │                                                          │ DeviceVerifier (registry and
//	  │                                                          │ per-device monotonic timestamp),
//	  │                                                          │ then the caller's admission
//	  │ WELCOME: version, Noise IK message 2                     │
//	  │   payload: SERVER_STATUS (ACCEPTED + session id +        │
//	  │            resume token, or the reason for refusal)      │
//	  │ ◀─────────────────────────────────────────────────────── │
//	  │ DATA frames, both ways, until LOGOUT or a drop:          │
//	  │   device → gateway: STATUS, SEND_IM, PING, PONG, LOGOUT  │
//	  │   gateway → device: RECEIVE_IM, SERVER_STATUS, PING, PONG│
//
// A device that lost coverage reconnects with a fresh Noise handshake whose
// first message carries RESUME (session id, resume token) instead of LOGIN.
// When the gateway cannot even read the HELLO (unknown version, or the
// device encrypted to the wrong gateway key) it answers with a cleartext
// REJECT frame; everything else the gateway says is authenticated.
//
// # Frame layout
//
// Every frame, handshake or transport, is length-prefixed:
//
//	 0       1       2       3 ...
//	┌───────┬───────┬───────┬──────────────────────────┐
//	│ length (BE16) │ kind  │ body (length-1 bytes)    │
//	└───────┴───────┴───────┴──────────────────────────┘
//
// The length counts the kind byte and the body. The length, the kind byte and
// the version byte that opens HELLO, WELCOME and REJECT bodies are frozen for
// every protocol version, so any gateway can tell any device which version it
// speaks. A DATA body is ChaCha20-Poly1305 ciphertext (16-byte tag) whose
// additional data is the 3-byte header, so neither the length nor the kind
// (which names the sending side) can be altered. Its plaintext is a payload:
//
//	┌───────┬──────────────────────────────┬─────────────────────────────┐
//	│ flags │ secret section (if flagged)  │ message body (zstd or raw)  │
//	└───────┴──────────────────────────────┴─────────────────────────────┘
//	secret section: len (1 byte) │ secret │ zeros padding the secret (not
//	                the section) to a multiple of 16: 1 + roundup16(len) bytes
//	message body:   type (1 byte) │ fields of that type
//
// The same payload encoding is the Noise payload of HELLO and WELCOME.
// See docs/device-protocol.md for the field tables and the security
// reasoning, and testdata/vectors for a LOGIN, a WELCOME and a RESUME byte
// for byte.
package devproto

import "time"

// Version is the protocol version this package speaks. It travels in clear in
// HELLO, WELCOME and REJECT and is also mixed into the Noise prologue, so an
// attacker who rewrites it breaks the handshake instead of downgrading it.
const Version = 1

// Frame kinds: the byte after the length prefix.
const (
	KindHello       byte = 0x01 // device → gateway: version, Noise message 1
	KindWelcome     byte = 0x02 // gateway → device: version, Noise message 2
	KindReject      byte = 0x03 // gateway → device, clear: version, reject reason
	KindDeviceData  byte = 0x04 // device → gateway: encrypted payload
	KindGatewayData byte = 0x05 // gateway → device: encrypted payload
)

// Frame sizes and limits.
const (
	// FrameHeaderLen is the length prefix plus the kind byte.
	FrameHeaderLen = 3
	// TagLen is the ChaCha20-Poly1305 authentication tag on every DATA body.
	TagLen = 16
	// DefaultMaxFrameSize bounds a transport frame (kind+body): room for an
	// IM of several KiB while a read buffer stays small.
	DefaultMaxFrameSize = 16 << 10
	// MaxFrameSize is the largest length the 16-bit prefix can carry.
	MaxFrameSize = 1<<16 - 1
	// MinFrameSize is the smallest maximum a caller may configure: a
	// full-size HELLO must always fit.
	MinFrameSize = MaxHelloSize
	// MaxHelloSize bounds HELLO and WELCOME frames: a LOGIN with every field
	// at its limit fits, and a gateway never buffers more than this for a
	// device it has not yet authenticated.
	MaxHelloSize = 1024
	// DefaultMaxClockSkew is how far a device clock may be from the
	// gateway's before its HELLO is refused; it also bounds how long a
	// captured HELLO could be replayed if the monotonic check were absent.
	DefaultMaxClockSkew = 5 * time.Minute
)

// Reject reasons carried in a REJECT frame.
const (
	rejectVersion   byte = 1 // the gateway does not speak the HELLO's version
	rejectHandshake byte = 2 // the HELLO failed authentication
)

// Role says which end of the link a Transport belongs to.
type Role uint8

// The two ends of the link.
const (
	RoleDevice Role = iota + 1
	RoleGateway
)

// dataKind is the kind of DATA frame a role sends.
func (r Role) dataKind() byte {
	if r == RoleDevice {
		return KindDeviceData
	}
	return KindGatewayData
}

// String names the role for logs.
func (r Role) String() string {
	switch r {
	case RoleDevice:
		return "device"
	case RoleGateway:
		return "gateway"
	}
	return "unknown"
}
