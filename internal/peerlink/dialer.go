package peerlink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// Dialer opens links to owners, as the relaying task. It is safe for
// concurrent use.
type Dialer struct {
	task  string
	key   Key
	o     options
	slots chan struct{} // one token per open outbound link
	nd    net.Dialer
}

// NewDialer returns the relaying side for task (this task's name, as the
// owner's logs will show it) dialing with key. Options: WithMaxLinks
// (outbound), WithHandshakeTimeout, WithWriteTimeout, WithIdleTimeout,
// WithMaxFrameSize, WithCounters.
func NewDialer(task string, key Key, opts ...Option) (*Dialer, error) {
	if err := validTask(task); err != nil {
		return nil, fmt.Errorf("%w: task: %w", ErrBadOption, err)
	}
	if key.IsZero() {
		return nil, fmt.Errorf("%w: no key", ErrBadOption)
	}
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	return &Dialer{task: task, key: key, o: o, slots: make(chan struct{}, o.maxLinks)}, nil
}

// Counters returns the counters the Dialer counts into.
func (d *Dialer) Counters() *Counters { return d.o.counters }

// Resume dials the task named owner at addr, sets up a link (both tasks
// prove the key; the session keys are forward secret), checks that the
// task that answered is owner, and relays r. It returns the owner's
// answer, and the link when that answer is ACCEPTED: the caller relays the
// device on it and closes it. The whole setup is bounded by the handshake
// timeout. An error means the owner gave no answer: unreachable, refused,
// too slow, or not owner; no token was sent to a task that is not owner.
func (d *Dialer) Resume(ctx context.Context, addr, owner string, r *Resume) (*Conn, *devproto.ServerStatus, error) {
	c, st, result, err := d.resume(ctx, addr, owner, r)
	d.o.counters.out[result].Add(1)
	return c, st, err
}

func (d *Dialer) resume(ctx context.Context, addr, owner string, r *Resume) (*Conn, *devproto.ServerStatus, outResult, error) {
	// Validate before spending a connection on it.
	if _, err := appendResume(nil, r); err != nil {
		return nil, nil, outHandshake, err
	}
	select {
	case d.slots <- struct{}{}:
	default:
		return nil, nil, outConnCap, ErrTooManyLinks
	}
	d.o.counters.openOut.Add(1)
	released := false
	release := func() {
		if !released {
			released = true
			d.o.counters.openOut.Add(-1)
			<-d.slots
		}
	}
	deadline := time.Now().Add(d.o.handshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := d.nd.DialContext(dctx, "tcp", addr)
	if err != nil {
		release()
		if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, outTimeout, fmt.Errorf("%w: dial %s: %w", ErrHandshakeTimeout, addr, err)
		}
		return nil, nil, outDialFailed, fmt.Errorf("peerlink: dial %s: %w", addr, err)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		release()
		return nil, nil, outDialFailed, fmt.Errorf("peerlink: %w", err)
	}
	stop := interruptOnDone(dctx, conn.SetDeadline)
	c, st, result, err := d.setup(dctx, conn, owner, r, release)
	stop()
	if err != nil {
		if c != nil {
			c.shut(false)
		} else {
			conn.Close()
			release()
		}
		if result == outHandshake && isTimeout(err) {
			result = outTimeout
		}
		if result == outTimeout && !errors.Is(err, ErrHandshakeTimeout) {
			err = fmt.Errorf("%w: %w", ErrHandshakeTimeout, err)
		}
		return nil, nil, result, err
	}
	if st.Code != status.Accepted {
		c.shut(false)
		return nil, st, outOK, nil
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		c.shut(false)
		return nil, nil, outHandshake, fmt.Errorf("peerlink: %w", err)
	}
	c.startRelaying()
	return c, st, outOK, nil
}

// setup runs the handshake and the RESUME exchange on conn, under the
// deadline already set on conn and carried by ctx. A returned Conn owns
// conn and release.
func (d *Dialer) setup(ctx context.Context, conn net.Conn, owner string, r *Resume, release func()) (*Conn, *devproto.ServerStatus, outResult, error) {
	hello, pending, err := startHello(d.task, d.key, d.o.maxFrame)
	if err != nil {
		return nil, nil, outHandshake, err
	}
	if _, err := conn.Write(hello); err != nil {
		return nil, nil, dialResult(err), fmt.Errorf("peerlink: send hello: %w", err)
	}
	d.o.counters.bytesOut.Add(int64(len(hello)))
	bp := getBuf()
	defer putBuf(bp)
	frame, err := readFrame(conn, *bp, MaxHandshakeSize)
	if err != nil {
		return nil, nil, dialResult(err), fmt.Errorf("peerlink: read welcome: %w", err)
	}
	*bp = frame
	d.o.counters.bytesIn.Add(int64(len(frame)))
	task, tr, err := pending.finish(frame)
	if err != nil {
		var ref *RefusedError
		if errors.As(err, &ref) {
			switch ref.Reason {
			case RefuseBusy:
				return nil, nil, outRefusedBusy, err
			case RefuseVersion:
				return nil, nil, outRefusedVersion, err
			}
			return nil, nil, outRefusedKey, err
		}
		return nil, nil, outHandshake, err
	}
	if owner != "" && task != owner {
		// The token goes to the owner only.
		return nil, nil, outWrongTask, fmt.Errorf("%w: %q answered, want %q", ErrWrongTask, task, owner)
	}
	c := newConn(conn, tr, true, task, &d.o, release)
	c.wmu.Lock()
	err = c.sendLocked(ctx, msgResume, func(dst []byte) ([]byte, error) { return appendResume(dst, r) })
	c.wmu.Unlock()
	if err != nil {
		return c, nil, dialResult(err), err
	}
	c.rmu.Lock()
	typ, body, err := c.readLocked(ctx, bp, d.o.handshakeTimeout)
	var st *devproto.ServerStatus
	if err == nil {
		if typ != msgAnswer {
			err = fmt.Errorf("%w: %v before the answer", ErrUnexpectedMessage, typ)
		} else {
			st, err = decodeAnswer(body)
		}
	}
	c.rmu.Unlock()
	if err != nil {
		return c, nil, dialResult(err), err
	}
	return c, st, outOK, nil
}

// dialResult says which result a setup I/O error counts as.
func dialResult(err error) outResult {
	switch {
	case isTimeout(err), errors.Is(err, ErrIdleTimeout):
		return outTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return outDialFailed
	}
	// Anything else, a close or reset without a word included: a
	// responder that dropped the link before answering.
	return outHandshake
}
