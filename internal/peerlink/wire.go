package peerlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/collabgw/collabgw/internal/devproto"
)

// Version is the link version. It travels in clear in HELLO, WELCOME and
// REFUSE and is mixed into the Noise prologue, so a rewritten version
// breaks the handshake instead of downgrading it.
const Version = 1

// Frame kinds: the byte after the length prefix.
const (
	kindHello         byte = 0x01 // initiator → responder: version, key id, Noise message 1
	kindWelcome       byte = 0x02 // responder → initiator: version, Noise message 2
	kindRefuse        byte = 0x03 // responder → initiator, clear: version, reason
	kindInitiatorData byte = 0x04 // initiator → responder: encrypted message
	kindResponderData byte = 0x05 // responder → initiator: encrypted message
)

// Sizes and limits.
const (
	// FrameHeaderLen is the length prefix plus the kind byte.
	FrameHeaderLen = 3
	// TagLen is the ChaCha20-Poly1305 tag on every DATA body and handshake
	// payload.
	TagLen = 16
	// MaxTaskLen bounds a task name in the handshake.
	MaxTaskLen = 128
	// MaxRequestIDLen bounds the request id a RESUME carries.
	MaxRequestIDLen = 64
	// MaxHandshakeSize bounds HELLO, WELCOME and REFUSE frames: a task that
	// has not proved the key never makes the other buffer more.
	MaxHandshakeSize = FrameHeaderLen + 1 + KeyIDLen + dhLen + MaxTaskLen + TagLen
	// DefaultMaxFrameSize bounds a DATA frame (kind and body): a device
	// frame at devproto's default limit, re-sealed, fits with room to spare.
	DefaultMaxFrameSize = 32 << 10
	// MinFrameSize is the smallest limit a caller may set: a RESUME and an
	// ANSWER with every field at its limit fit.
	MinFrameSize = 1 << 10
	// MaxFrameSize is the largest length the 16-bit prefix carries.
	MaxFrameSize = 1<<16 - 1

	dhLen = 32 // an X25519 public key
)

// msgType is the first plaintext byte of a DATA frame.
type msgType byte

// Message types. The numbers are on the wire.
const (
	msgResume    msgType = 1 // initiator, first DATA frame: the device's verified RESUME
	msgAnswer    msgType = 2 // responder, first DATA frame: the SERVER_STATUS for the device
	msgDevice    msgType = 3 // initiator: a message the device sent
	msgGateway   msgType = 4 // responder: a message for the device
	msgKeepalive msgType = 5 // either: nothing to say, the link is alive
	msgClose     msgType = 6 // either: the sender closes the link after this frame
)

func (t msgType) String() string {
	switch t {
	case msgResume:
		return "RESUME"
	case msgAnswer:
		return "ANSWER"
	case msgDevice:
		return "DEVICE"
	case msgGateway:
		return "GATEWAY"
	case msgKeepalive:
		return "KEEPALIVE"
	case msgClose:
		return "CLOSE"
	}
	return fmt.Sprintf("TYPE_%d", byte(t))
}

// sentBy reports whether the side whose DATA frames have kind may send t.
func (t msgType) sentBy(kind byte) bool {
	switch t {
	case msgKeepalive, msgClose:
		return true
	case msgResume, msgDevice:
		return kind == kindInitiatorData
	case msgAnswer, msgGateway:
		return kind == kindResponderData
	}
	return false
}

// Resume is a device's RESUME as the task the device reached verified it:
// the device proved DeviceKey in its Noise IK handshake with that task, and
// its timestamp was inside that task's clock-skew window. The owner checks
// the rest (token, key, newer timestamp) exactly as for a local resume.
type Resume struct {
	// RequestID is the relaying task's request id, so that one resume can
	// be followed across both tasks' logs.
	RequestID string
	DeviceKey devproto.PublicKey
	// Request is the device's RESUME: device id, session id, resume token
	// (which formats as [redacted]) and device timestamp.
	Request devproto.Resume
}

// frameLength validates a length prefix and returns how many bytes follow.
func frameLength(prefix [2]byte, maxFrame int) (int, error) {
	n := int(binary.BigEndian.Uint16(prefix[:]))
	if n == 0 {
		return 0, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if n > maxFrame {
		return 0, &FrameSizeError{Size: n, Max: maxFrame}
	}
	return n, nil
}

// readFrame reads one whole frame (header included) into buf, growing it
// when needed. A length over maxFrame fails before the body is read.
func readFrame(r io.Reader, buf []byte, maxFrame int) ([]byte, error) {
	var prefix [2]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %w", ErrTruncated, err)
		}
		return nil, err
	}
	n, err := frameLength(prefix, maxFrame)
	if err != nil {
		return nil, err
	}
	return readFrameBody(r, buf, prefix, n)
}

// readFrameBody reads the n bytes after prefix into buf and returns the
// whole frame.
func readFrameBody(r io.Reader, buf []byte, prefix [2]byte, n int) ([]byte, error) {
	total := 2 + n
	if cap(buf) < total {
		buf = make([]byte, total)
	}
	buf = buf[:total]
	copy(buf, prefix[:])
	if _, err := io.ReadFull(r, buf[2:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %w", ErrTruncated, io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return buf, nil
}

// parseFrame splits one complete frame into kind and body.
func parseFrame(frame []byte, maxFrame int) (byte, []byte, error) {
	if len(frame) < FrameHeaderLen {
		return 0, nil, fmt.Errorf("%w: %d-byte frame", ErrTruncated, len(frame))
	}
	n, err := frameLength([2]byte(frame[:2]), maxFrame)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case len(frame)-2 < n:
		return 0, nil, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, len(frame)-2, n)
	case len(frame)-2 > n:
		return 0, nil, fmt.Errorf("%w: %d bytes after the frame", ErrMalformed, len(frame)-2-n)
	}
	return frame[2], frame[FrameHeaderLen:], nil
}

// appendFrameHeader appends a header whose length finishFrame fills in.
func appendFrameHeader(dst []byte, kind byte) []byte { return append(dst, 0, 0, kind) }

// finishFrame sets the length of the frame that starts at dst[start:].
func finishFrame(dst []byte, start, maxFrame int) error {
	n := len(dst) - start - 2
	if n > maxFrame {
		return &FrameSizeError{Size: n, Max: maxFrame}
	}
	binary.BigEndian.PutUint16(dst[start:], uint16(n))
	return nil
}

// refuseFrame is the clear answer to a hello the responder will not serve.
func refuseFrame(r RefuseReason) []byte {
	return []byte{0, 3, kindRefuse, Version, byte(r)}
}

// parseRefuse turns a REFUSE body into its error.
func parseRefuse(body []byte) error {
	if len(body) != 2 {
		return fmt.Errorf("%w: refuse of %d bytes", ErrMalformed, len(body))
	}
	return &RefusedError{Reason: RefuseReason(body[1])}
}

// appendShortString appends s with a one-byte length.
func appendShortString(dst []byte, s string, minLen, maxLen int) ([]byte, error) {
	if len(s) < minLen || len(s) > maxLen || maxLen > 255 || !utf8.ValidString(s) {
		return dst, fmt.Errorf("%w: %d-byte string outside %d..%d or not UTF-8", ErrMalformed, len(s), minLen, maxLen)
	}
	dst = append(dst, byte(len(s)))
	return append(dst, s...), nil
}

// readShortString reads what appendShortString wrote.
func readShortString(b []byte, minLen, maxLen int) (string, []byte, error) {
	if len(b) == 0 {
		return "", nil, fmt.Errorf("%w: missing string", ErrMalformed)
	}
	n := int(b[0])
	if n < minLen || n > maxLen || len(b) < 1+n || !utf8.Valid(b[1:1+n]) {
		return "", nil, fmt.Errorf("%w: bad string", ErrMalformed)
	}
	return string(b[1 : 1+n]), b[1+n:], nil
}

// appendResume appends a RESUME body: request id, device key, and the
// device's RESUME in devproto's payload form.
func appendResume(dst []byte, r *Resume) ([]byte, error) {
	start := len(dst)
	if r.DeviceKey.IsZero() {
		return dst, fmt.Errorf("%w: RESUME without a device key", ErrMalformed)
	}
	dst, err := appendShortString(dst, r.RequestID, 0, MaxRequestIDLen)
	if err != nil {
		return dst[:start], err
	}
	dst = append(dst, r.DeviceKey[:]...)
	if dst, err = devproto.AppendPayload(dst, &r.Request); err != nil {
		return dst[:start], fmt.Errorf("peerlink: RESUME: %w", err)
	}
	return dst, nil
}

// decodeResume decodes a RESUME body. The result does not alias b.
func decodeResume(b []byte) (*Resume, error) {
	id, rest, err := readShortString(b, 0, MaxRequestIDLen)
	if err != nil {
		return nil, err
	}
	if len(rest) < devproto.KeyLen {
		return nil, fmt.Errorf("%w: RESUME without a device key", ErrMalformed)
	}
	r := &Resume{RequestID: id}
	copy(r.DeviceKey[:], rest)
	if r.DeviceKey.IsZero() {
		return nil, fmt.Errorf("%w: RESUME with a zero device key", ErrMalformed)
	}
	m, err := devproto.DecodePayload(rest[devproto.KeyLen:])
	if err != nil {
		return nil, fmt.Errorf("peerlink: RESUME: %w", err)
	}
	req, ok := m.(*devproto.Resume)
	if !ok {
		return nil, fmt.Errorf("%w: RESUME carries %v", ErrUnexpectedMessage, m.Type())
	}
	r.Request = *req
	return r, nil
}

// decodeAnswer decodes an ANSWER body: the device's SERVER_STATUS.
func decodeAnswer(b []byte) (*devproto.ServerStatus, error) {
	m, err := devproto.DecodePayload(b)
	if err != nil {
		return nil, fmt.Errorf("peerlink: ANSWER: %w", err)
	}
	st, ok := m.(*devproto.ServerStatus)
	if !ok {
		return nil, fmt.Errorf("%w: ANSWER carries %v", ErrUnexpectedMessage, m.Type())
	}
	return st, nil
}

// relayRole is the device-protocol side whose messages a DEVICE or GATEWAY
// frame carries.
func relayRole(t msgType) devproto.Role {
	if t == msgDevice {
		return devproto.RoleDevice
	}
	return devproto.RoleGateway
}

// appendRelayed appends a DEVICE or GATEWAY body: m in devproto's payload
// form, which must be a message that side sends on a device link.
func appendRelayed(dst []byte, t msgType, m devproto.Message) ([]byte, error) {
	if !m.Type().SentBy(relayRole(t)) {
		return dst, fmt.Errorf("%w: %v in a %v frame", ErrUnexpectedMessage, m.Type(), t)
	}
	out, err := devproto.AppendPayload(dst, m)
	if err != nil {
		return dst, fmt.Errorf("peerlink: %v: %w", t, err)
	}
	return out, nil
}

// decodeRelayed decodes a DEVICE or GATEWAY body.
func decodeRelayed(b []byte, t msgType) (devproto.Message, error) {
	m, err := devproto.DecodePayload(b)
	if err != nil {
		return nil, fmt.Errorf("peerlink: %v: %w", t, err)
	}
	if !m.Type().SentBy(relayRole(t)) {
		return nil, fmt.Errorf("%w: %v in a %v frame", ErrUnexpectedMessage, m.Type(), t)
	}
	return m, nil
}
