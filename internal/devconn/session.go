package devconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
)

// longAgo is a deadline in the past: setting it wakes a blocked Read or
// Write, which is how a cancelled context interrupts I/O.
var longAgo = time.Unix(1, 0)

// Session is one authenticated device link, on either side. Send may be
// called from several goroutines; Receive from one at a time. A failed
// Receive or Send (other than an invalid message, or a context that ended
// before any byte moved) closes the session: the byte stream or the nonces
// can no longer be trusted.
type Session struct {
	conn         net.Conn
	tr           *devproto.Transport
	writeTimeout time.Duration
	accepted     *devproto.ServerStatus
	request      devproto.Request
	deviceKey    devproto.PublicKey

	wmu sync.Mutex // guards the send side of tr and writes to conn

	rmu sync.Mutex // guards the receive side of tr, reads from conn and hdr
	hdr [2]byte

	closeOnce sync.Once
	closed    chan struct{}
}

func newSession(conn net.Conn, tr *devproto.Transport, writeTimeout time.Duration, accepted *devproto.ServerStatus) *Session {
	return &Session{conn: conn, tr: tr, writeTimeout: writeTimeout, accepted: accepted, closed: make(chan struct{})}
}

// Accepted returns the ACCEPTED status of the login: session id, resume
// token and status interval.
func (s *Session) Accepted() *devproto.ServerStatus { return s.accepted }

// Request returns, on the gateway, the LOGIN or RESUME the device sent,
// without its password or resume token (nil on the device): those are
// only handed to the accept callback, for the login itself.
func (s *Session) Request() devproto.Request { return s.request }

// DeviceKey returns, on the gateway, the key the device authenticated with.
func (s *Session) DeviceKey() devproto.PublicKey { return s.deviceKey }

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// Done is closed when the session closes.
func (s *Session) Done() <-chan struct{} { return s.closed }

// Close closes the connection; it is safe to call more than once.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.conn.Close()
	})
	return err
}

func (s *Session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Send seals m and writes it within the write timeout (or ctx's deadline,
// if sooner).
func (s *Session) Send(ctx context.Context, m devproto.Message) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	bp := getBuf()
	defer putBuf(bp)
	frame, err := s.tr.Seal((*bp)[:0], m)
	*bp = frame
	if err != nil {
		return fmt.Errorf("devconn: send %v: %w", m.Type(), err)
	}
	if err := writeFrame(ctx, s.conn, frame, s.writeTimeout); err != nil {
		s.Close()
		return fmt.Errorf("devconn: send %v: %w", m.Type(), err)
	}
	return nil
}

// Receive reads and opens the next message. It waits as long as ctx allows;
// an idle connection holds no frame buffer while it waits.
func (s *Session) Receive(ctx context.Context) (devproto.Message, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.isClosed() {
		return nil, ErrClosed
	}
	deadline, _ := ctx.Deadline()
	if err := s.conn.SetReadDeadline(deadline); err != nil {
		s.Close()
		return nil, fmt.Errorf("devconn: receive: %w", err)
	}
	defer interruptOnDone(ctx, s.conn.SetReadDeadline)()
	n, err := io.ReadFull(s.conn, s.hdr[:])
	if err != nil {
		if n == 0 && ctx.Err() != nil {
			// Nothing was consumed: the stream is intact and the
			// caller may try again.
			return nil, fmt.Errorf("devconn: receive: %w", context.Cause(ctx))
		}
		if n == 0 && isTimeout(err) && !deadline.IsZero() && !time.Now().Before(deadline) {
			// The socket deadline (the context's) fired a moment before
			// the context reports done: the same case as above.
			return nil, fmt.Errorf("devconn: receive: %w", context.DeadlineExceeded)
		}
		s.Close()
		return nil, s.readError(err)
	}
	m, err := s.readRest()
	if err != nil {
		s.Close()
		return nil, s.readError(err)
	}
	return m, nil
}

func (s *Session) readRest() (devproto.Message, error) {
	size, err := devproto.FrameLength(s.hdr, s.tr.MaxFrameSize())
	if err != nil {
		return nil, err
	}
	bp := getBuf()
	defer putBuf(bp)
	frame, err := devproto.ReadFrameBody(s.conn, *bp, s.hdr, size)
	if err != nil {
		return nil, err
	}
	*bp = frame
	return s.tr.Open(frame)
}

func (s *Session) readError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, devproto.ErrTruncated) {
		err = fmt.Errorf("%w: %w", devproto.ErrTruncated, err)
	}
	return fmt.Errorf("devconn: receive: %w", err)
}

// writeFrame writes one whole frame with a deadline of timeout from now, or
// ctx's deadline if sooner, and gives up early if ctx is cancelled.
func writeFrame(ctx context.Context, conn net.Conn, frame []byte, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	defer interruptOnDone(ctx, conn.SetWriteDeadline)()
	if _, err := conn.Write(frame); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	return nil
}

// interruptOnDone arranges for setDeadline(longAgo) when ctx ends, and
// returns the function that cancels the arrangement. A context that can
// never end costs nothing.
func interruptOnDone(ctx context.Context, setDeadline func(time.Time) error) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	// A failure to set the deadline means the conn is closed, which
	// unblocks the I/O just as well.
	// stop waits for an interruption already under way: otherwise it could
	// land on the next call's fresh deadline and fail a read that nothing
	// asked to stop.
	done := make(chan struct{})
	st := context.AfterFunc(ctx, func() {
		defer close(done)
		_ = setDeadline(longAgo)
	})
	return func() {
		if !st() {
			<-done
		}
	}
}

// isTimeout reports a deadline expiry.
func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
