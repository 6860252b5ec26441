package devconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// AdmitFunc is the gateway's admission decision for a verified hello: the
// collaboration logic (limits, eviction, GroupWise login) runs here. It
// returns ACCEPTED with a session id and resume token, or the refusal.
// h.Request is *devproto.Login or *devproto.Resume; the password in it must
// not be logged.
type AdmitFunc func(ctx context.Context, h *devproto.Hello) *devproto.ServerStatus

// Acceptor is the gateway side: it turns an accepted TCP connection into a
// Session, or refuses it. It is safe for concurrent use.
type Acceptor struct {
	resp *devproto.Responder
	o    options
}

// NewAcceptor returns the gateway side over resp (which holds the gateway
// key, the DeviceVerifier and the clock-skew window). Options:
// WithHandshakeTimeout (time for the HELLO to arrive), WithWriteTimeout,
// WithFrameTimeout, WithMessageRate and WithAnswerTimeout (for the
// sessions it returns), WithHelloHook, WithClock.
func NewAcceptor(resp *devproto.Responder, opts ...Option) (*Acceptor, error) {
	if resp == nil {
		return nil, errors.New("devconn: NewAcceptor: nil Responder")
	}
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Acceptor{resp: resp, o: o}, nil
}

// Accept runs the gateway half of the handshake on conn: it reads the HELLO
// within the handshake timeout, authenticates it, verifies the device
// (clock skew, then the DeviceVerifier), asks admit, and sends the answer.
// It owns conn: unless it returns a Session, conn is closed. A refusal that
// was sent to the device is a *RejectedError; a connection dropped before
// any authenticated answer was possible (a timeout, a bad version, a wrong
// gateway key) is another error matching the devproto sentinel.
func (a *Acceptor) Accept(ctx context.Context, conn net.Conn, admit AdmitFunc) (*Session, error) {
	s, err := a.accept(ctx, conn, admit)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func (a *Acceptor) accept(ctx context.Context, conn net.Conn, admit AdmitFunc) (*Session, error) {
	hello, err := a.readHello(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := hello.Verify(ctx); err != nil {
		st := devproto.RejectStatus(err)
		return nil, a.refuse(ctx, conn, hello, st, err)
	}
	st := admit(ctx, hello)
	if st == nil {
		st = &devproto.ServerStatus{Code: status.ServerBusy, Message: status.ServerBusy.Text()}
	}
	if st.Code != status.Accepted {
		return nil, a.refuse(ctx, conn, hello, st, nil)
	}
	frame, tr, err := hello.Reply(st)
	if err != nil {
		return nil, fmt.Errorf("devconn: accept: %w", err)
	}
	if err := writeFrame(ctx, conn, frame, a.o.writeTimeout); err != nil {
		return nil, fmt.Errorf("devconn: accept: send welcome: %w", err)
	}
	s := newSession(conn, tr, &a.o, st)
	s.request, s.deviceKey = withoutSecrets(hello.Request), hello.DeviceKey
	s.answerTimeout = a.o.answerTimeout
	s.rate = newBucket(a.o.msgRate, a.o.msgBurst, a.o.now)
	return s, nil
}

// withoutSecrets copies a request without its password or resume token:
// the session outlives the login, and the secrets must not live with it.
func withoutSecrets(req devproto.Request) devproto.Request {
	switch r := req.(type) {
	case *devproto.Login:
		c := *r
		c.Password = ""
		return &c
	case *devproto.Resume:
		c := *r
		c.Token = devproto.ResumeToken{}
		return &c
	}
	return req
}

// readHello reads and authenticates the first frame under the handshake
// deadline. A HELLO it cannot read is answered with a cleartext REJECT.
func (a *Acceptor) readHello(ctx context.Context, conn net.Conn) (*devproto.Hello, error) {
	if err := conn.SetReadDeadline(time.Now().Add(a.o.handshakeTimeout)); err != nil {
		return nil, fmt.Errorf("devconn: accept: %w", err)
	}
	stop := interruptOnDone(ctx, conn.SetReadDeadline)
	bp := getBuf()
	defer putBuf(bp)
	frame, err := devproto.ReadFrame(conn, *bp, devproto.MaxHelloSize)
	stop()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("devconn: accept: %w", context.Cause(ctx))
		case isTimeout(err):
			return nil, fmt.Errorf("devconn: accept: %w: %w", ErrHandshakeTimeout, err)
		}
		return nil, fmt.Errorf("devconn: accept: read hello: %w", err)
	}
	*bp = frame
	if a.o.helloHook != nil {
		if err := a.o.helloHook(conn); err != nil {
			return nil, fmt.Errorf("devconn: accept: %w", err)
		}
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("devconn: accept: %w", err)
	}
	hello, err := a.resp.ReadHello(frame)
	if err != nil {
		// Best effort: the device learns why; the error that matters is err.
		_ = writeFrame(ctx, conn, devproto.RejectFrame(err), a.o.writeTimeout)
		return nil, fmt.Errorf("devconn: accept: %w", err)
	}
	return hello, nil
}

// refuse sends st and returns the RejectedError describing it.
func (a *Acceptor) refuse(ctx context.Context, conn net.Conn, hello *devproto.Hello, st *devproto.ServerStatus, reason error) error {
	rej := &RejectedError{Status: st, Err: reason}
	if hello.Request != nil {
		rej.DeviceID, _ = hello.Request.Device()
	}
	frame, _, err := hello.Reply(st)
	if err != nil {
		return fmt.Errorf("devconn: accept: %w (refusing with %v)", err, st.Code)
	}
	if err := writeFrame(ctx, conn, frame, a.o.writeTimeout); err != nil {
		return fmt.Errorf("devconn: accept: send refusal: %w (%w)", err, rej)
	}
	return rej
}
