package peerlink

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the options.
const (
	// DefaultHandshakeTimeout bounds a link's setup: dial, handshake, and
	// the RESUME and its answer. Tasks share a VPC, so this is generous;
	// it stays well inside the device's own round-trip deadline, so a
	// device behind a slow or stuck owner still hears an answer.
	DefaultHandshakeTimeout = 3 * time.Second
	// DefaultWriteTimeout bounds one frame write: a task that stops
	// reading for longer loses the link rather than pinning memory (as a
	// device does on its own link).
	DefaultWriteTimeout = 10 * time.Second
	// DefaultIdleTimeout ends a link on which nothing arrived for this
	// long. Each side sends a keepalive after a third of it without
	// traffic, so only a dead or stuck task reaches it.
	DefaultIdleTimeout = 90 * time.Second
	// DefaultMaxLinks caps a task's links in each direction: one per
	// relayed device link, so at most the device links a task holds.
	DefaultMaxLinks = 20_000
	// MinIdleTimeout keeps keepalives from flooding a link.
	MinIdleTimeout = 30 * time.Millisecond
	// closeTimeout bounds the CLOSE written when a link ends in order.
	closeTimeout = time.Second
)

// ErrBadOption reports an invalid option or argument.
var ErrBadOption = errors.New("peerlink: invalid option")

// Option configures a Dialer or a Server.
type Option func(*options) error

type options struct {
	next             Key
	handshakeTimeout time.Duration
	writeTimeout     time.Duration
	idleTimeout      time.Duration
	maxLinks         int
	maxFrame         int
	counters         *Counters
}

func applyOptions(opts []Option) (options, error) {
	o := options{
		handshakeTimeout: DefaultHandshakeTimeout, writeTimeout: DefaultWriteTimeout,
		idleTimeout: DefaultIdleTimeout, maxLinks: DefaultMaxLinks, maxFrame: DefaultMaxFrameSize,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	if o.counters == nil {
		o.counters = new(Counters)
	}
	return o, nil
}

func positive(name string, d, least time.Duration, set func(*options)) Option {
	return func(o *options) error {
		if d < least || d <= 0 {
			return fmt.Errorf("%w: %s %v (at least %v)", ErrBadOption, name, d, max(least, time.Nanosecond))
		}
		set(o)
		return nil
	}
}

// WithNextKey makes a Server also accept links made with next: the key a
// rotation moves to (see the package documentation). A zero key, or the
// current key again, adds nothing. A Dialer ignores it: it dials with its
// current key.
func WithNextKey(next Key) Option {
	return func(o *options) error { o.next = next; return nil }
}

// WithHandshakeTimeout bounds a link's setup (DefaultHandshakeTimeout).
func WithHandshakeTimeout(d time.Duration) Option {
	return positive("handshake timeout", d, 0, func(o *options) { o.handshakeTimeout = d })
}

// WithWriteTimeout bounds one frame write (DefaultWriteTimeout).
func WithWriteTimeout(d time.Duration) Option {
	return positive("write timeout", d, 0, func(o *options) { o.writeTimeout = d })
}

// WithIdleTimeout ends a link silent for d; keepalives go out after d/3
// without traffic (DefaultIdleTimeout).
func WithIdleTimeout(d time.Duration) Option {
	return positive("idle timeout", d, MinIdleTimeout, func(o *options) { o.idleTimeout = d })
}

// WithMaxLinks caps open links: inbound for a Server, outbound for a
// Dialer (DefaultMaxLinks). Attempts past it are refused and counted.
func WithMaxLinks(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max links %d", ErrBadOption, n)
		}
		o.maxLinks = n
		return nil
	}
}

// WithMaxFrameSize bounds a DATA frame, kind and body
// (DefaultMaxFrameSize, between MinFrameSize and MaxFrameSize). Both ends
// of a link must allow what the other sends.
func WithMaxFrameSize(n int) Option {
	return func(o *options) error {
		if n < MinFrameSize || n > MaxFrameSize {
			return fmt.Errorf("%w: max frame size %d not in %d..%d", ErrBadOption, n, MinFrameSize, MaxFrameSize)
		}
		o.maxFrame = n
		return nil
	}
}

// WithCounters counts into c, which a Dialer and a Server may share.
func WithCounters(c *Counters) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: nil counters", ErrBadOption)
		}
		o.counters = c
		return nil
	}
}
