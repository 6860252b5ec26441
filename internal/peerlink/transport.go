package peerlink

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
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
	send, recv         cipherState
}

// cipherState is a Noise CipherState kept here rather than flynn/noise's,
// so that the nonce lives in the struct and a frame costs no allocation.
type cipherState struct {
	aead  cipher.AEAD
	n     uint64
	nonce [chacha20poly1305.NonceSize]byte
}

func newCipherState(key [32]byte) (cipherState, error) {
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		return cipherState{}, fmt.Errorf("peerlink: transport key: %w", err)
	}
	return cipherState{aead: aead}, nil
}

// nextNonce returns the nonce for counter n in Noise's ChaChaPoly layout:
// 32 zero bits, then n little-endian. MaxUint64 is reserved by Noise.
func (c *cipherState) nextNonce() ([]byte, error) {
	if c.n == math.MaxUint64 {
		return nil, ErrNonceExhausted
	}
	binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	return c.nonce[:], nil
}

func newTransport(initiator bool, sendKey, recvKey [32]byte, maxFrame int) (*transport, error) {
	send, err := newCipherState(sendKey)
	if err != nil {
		return nil, err
	}
	recv, err := newCipherState(recvKey)
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
	nonce, err := t.send.nextNonce()
	if err != nil {
		return dst[:start], err
	}
	hdr := dst[start : start+FrameHeaderLen]
	plain := dst[start+FrameHeaderLen:]
	t.send.aead.Seal(plain[:0], nonce, plain, hdr)
	t.send.n++
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
	nonce, err := t.recv.nextNonce()
	if err != nil {
		return 0, nil, err
	}
	plain, err := t.recv.aead.Open(body[:0], nonce, body, frame[:FrameHeaderLen])
	if err != nil {
		return 0, nil, ErrFrameAuth
	}
	t.recv.n++
	typ := msgType(plain[0])
	if !typ.sentBy(kind) {
		return 0, nil, fmt.Errorf("%w: %v from the other side", ErrUnexpectedMessage, typ)
	}
	return typ, plain[1:], nil
}
