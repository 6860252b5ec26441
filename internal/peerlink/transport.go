package peerlink

import (
	"errors"
	"fmt"
	"slices"

	"github.com/collabgw/collabgw/internal/noisecipher"
)

// transport seals and opens DATA frames after the handshake, with no I/O.
// Each direction has its own key from the Noise split and the frame kind
// (which names the sender) is authenticated as associated data, so a frame
// reflected to its sender fails; nonces are implicit counters, so a
// replayed, dropped or reordered frame fails too. Any error from open is
// fatal to the link.
//
// seal and open may run concurrently with each other; each must be
// serialised with itself.
type transport struct {
	sendKind, recvKind byte
	maxFrame           int
	send, recv         noisecipher.State
}

func newTransport(initiator bool, sendKey, recvKey [32]byte, maxFrame int) (*transport, error) {
	send, err := noisecipher.New(sendKey)
	if err != nil {
		return nil, err
	}
	recv, err := noisecipher.New(recvKey)
	if err != nil {
		return nil, err
	}
	t := &transport{sendKind: kindResponderData, recvKind: kindInitiatorData, maxFrame: maxFrame, send: send, recv: recv}
	if initiator {
		t.sendKind, t.recvKind = kindInitiatorData, kindResponderData
	}
	return t, nil
}

// begin appends the header and type of a DATA frame to dst and returns it
// with the frame's start; the caller appends the body and calls seal.
func (t *transport) begin(dst []byte, typ msgType) ([]byte, int) {
	start := len(dst)
	dst = appendFrameHeader(dst, t.sendKind)
	return append(dst, byte(typ)), start
}

// seal encrypts, in place, the frame begun at dst[start:] and appends its
// tag. With enough capacity in dst it does not allocate. On error dst is
// returned cut back to start.
func (t *transport) seal(dst []byte, start int) ([]byte, error) {
	plainLen := len(dst) - start - FrameHeaderLen
	if plainLen < 1 {
		return dst[:start], fmt.Errorf("%w: DATA frame without a type", ErrMalformed)
	}
	typ := msgType(dst[start+FrameHeaderLen])
	if !typ.sentBy(t.sendKind) {
		return dst[:start], fmt.Errorf("%w: %v from this side", ErrUnexpectedMessage, typ)
	}
	dst = slices.Grow(dst, TagLen)
	if err := finishFrame(dst[:len(dst)+TagLen], start, t.maxFrame); err != nil {
		return dst[:start], err
	}
	if _, err := t.send.Seal(dst[start+FrameHeaderLen:], dst[start:start+FrameHeaderLen]); err != nil {
		return dst[:start], err
	}
	return dst[:start+FrameHeaderLen+plainLen+TagLen], nil
}

// open authenticates and decrypts one whole DATA frame in place and
// returns its type and body (which alias frame).
func (t *transport) open(frame []byte) (msgType, []byte, error) {
	kind, body, err := parseFrame(frame, t.maxFrame)
	if err != nil {
		return 0, nil, err
	}
	if kind != t.recvKind {
		return 0, nil, fmt.Errorf("%w: kind %#x on a link in the data phase", ErrUnexpectedFrame, kind)
	}
	if len(body) < TagLen+1 {
		return 0, nil, fmt.Errorf("%w: %d-byte ciphertext", ErrTruncated, len(body))
	}
	plain, err := t.recv.Open(body, frame[:FrameHeaderLen])
	switch {
	case errors.Is(err, noisecipher.ErrAuth):
		return 0, nil, ErrFrameAuth
	case err != nil:
		return 0, nil, err
	}
	typ := msgType(plain[0])
	if !typ.sentBy(kind) {
		return 0, nil, fmt.Errorf("%w: %v from the other side", ErrUnexpectedMessage, typ)
	}
	return typ, plain[1:], nil
}
