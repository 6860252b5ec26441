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
	"github.com/collabgw/collabgw/internal/status"
)

// longAgo is a deadline in the past: setting it wakes a blocked Read or
// Write, which is how a cancelled context interrupts I/O.
var longAgo = time.Unix(1, 0)

// Session is one authenticated device link, on either side. Send may be
// called from several goroutines; Receive from one at a time. A failed
// Receive or Send (other than an invalid message, or a context that ended
// before any byte moved) closes the session: the byte stream or the nonces
// can no longer be trusted.
//
// Once a frame's first byte has arrived, the rest must arrive within the
// frame timeout (ErrFrameTimeout). On the gateway, a device that breaks the
// protocol — a frame over the limit, a bad frame or tag, a message it may
// not send, more messages than its rate — gets a *ProtocolError: it was
// answered PROTOCOL_ERROR where an answer was possible, and the link closed.
type Session struct {
	conn         net.Conn
	tr           *devproto.Transport
	writeTimeout time.Duration
	frameTimeout time.Duration
	// answerTimeout bounds the PROTOCOL_ERROR answer; 0 on the device,
	// which has no such message to send.
	answerTimeout time.Duration
	accepted      *devproto.ServerStatus
	request       devproto.Request
	deviceKey     devproto.PublicKey

	// wsem is the send side's lock: held (one token) while the send side
	// of tr and writes to conn are in use. A channel rather than a mutex
	// so that a Send waiting behind a stuck write honours its context:
	// the goodbye to a device that stopped reading stays bounded.
	wsem chan struct{}

	rmu  sync.Mutex // guards the receive side of tr, reads from conn, hdr and rate
	hdr  [2]byte
	rate bucket

	closeOnce sync.Once
	closed    chan struct{}
}

func newSession(conn net.Conn, tr *devproto.Transport, o *options, accepted *devproto.ServerStatus) *Session {
	return &Session{
		conn: conn, tr: tr, writeTimeout: o.writeTimeout, frameTimeout: o.frameTimeout, accepted: accepted,
		wsem: make(chan struct{}, 1), closed: make(chan struct{}),
	}
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
// if sooner). Waiting for another Send to finish counts against ctx too.
func (s *Session) Send(ctx context.Context, m devproto.Message) error {
	select {
	case s.wsem <- struct{}{}:
	case <-s.closed:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("devconn: send %v: %w", m.Type(), context.Cause(ctx))
	}
	defer func() { <-s.wsem }()
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
	stop := interruptOnDone(ctx, s.conn.SetReadDeadline)
	n, err := readSome(s.conn, s.hdr[:])
	if n == 0 {
		stop()
		if ctx.Err() != nil {
			// Nothing was consumed: the stream is intact and the
			// caller may try again.
			return nil, fmt.Errorf("devconn: receive: %w", context.Cause(ctx))
		}
		if isTimeout(err) && !deadline.IsZero() && !time.Now().Before(deadline) {
			// The socket deadline (the context's) fired a moment before
			// the context reports done: the same case as above.
			return nil, fmt.Errorf("devconn: receive: %w", context.DeadlineExceeded)
		}
		s.Close()
		return nil, s.readError(err)
	}
	m, err := s.readFrame(ctx, deadline, n, err)
	stop()
	if err == nil {
		return m, nil
	}
	var pe *ProtocolError
	if errors.As(err, &pe) {
		s.answer(ctx, pe)
	}
	s.Close()
	return nil, s.readError(err)
}

// readFrame reads the rest of a frame whose first n bytes of header are in
// hdr (err is what that read returned) and opens it.
func (s *Session) readFrame(ctx context.Context, deadline time.Time, n int, err error) (devproto.Message, error) {
	// A frame has begun: the rest must arrive within the frame timeout
	// (or the context's deadline, if sooner).
	frameDeadline := time.Now().Add(s.frameTimeout)
	byFrame := deadline.IsZero() || frameDeadline.Before(deadline)
	if byFrame {
		if err := s.conn.SetReadDeadline(frameDeadline); err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			// The context ended while the deadline was being moved: its
			// interruption may have been overwritten.
			_ = s.conn.SetReadDeadline(longAgo)
		}
	}
	if err == nil && n < len(s.hdr) {
		_, err = io.ReadFull(s.conn, s.hdr[n:])
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF // the frame had begun
	}
	if err != nil {
		return nil, s.frameReadError(ctx, byFrame, err)
	}
	// The rate is charged before the frame is read or decrypted, so a
	// flood costs the gateway no more than its burst in cryptography.
	if !s.rate.allow() {
		return nil, &ProtocolError{Reason: ReasonMessageRate, Err: errMessageRate, answerable: true}
	}
	size, err := devproto.FrameLength(s.hdr, s.tr.MaxFrameSize())
	if err != nil {
		reason := ReasonBadFrame
		if errors.Is(err, devproto.ErrFrameTooLarge) {
			reason = ReasonFrameTooLarge
		}
		return nil, &ProtocolError{Reason: reason, Err: err, answerable: true}
	}
	bp := getBuf()
	defer putBuf(bp)
	frame, err := devproto.ReadFrameBody(s.conn, *bp, s.hdr, size)
	if err != nil {
		return nil, s.frameReadError(ctx, byFrame, err)
	}
	*bp = frame
	m, err := s.tr.Open(frame)
	if err != nil {
		if r, answerable, ok := classify(err); ok {
			return nil, &ProtocolError{Reason: r, Err: err, answerable: answerable}
		}
		return nil, err
	}
	return m, nil
}

// frameReadError names a read that failed inside a frame by the frame
// timeout. One the caller's context interrupted stays a plain stream
// failure, not the context's error: bytes were consumed, so the session
// is closed and must not look like an idle wait worth repeating.
func (s *Session) frameReadError(ctx context.Context, byFrame bool, err error) error {
	if byFrame && isTimeout(err) && ctx.Err() == nil {
		return fmt.Errorf("%w: %w", ErrFrameTimeout, err)
	}
	return err
}

// answer tells the device PROTOCOL_ERROR, within the answer timeout, when
// this is the gateway's side and the stream still allows it (it does not
// after a failed tag). It records the outcome in pe.
func (s *Session) answer(ctx context.Context, pe *ProtocolError) {
	if s.answerTimeout <= 0 || !pe.answerable {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.answerTimeout)
	defer cancel()
	pe.Answered = s.Send(actx, &devproto.ServerStatus{Code: status.ProtocolError, Message: status.ProtocolError.Text()}) == nil
}

// readSome reads into b until at least one byte arrived or the read fails.
func readSome(r io.Reader, b []byte) (int, error) {
	for {
		n, err := r.Read(b)
		if n > 0 || err != nil {
			return n, err
		}
	}
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
