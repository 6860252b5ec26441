package devproto

import (
	"context"
	"crypto/ecdh"
	"fmt"
	"time"

	"github.com/flynn/noise"

	"github.com/collabgw/collabgw/internal/status"
)

// prologue binds the protocol name and version into the handshake hash: a
// HELLO made for another protocol or version cannot be read as this one,
// and a middlebox that rewrites the clear version byte breaks the handshake.
var prologue = []byte("collabgw device protocol\x00\x01")

// DeviceVerifier is the gateway's check of a device before admission. The
// edge implements it with the device registry and admission store, which
// must refuse (with ErrReplayed) a timestamp that is not strictly greater
// than the last one it accepted for the device: done there, the check holds
// across every edge task, so a captured HELLO cannot be replayed to another
// task. Errors map to statuses with StatusFor: return ErrUnknownDevice,
// ErrDeviceRevoked, ErrDeviceKeyMismatch, ErrReplayed, or a *StatusError.
type DeviceVerifier interface {
	VerifyDevice(ctx context.Context, deviceID string, deviceKey PublicKey, timestamp time.Time) error
}

func dhKey(p PrivateKey) (noise.DHKey, error) {
	pub, err := p.Public()
	if err != nil {
		return noise.DHKey{}, err
	}
	return noise.DHKey{Private: p[:], Public: pub[:]}, nil
}

// Initiator is the device side of the handshake. It is immutable and may
// start any number of handshakes concurrently.
type Initiator struct {
	static  noise.DHKey
	key     *ecdh.PrivateKey // static, as handshakeDH uses it
	gateway PublicKey
	o       options
}

// NewInitiator returns the device side for the device's key and the
// gateway key the device was provisioned with. Options: WithRand,
// WithMaxFrameSize.
func NewInitiator(device PrivateKey, gateway PublicKey, opts ...Option) (*Initiator, error) {
	static, err := dhKey(device)
	if err != nil {
		return nil, err
	}
	if gateway.IsZero() {
		return nil, fmt.Errorf("%w: zero gateway key", ErrInvalidKey)
	}
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	key, err := ecdhKey(device)
	if err != nil {
		return nil, err
	}
	return &Initiator{static: static, key: key, gateway: gateway, o: o}, nil
}

// PendingHello is a device's handshake waiting for the gateway's answer.
type PendingHello struct {
	hs       *noise.HandshakeState
	maxFrame int
}

// Hello starts a handshake carrying req (*Login or *Resume) and returns the
// HELLO frame to send.
func (i *Initiator) Hello(req Request) ([]byte, *PendingHello, error) {
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   newCipherSuite(i.key, i.static.Private),
		Random:        i.o.rng,
		Pattern:       noise.HandshakeIK,
		Initiator:     true,
		Prologue:      prologue,
		StaticKeypair: i.static,
		PeerStatic:    i.gateway[:],
	})
	if err != nil {
		return nil, nil, fmt.Errorf("devproto: handshake: %w", err)
	}
	payload, err := appendPayload(nil, req)
	if err != nil {
		return nil, nil, err
	}
	frame := append(appendFrameHeader(make([]byte, 0, MaxHelloSize), KindHello), Version)
	frame, _, _, err = hs.WriteMessage(frame, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("devproto: handshake: %w", err)
	}
	if err := finishFrame(frame, 0, MaxHelloSize); err != nil {
		return nil, nil, err
	}
	return frame, &PendingHello{hs: hs, maxFrame: i.o.maxFrame}, nil
}

// Finish reads the gateway's answer (WELCOME or REJECT). It returns the
// SERVER_STATUS, and a Transport only when the status is ACCEPTED; any
// other status is an authenticated refusal, not an error.
func (p *PendingHello) Finish(frame []byte) (*ServerStatus, *Transport, error) {
	kind, body, err := parseFrame(frame, MaxHelloSize)
	if err != nil {
		return nil, nil, err
	}
	switch kind {
	case KindWelcome:
	case KindReject:
		return nil, nil, parseReject(body)
	default:
		return nil, nil, fmt.Errorf("%w: kind %#x during handshake", ErrUnexpectedFrame, kind)
	}
	if len(body) == 0 {
		return nil, nil, fmt.Errorf("%w: empty welcome", ErrMalformed)
	}
	if body[0] != Version {
		return nil, nil, &VersionError{Got: body[0], Want: Version}
	}
	payload, cs1, cs2, err := p.hs.ReadMessage(nil, body[1:])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrHandshakeAuth, err)
	}
	m, err := decodePayload(payload)
	if err != nil {
		return nil, nil, err
	}
	st, ok := m.(*ServerStatus)
	if !ok {
		return nil, nil, &FieldError{Type: m.Type(), Field: "type", Err: ErrUnexpectedMessage}
	}
	if st.Code != status.Accepted {
		return st, nil, nil
	}
	// cs1 carries initiator-to-responder traffic, cs2 the reverse.
	t, err := newTransport(RoleDevice, cs1.UnsafeKey(), cs2.UnsafeKey(), p.maxFrame)
	if err != nil {
		return nil, nil, err
	}
	return st, t, nil
}

// Responder is the gateway side of the handshake. It is immutable and may
// serve any number of handshakes concurrently.
type Responder struct {
	// statics are the gateway keys a HELLO may be made for: the current
	// one, then during a key rotation the next one (WithNextKey); keys
	// are the same, as handshakeDH uses them.
	statics  []noise.DHKey
	keys     []*ecdh.PrivateKey
	verifier DeviceVerifier
	o        options
}

// NewResponder returns the gateway side for the gateway's key and the
// verifier consulted by Hello.Verify. Options: WithClock, WithMaxClockSkew,
// WithMaxFrameSize, WithRand, WithNextKey.
func NewResponder(gateway PrivateKey, verifier DeviceVerifier, opts ...Option) (*Responder, error) {
	static, err := dhKey(gateway)
	if err != nil {
		return nil, err
	}
	if verifier == nil {
		return nil, fmt.Errorf("devproto: NewResponder: nil DeviceVerifier")
	}
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	key, err := ecdhKey(gateway)
	if err != nil {
		return nil, err
	}
	r := &Responder{statics: []noise.DHKey{static}, keys: []*ecdh.PrivateKey{key}, verifier: verifier, o: o}
	if o.next != nil {
		next, err := dhKey(*o.next)
		if err != nil {
			return nil, fmt.Errorf("next key: %w", err)
		}
		if string(next.Public) == string(static.Public) {
			return nil, fmt.Errorf("%w: the next key is the current key", ErrInvalidKey)
		}
		nextKey, err := ecdhKey(*o.next)
		if err != nil {
			return nil, fmt.Errorf("next key: %w", err)
		}
		r.statics, r.keys = append(r.statics, next), append(r.keys, nextKey)
	}
	return r, nil
}

// Hello is a HELLO the gateway could authenticate: DeviceKey is the key the
// device proved it holds. Its request is not trusted until Verify passes.
// Answer it exactly once with Reply; an unverified hello may only be
// refused.
type Hello struct {
	DeviceKey PublicKey
	// NextKey reports that the device made the HELLO for the next gateway
	// key of a rotation (WithNextKey), not the current one.
	NextKey bool
	// Request is *Login or *Resume; nil when the payload did not decode,
	// in which case Verify reports why.
	Request Request

	r         *Responder
	hs        *noise.HandshakeState
	decodeErr error
	verified  bool
}

// ReadHello authenticates a HELLO frame. An error means no authenticated
// answer is possible: send RejectFrame(err) and close. Everything the
// gateway can answer (a bad payload, a refused device) comes from
// Hello.Verify instead.
func (r *Responder) ReadHello(frame []byte) (*Hello, error) {
	kind, body, err := parseFrame(frame, MaxHelloSize)
	if err != nil {
		return nil, err
	}
	if kind != KindHello {
		return nil, fmt.Errorf("%w: kind %#x, want hello", ErrUnexpectedFrame, kind)
	}
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty hello", ErrMalformed)
	}
	if body[0] != Version {
		return nil, &VersionError{Got: body[0], Want: Version}
	}
	// A HELLO names no key: during a rotation each key is tried in turn,
	// the current one first. A HELLO for the next key costs one more DH
	// and a failed AEAD open (fixed work, nothing kept); which key it used
	// is no secret, as both public keys are.
	var (
		hs      *noise.HandshakeState
		payload []byte
	)
	for i, static := range r.statics {
		if hs, err = noise.NewHandshakeState(noise.Config{
			CipherSuite:   newCipherSuite(r.keys[i], static.Private),
			Random:        r.o.rng,
			Pattern:       noise.HandshakeIK,
			Prologue:      prologue,
			StaticKeypair: static,
		}); err != nil {
			return nil, fmt.Errorf("devproto: handshake: %w", err)
		}
		if payload, _, _, err = hs.ReadMessage(nil, body[1:]); err == nil {
			h := &Hello{r: r, hs: hs, NextKey: i > 0}
			return h.decode(payload), nil
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrHandshakeAuth, err)
}

// decode reads the authenticated payload of h.
func (h *Hello) decode(payload []byte) *Hello {
	hs := h.hs
	copy(h.DeviceKey[:], hs.PeerStatic())
	m, err := decodePayload(payload)
	switch req, ok := m.(Request); {
	case err != nil:
		h.decodeErr = err
	case !ok:
		h.decodeErr = &FieldError{Type: m.Type(), Field: "type", Err: ErrUnexpectedMessage}
	default:
		h.Request = req
	}
	return h
}

// Verify decides whether the hello may proceed to admission: the payload
// decoded, the device clock is within the skew window of the gateway clock,
// and the DeviceVerifier accepts the device, its key and its timestamp. On
// error, answer with Reply(RejectStatus(err)).
func (h *Hello) Verify(ctx context.Context) error {
	if h.decodeErr != nil {
		return h.decodeErr
	}
	id, ts := h.Request.Device()
	skew := ts.Sub(h.r.o.now())
	if skew > h.r.o.maxSkew || skew < -h.r.o.maxSkew {
		return &SkewError{Skew: skew, Max: h.r.o.maxSkew}
	}
	if err := h.r.verifier.VerifyDevice(ctx, id, h.DeviceKey, ts); err != nil {
		return fmt.Errorf("devproto: device %q: %w", id, err)
	}
	h.verified = true
	return nil
}

// Reply answers the hello with st and returns the WELCOME frame to send,
// and a Transport when st is ACCEPTED (which requires a passed Verify).
func (h *Hello) Reply(st *ServerStatus) ([]byte, *Transport, error) {
	if h.hs == nil {
		return nil, nil, ErrHelloAnswered
	}
	accepted := st.Code == status.Accepted
	if accepted && !h.verified {
		return nil, nil, ErrNotVerified
	}
	payload, err := appendPayload(nil, st)
	if err != nil {
		return nil, nil, err
	}
	frame := append(appendFrameHeader(make([]byte, 0, MaxHelloSize), KindWelcome), Version)
	frame, cs1, cs2, err := h.hs.WriteMessage(frame, payload)
	if err != nil {
		return nil, nil, fmt.Errorf("devproto: handshake: %w", err)
	}
	h.hs = nil // the handshake state is spent; let it go
	if err := finishFrame(frame, 0, MaxHelloSize); err != nil {
		return nil, nil, err
	}
	if !accepted {
		return frame, nil, nil
	}
	t, err := newTransport(RoleGateway, cs2.UnsafeKey(), cs1.UnsafeKey(), h.r.o.maxFrame)
	if err != nil {
		return nil, nil, err
	}
	return frame, t, nil
}
