package devproto

import (
	"errors"
	"fmt"
	"slices"

	"github.com/collabgw/collabgw/internal/noisecipher"
)

// Transport seals and opens DATA frames after a successful handshake. Each
// direction has its own key from the Noise split, and the frame kind (which
// names the sender) is authenticated, so a frame reflected back to its
// sender fails. Nonces are implicit counters, so a replayed, dropped or
// reordered frame fails too: any error from Open is fatal to the session.
//
// Seal and Open may run concurrently with each other, but each must be
// serialised with itself.
type Transport struct {
	role     Role
	maxFrame int
	send     noisecipher.State
	recv     noisecipher.State
}

func newTransport(role Role, sendKey, recvKey [32]byte, maxFrame int) (*Transport, error) {
	send, err := noisecipher.New(sendKey)
	if err != nil {
		return nil, err
	}
	recv, err := noisecipher.New(recvKey)
	if err != nil {
		return nil, err
	}
	return &Transport{role: role, maxFrame: maxFrame, send: send, recv: recv}, nil
}

// Role returns which end of the link t serves.
func (t *Transport) Role() Role { return t.role }

// MaxFrameSize returns the largest frame t sends or accepts.
func (t *Transport) MaxFrameSize() int { return t.maxFrame }

// Seal appends m as one DATA frame to dst. With enough capacity in dst it
// does not allocate.
func (t *Transport) Seal(dst []byte, m Message) ([]byte, error) {
	if !m.Type().sentBy(t.role) {
		return dst, &FieldError{Type: m.Type(), Field: "type", Err: ErrUnexpectedMessage}
	}
	start := len(dst)
	dst = appendFrameHeader(dst, t.role.dataKind())
	dst, err := appendPayload(dst, m)
	if err != nil {
		return dst[:start], err
	}
	plainLen := len(dst) - start - FrameHeaderLen
	dst = slices.Grow(dst, TagLen)
	if err := finishFrame(dst[:len(dst)+TagLen], start, t.maxFrame); err != nil {
		return dst[:start], err
	}
	if _, err := t.send.Seal(dst[start+FrameHeaderLen:], dst[start:start+FrameHeaderLen]); err != nil {
		return dst[:start], err
	}
	return dst[:start+FrameHeaderLen+plainLen+TagLen], nil
}

// Open authenticates, decrypts and decodes one whole DATA frame (as
// ReadFrame returns it), in place: frame's bytes are overwritten.
func (t *Transport) Open(frame []byte) (Message, error) {
	plain, err := t.open(frame)
	if err != nil {
		return nil, err
	}
	m, err := decodePayload(plain)
	if err != nil {
		return nil, err
	}
	if !m.Type().sentBy(t.peer()) {
		return nil, &FieldError{Type: m.Type(), Field: "type", Err: ErrUnexpectedMessage}
	}
	return m, nil
}

func (t *Transport) peer() Role {
	if t.role == RoleDevice {
		return RoleGateway
	}
	return RoleDevice
}

// open checks the frame and decrypts it in place, returning the payload.
func (t *Transport) open(frame []byte) ([]byte, error) {
	kind, body, err := parseFrame(frame, t.maxFrame)
	if err != nil {
		return nil, err
	}
	switch kind {
	case t.peer().dataKind():
	case t.role.dataKind():
		return nil, ErrWrongDirection
	default:
		return nil, fmt.Errorf("%w: kind %#x in transport phase", ErrUnexpectedFrame, kind)
	}
	if len(body) < TagLen+1 {
		return nil, fmt.Errorf("%w: %d-byte ciphertext", ErrTruncated, len(body))
	}
	plain, err := t.recv.Open(body, frame[:FrameHeaderLen])
	switch {
	case errors.Is(err, noisecipher.ErrAuth):
		return nil, ErrFrameAuth
	case err != nil:
		return nil, err
	}
	return plain, nil
}
