package devconn

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// Client is the device side: it dials the gateway and logs in or resumes.
// It is safe for concurrent use; a load generator may share one per device
// key.
type Client struct {
	init *devproto.Initiator
	o    options

	mu   sync.Mutex // guards last
	last time.Time  // the latest timestamp sent, so the next is later
}

// NewClient returns a device-side client for the device's key and the
// provisioned gateway key. Options: WithHandshakeTimeout (the whole login
// round trip), WithWriteTimeout, WithFrameTimeout, WithClock, WithProtocol.
func NewClient(device devproto.PrivateKey, gateway devproto.PublicKey, opts ...Option) (*Client, error) {
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	init, err := devproto.NewInitiator(device, gateway, o.proto...)
	if err != nil {
		return nil, err
	}
	return &Client{init: init, o: o}, nil
}

// Dial opens a TCP connection to the gateway's device port within the
// handshake timeout.
func (c *Client) Dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: c.o.handshakeTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devconn: dial %s: %w", addr, err)
	}
	return conn, nil
}

// Login sends l in the first handshake message and waits for the answer:
// one round trip. A zero l.Timestamp is stamped from the client's clock,
// always later than the previous one. Login owns conn: on any failure it is
// closed. A refusal is a *RejectedError carrying the status.
func (c *Client) Login(ctx context.Context, conn net.Conn, l devproto.Login) (*Session, error) {
	if l.Timestamp.IsZero() {
		l.Timestamp = c.timestamp()
	}
	return c.handshake(ctx, conn, &l)
}

// Resume reattaches to a session with its resume token, over a fresh
// handshake. Like Login, it owns conn.
func (c *Client) Resume(ctx context.Context, conn net.Conn, r devproto.Resume) (*Session, error) {
	if r.Timestamp.IsZero() {
		r.Timestamp = c.timestamp()
	}
	return c.handshake(ctx, conn, &r)
}

// timestamp returns the clock, nudged past the last timestamp sent: the
// gateway refuses a hello that is not strictly newer than the last one, and
// a coarse or stepped-back clock must not lock the device out.
func (c *Client) timestamp() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.o.now()
	if !now.After(c.last) {
		now = c.last.Add(time.Nanosecond)
	}
	c.last = now
	return now
}

func (c *Client) handshake(ctx context.Context, conn net.Conn, req devproto.Request) (*Session, error) {
	s, err := c.exchange(ctx, conn, req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func (c *Client) exchange(ctx context.Context, conn net.Conn, req devproto.Request) (*Session, error) {
	hello, pending, err := c.init.Hello(req)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.o.handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("devconn: login: %w", err)
	}
	defer interruptOnDone(ctx, conn.SetDeadline)()
	if _, err := conn.Write(hello); err != nil {
		return nil, c.handshakeError(ctx, err)
	}
	bp := getBuf()
	defer putBuf(bp)
	reply, err := devproto.ReadFrame(conn, *bp, devproto.MaxHelloSize)
	if err != nil {
		return nil, c.handshakeError(ctx, err)
	}
	*bp = reply
	st, tr, err := pending.Finish(reply)
	if err != nil {
		return nil, fmt.Errorf("devconn: login: %w", err)
	}
	if st.Code != status.Accepted {
		return nil, &RejectedError{Status: st}
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("devconn: login: %w", err)
	}
	return newSession(conn, tr, &c.o, st), nil
}

func (c *Client) handshakeError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("devconn: login: %w", context.Cause(ctx))
	case isTimeout(err):
		return fmt.Errorf("devconn: login: %w: %w", ErrHandshakeTimeout, err)
	}
	return fmt.Errorf("devconn: login: %w", err)
}
