package peerlink

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/flynn/noise"
)

// cipherSuite is Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s.
var cipherSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s)

// prologue binds the protocol, its version and the key id into the
// handshake hash: a hello made for another protocol, version or key cannot
// be read as this one, and a rewritten key id or version byte breaks the
// handshake.
func prologue(id KeyID) []byte {
	p := append([]byte("collabgw peer link\x00"), Version)
	return append(p, id[:]...)
}

func noiseConfig(key Key, initiator bool) noise.Config {
	return noise.Config{
		CipherSuite:           cipherSuite,
		Pattern:               noise.HandshakeNN,
		Initiator:             initiator,
		Prologue:              prologue(key.ID()),
		PresharedKey:          key[:],
		PresharedKeyPlacement: 0,
	}
}

// keyring is what a responder accepts: the current key and, during a
// rotation, the next one. An initiator always uses the current key.
type keyring struct {
	keys [2]Key
	ids  [2]KeyID
	n    int
}

func newKeyring(current, next Key) (keyring, error) {
	if current.IsZero() {
		return keyring{}, fmt.Errorf("%w: no key", ErrInvalidKey)
	}
	kr := keyring{keys: [2]Key{current}, ids: [2]KeyID{current.ID()}, n: 1}
	if next.IsZero() || next == current {
		return kr, nil
	}
	if next.ID() == kr.ids[0] {
		// 1 in 2^32: say so rather than refuse links at random.
		return keyring{}, fmt.Errorf("%w: the two keys share a key id; generate another next key", ErrInvalidKey)
	}
	kr.keys[1], kr.ids[1], kr.n = next, next.ID(), 2
	return kr, nil
}

func (kr *keyring) lookup(id KeyID) (Key, bool) {
	for i := range kr.n {
		if kr.ids[i] == id {
			return kr.keys[i], true
		}
	}
	return Key{}, false
}

func validTask(task string) error {
	if task == "" || len(task) > MaxTaskLen || !utf8.ValidString(task) {
		return fmt.Errorf("%w: task name of %d bytes (1..%d of UTF-8)", ErrMalformed, len(task), MaxTaskLen)
	}
	return nil
}

// pendingHello is the initiator's handshake waiting for the WELCOME.
type pendingHello struct {
	hs       *noise.HandshakeState
	maxFrame int
}

// startHello begins a handshake as task with key and returns the HELLO.
// Message 1 (psk, e) carries the initiator's task name; it is encrypted
// under the psk but not yet forward secret, so nothing else rides in it.
func startHello(task string, key Key, maxFrame int) ([]byte, *pendingHello, error) {
	if err := validTask(task); err != nil {
		return nil, nil, err
	}
	hs, err := noise.NewHandshakeState(noiseConfig(key, true))
	if err != nil {
		return nil, nil, fmt.Errorf("peerlink: handshake: %w", err)
	}
	id := key.ID()
	frame := append(appendFrameHeader(make([]byte, 0, MaxHandshakeSize), kindHello), Version)
	frame = append(frame, id[:]...)
	if frame, _, _, err = hs.WriteMessage(frame, []byte(task)); err != nil {
		return nil, nil, fmt.Errorf("peerlink: handshake: %w", err)
	}
	if err := finishFrame(frame, 0, MaxHandshakeSize); err != nil {
		return nil, nil, err
	}
	return frame, &pendingHello{hs: hs, maxFrame: maxFrame}, nil
}

// finish reads the responder's WELCOME (or REFUSE) and returns the
// responder's task name and the transport.
func (p *pendingHello) finish(frame []byte) (string, *transport, error) {
	kind, body, err := parseFrame(frame, MaxHandshakeSize)
	if err != nil {
		return "", nil, err
	}
	switch kind {
	case kindWelcome:
	case kindRefuse:
		return "", nil, parseRefuse(body)
	default:
		return "", nil, fmt.Errorf("%w: kind %#x during the handshake", ErrUnexpectedFrame, kind)
	}
	if len(body) == 0 {
		return "", nil, fmt.Errorf("%w: empty welcome", ErrMalformed)
	}
	if body[0] != Version {
		return "", nil, fmt.Errorf("%w: welcome of version %d", ErrUnsupportedVersion, body[0])
	}
	payload, cs1, cs2, err := p.hs.ReadMessage(nil, body[1:])
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrHandshakeAuth, err)
	}
	if cs1 == nil || cs2 == nil {
		return "", nil, fmt.Errorf("%w: handshake not complete", ErrMalformed)
	}
	task := string(payload)
	if err := validTask(task); err != nil {
		return "", nil, err
	}
	// cs1 carries initiator-to-responder traffic, cs2 the reverse.
	t, err := newTransport(true, cs1.UnsafeKey(), cs2.UnsafeKey(), p.maxFrame)
	if err != nil {
		return "", nil, err
	}
	return task, t, nil
}

// helloIn is a HELLO the responder could authenticate: the initiator holds
// one of the responder's keys. It is answered with reply.
type helloIn struct {
	hs    *noise.HandshakeState
	task  string // the initiator's
	keyID KeyID
}

// readHello authenticates a HELLO frame against the keyring. Its errors
// say which REFUSE to answer with (refuseReasonFor).
func (kr *keyring) readHello(frame []byte) (*helloIn, error) {
	kind, body, err := parseFrame(frame, MaxHandshakeSize)
	if err != nil {
		return nil, err
	}
	if kind != kindHello {
		return nil, fmt.Errorf("%w: kind %#x, want hello", ErrUnexpectedFrame, kind)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty hello", ErrMalformed)
	}
	if body[0] != Version {
		return nil, fmt.Errorf("%w: hello of version %d", ErrUnsupportedVersion, body[0])
	}
	if len(body) < 1+KeyIDLen {
		return nil, fmt.Errorf("%w: hello without a key id", ErrMalformed)
	}
	id := KeyID(body[1 : 1+KeyIDLen])
	key, ok := kr.lookup(id)
	if !ok {
		return nil, fmt.Errorf("%w: key id %v", ErrUnknownKey, id)
	}
	hs, err := noise.NewHandshakeState(noiseConfig(key, false))
	if err != nil {
		return nil, fmt.Errorf("peerlink: handshake: %w", err)
	}
	payload, _, _, err := hs.ReadMessage(nil, body[1+KeyIDLen:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshakeAuth, err)
	}
	task := string(payload)
	if err := validTask(task); err != nil {
		return nil, err
	}
	return &helloIn{hs: hs, task: task, keyID: id}, nil
}

// reply answers an authenticated hello as task: the WELCOME (e, ee; after
// it both sides hold forward-secret keys) and the transport.
func (h *helloIn) reply(task string, maxFrame int) ([]byte, *transport, error) {
	if err := validTask(task); err != nil {
		return nil, nil, err
	}
	frame := append(appendFrameHeader(make([]byte, 0, MaxHandshakeSize), kindWelcome), Version)
	frame, cs1, cs2, err := h.hs.WriteMessage(frame, []byte(task))
	if err != nil {
		return nil, nil, fmt.Errorf("peerlink: handshake: %w", err)
	}
	h.hs = nil // spent
	if err := finishFrame(frame, 0, MaxHandshakeSize); err != nil {
		return nil, nil, err
	}
	t, err := newTransport(false, cs2.UnsafeKey(), cs1.UnsafeKey(), maxFrame)
	if err != nil {
		return nil, nil, err
	}
	return frame, t, nil
}

// refuseReasonFor maps a readHello error to the REFUSE it deserves.
func refuseReasonFor(err error) RefuseReason {
	switch {
	case errors.Is(err, ErrUnsupportedVersion):
		return RefuseVersion
	case errors.Is(err, ErrUnknownKey):
		return RefuseUnknownKey
	}
	return RefuseHandshake
}
