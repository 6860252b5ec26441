// Package devconn runs the device protocol (package devproto) over a
// net.Conn: the device side (Client: Dial, Login, Resume) and the gateway
// side (Acceptor: Accept with a handshake deadline and the caller's
// admission decision), both returning a Session that sends and receives
// messages with deadlines and honours contexts.
//
// Memory is kept per connection, not per message: an idle Session holds its
// two ciphers, a 2-byte length buffer and a few words; frame buffers come
// from a pool only while a frame is in flight, and the zstd contexts are
// shared by the whole process (see devproto).
package devconn

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
)

// Defaults.
const (
	// DefaultHandshakeTimeout bounds, on the gateway, how long a new
	// connection may take to deliver its HELLO (a HELLO is a few hundred
	// bytes, so this is generous even on a slow radio link) and, on the
	// device, the whole login round trip including the gateway's admission
	// and GroupWise login.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds one frame write; a peer that stops
	// reading for longer is dropped rather than allowed to pin memory.
	DefaultWriteTimeout = 10 * time.Second
)

// Errors.
var (
	ErrHandshakeTimeout = errors.New("devconn: handshake deadline passed")
	ErrRejected         = errors.New("devconn: login refused")
	ErrClosed           = errors.New("devconn: session closed")
)

// RejectedError is a login the gateway refused with an authenticated
// status. On the gateway, Err is the reason (never sent to the device).
type RejectedError struct {
	Status   *devproto.ServerStatus
	DeviceID string // as the device claimed it; empty if it did not decode
	Err      error
}

func (e *RejectedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("devconn: login refused with %v: %v", e.Status.Code, e.Err)
	}
	return fmt.Sprintf("devconn: login refused with %v", e.Status.Code)
}

// Unwrap returns ErrRejected and the reason, so errors.Is matches both.
func (e *RejectedError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrRejected}
	}
	return []error{ErrRejected, e.Err}
}

// Option configures a Client or an Acceptor.
type Option func(*options) error

type options struct {
	handshakeTimeout time.Duration
	writeTimeout     time.Duration
	now              func() time.Time
	proto            []devproto.Option
}

func applyOptions(opts []Option) (options, error) {
	o := options{handshakeTimeout: DefaultHandshakeTimeout, writeTimeout: DefaultWriteTimeout, now: time.Now}
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

// WithHandshakeTimeout sets the handshake deadline (DefaultHandshakeTimeout).
func WithHandshakeTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("devconn: WithHandshakeTimeout: %v is not positive", d)
		}
		o.handshakeTimeout = d
		return nil
	}
}

// WithWriteTimeout sets the per-frame write deadline (DefaultWriteTimeout).
func WithWriteTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("devconn: WithWriteTimeout: %v is not positive", d)
		}
		o.writeTimeout = d
		return nil
	}
}

// WithClock sets the clock a Client stamps LOGIN and RESUME with when the
// caller leaves Timestamp zero (time.Now by default).
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("devconn: WithClock: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithProtocol passes options to devproto.NewInitiator (Client only), such
// as devproto.WithMaxFrameSize.
func WithProtocol(opts ...devproto.Option) Option {
	return func(o *options) error {
		o.proto = append(o.proto, opts...)
		return nil
	}
}

// bufPool holds frame buffers while a frame is in flight, so an idle
// session holds none.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > devproto.MaxFrameSize+devproto.FrameHeaderLen {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
