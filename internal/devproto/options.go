package devproto

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Option configures an Initiator or a Responder.
type Option func(*options) error

type options struct {
	rng      io.Reader
	now      func() time.Time
	maxSkew  time.Duration
	maxFrame int
	next     *PrivateKey // Responder only: a rotation's next gateway key
}

func defaultOptions() options {
	return options{now: time.Now, maxSkew: DefaultMaxClockSkew, maxFrame: DefaultMaxFrameSize}
}

func applyOptions(opts []Option) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	return o, nil
}

// WithRand sets the source of ephemeral keys (crypto/rand by default). Tests
// use it for reproducible handshakes; production code never should.
func WithRand(r io.Reader) Option {
	return func(o *options) error {
		if r == nil {
			return errors.New("devproto: WithRand: nil reader")
		}
		o.rng = r
		return nil
	}
}

// WithClock sets the gateway clock that device timestamps are checked
// against (time.Now by default). Responder only.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("devproto: WithClock: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithMaxClockSkew sets how far a device timestamp may be from the gateway
// clock, either way (DefaultMaxClockSkew by default). Responder only.
func WithMaxClockSkew(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Second || d > time.Hour {
			return fmt.Errorf("devproto: WithMaxClockSkew: %v outside [1s, 1h]", d)
		}
		o.maxSkew = d
		return nil
	}
}

// WithMaxFrameSize sets the largest transport frame sent or accepted
// (DefaultMaxFrameSize by default; MinFrameSize to MaxFrameSize).
func WithMaxFrameSize(n int) Option {
	return func(o *options) error {
		if n < MinFrameSize || n > MaxFrameSize {
			return fmt.Errorf("devproto: WithMaxFrameSize: %d outside [%d, %d]", n, MinFrameSize, MaxFrameSize)
		}
		o.maxFrame = n
		return nil
	}
}

// WithNextKey adds a second gateway key for a key rotation: the Responder
// authenticates a HELLO made for either key, trying its own key first so
// that a login with the current key costs what it did without a rotation.
// Responder only.
func WithNextKey(k PrivateKey) Option {
	return func(o *options) error {
		if k == (PrivateKey{}) {
			return fmt.Errorf("%w: WithNextKey: zero key", ErrInvalidKey)
		}
		o.next = &k
		return nil
	}
}
