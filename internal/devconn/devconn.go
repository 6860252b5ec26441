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
//
// Hostile peers are bounded here, so that every user of a Session is: a
// frame that has begun must complete within the frame timeout
// (ErrFrameTimeout); on the gateway, a device's messages pass a token
// bucket, and a device that breaks the protocol after the handshake (over
// its rate, a frame over the limit, a bad frame or tag, a message it may
// not send) is answered PROTOCOL_ERROR where the stream still allows it
// and cut off, with a *ProtocolError naming the Reason for the caller to
// count. The Acceptor's WithHelloHook tells the caller when a connection
// stops being an idle socket, so it can shed idle ones first.
package devconn

import (
	"errors"
	"fmt"
	"net"
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
	// DefaultFrameTimeout bounds how long the rest of a frame may take
	// once its first byte has arrived: a peer that declares 16 KiB and
	// stalls must not hold the reader and a frame buffer for ever. A
	// whole 64 KiB frame needs only about 50 kbit/s to make it.
	DefaultFrameTimeout = 10 * time.Second
	// DefaultMessageRate and DefaultMessageBurst are the token bucket of
	// messages a device may send on one link (gateway side): far above
	// what a person types or a client's keepalive needs, far below what a
	// flood costs in decryption. A device over it is answered
	// PROTOCOL_ERROR and cut off.
	DefaultMessageRate  = 20.0
	DefaultMessageBurst = 100
	// DefaultAnswerTimeout bounds the PROTOCOL_ERROR the gateway writes to
	// a device that broke the protocol, before it closes the link.
	DefaultAnswerTimeout = 2 * time.Second
)

// Errors.
var (
	ErrHandshakeTimeout = errors.New("devconn: handshake deadline passed")
	ErrRejected         = errors.New("devconn: login refused")
	ErrClosed           = errors.New("devconn: session closed")
	// ErrFrameTimeout: a frame began but did not complete within the
	// frame timeout. The link is closed; the peer may have lost coverage
	// mid-frame, so this is not a protocol error.
	ErrFrameTimeout = errors.New("devconn: frame not completed within the frame timeout")
	// ErrProtocol matches every *ProtocolError.
	ErrProtocol = errors.New("devconn: peer broke the protocol")
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
	frameTimeout     time.Duration
	answerTimeout    time.Duration
	msgRate          float64 // per second; 0: no limit
	msgBurst         int
	helloHook        func(net.Conn) error
	now              func() time.Time
	proto            []devproto.Option
}

func applyOptions(opts []Option) (options, error) {
	o := options{
		handshakeTimeout: DefaultHandshakeTimeout, writeTimeout: DefaultWriteTimeout,
		frameTimeout: DefaultFrameTimeout, answerTimeout: DefaultAnswerTimeout,
		msgRate: DefaultMessageRate, msgBurst: DefaultMessageBurst, now: time.Now,
	}
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

// WithFrameTimeout sets how long the rest of a frame may take once its
// first byte has arrived (DefaultFrameTimeout), on either side. A frame
// that misses it closes the link with ErrFrameTimeout.
func WithFrameTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("devconn: WithFrameTimeout: %v is not positive", d)
		}
		o.frameTimeout = d
		return nil
	}
}

// WithMessageRate sets the token bucket of messages a device may send on
// one link, perSecond on average with bursts of burst (DefaultMessageRate,
// DefaultMessageBurst); perSecond 0 turns it off. Acceptor only: a frame
// beyond it is not read; the device is answered PROTOCOL_ERROR and the
// link closed (a *ProtocolError with ReasonMessageRate).
func WithMessageRate(perSecond float64, burst int) Option {
	return func(o *options) error {
		if perSecond < 0 || (perSecond > 0 && burst < 1) {
			return fmt.Errorf("devconn: WithMessageRate: %v/s burst %d", perSecond, burst)
		}
		o.msgRate, o.msgBurst = perSecond, burst
		return nil
	}
}

// WithAnswerTimeout bounds the PROTOCOL_ERROR an Acceptor's session writes
// to a device that broke the protocol before it closes the link
// (DefaultAnswerTimeout).
func WithAnswerTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("devconn: WithAnswerTimeout: %v is not positive", d)
		}
		o.answerTimeout = d
		return nil
	}
}

// WithHelloHook has an Acceptor call hook(conn) as soon as a connection's
// HELLO has fully arrived, before it is authenticated: from then on the
// connection is a device's handshake rather than an idle socket (the edge
// stops counting it as sheddable). An error from hook ends Accept with it,
// before any cryptography or admission.
func WithHelloHook(hook func(conn net.Conn) error) Option {
	return func(o *options) error {
		o.helloHook = hook
		return nil
	}
}

// WithClock sets the clock a Client stamps LOGIN and RESUME with when the
// caller leaves Timestamp zero, and an Acceptor's message rate runs on
// (time.Now by default).
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
