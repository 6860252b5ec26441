package peerlink

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// longAgo is a deadline in the past: setting it wakes a blocked Read or
// Write, which is how a context or Close interrupts I/O.
var longAgo = time.Unix(1, 0)

// Conn is one link, carrying one relayed device link. On the relaying task
// (the initiator, from Dialer.Resume) Send carries the device's messages
// to the owner and Receive returns the owner's messages for the device; on
// the owner (the responder, handed to a Server's ResumeFunc) it is the
// other way round, once Answer said ACCEPTED.
//
// Send may be called from several goroutines, Receive from one at a time.
// A failed Send or Receive (other than an invalid message, or a context
// that ended before any byte moved) closes the link. Close never blocks:
// the CLOSE frame and the socket's close happen on a short-lived goroutine.
type Conn struct {
	conn      net.Conn
	tr        *transport
	initiator bool
	peerTask  string
	o         *options
	counters  *Counters
	release   func() // gives the link's slot back; called once, when the socket is closed

	relaying atomic.Bool  // ACCEPTED was answered: DEVICE and GATEWAY frames may flow
	answered atomic.Bool  // responder: Answer was called
	lastSend atomic.Int64 // Unix nanoseconds of the last frame written
	failure  atomic.Int32 // endReason+1 of the first failure; 0: none
	devErr   atomic.Int32 // DeviceError reason+1 the CLOSE carries; 0: a plain CLOSE
	ka       atomic.Pointer[time.Timer]

	wmu sync.Mutex // guards the send side of tr and writes to conn

	rmu sync.Mutex // guards the receive side of tr, reads from conn and hdr
	hdr [2]byte

	closeOnce sync.Once
	closed    chan struct{}
}

func newConn(conn net.Conn, tr *transport, initiator bool, peerTask string, o *options, release func()) *Conn {
	c := &Conn{
		conn: conn, tr: tr, initiator: initiator, peerTask: peerTask, o: o, counters: o.counters,
		release: release, closed: make(chan struct{}),
	}
	c.lastSend.Store(time.Now().UnixNano())
	return c
}

// PeerTask returns the other task's name, as it proved in the handshake.
func (c *Conn) PeerTask() string { return c.peerTask }

// RemoteAddr returns the other task's address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// Done is closed when the link closes.
func (c *Conn) Done() <-chan struct{} { return c.closed }

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Close ends the link in order: the other task reads a CLOSE after
// everything sent before it. It is safe to call more than once and from
// any goroutine, and it returns at once.
func (c *Conn) Close() error {
	c.shut(true)
	return nil
}

// CloseDeviceError ends the link in order, telling the owner that the
// device broke its protocol (reason is the caller's code for why, which
// the owner's Receive returns as a *DeviceError): the owner ends the
// session rather than wait for a resume. Only the relaying task sends it.
func (c *Conn) CloseDeviceError(reason uint8) error {
	if !c.initiator {
		return ErrUnexpectedMessage
	}
	c.devErr.CompareAndSwap(0, int32(reason)+1)
	c.shut(true)
	return nil
}

// fail ends the link after a failure, counted as reason.
func (c *Conn) fail(reason endReason) {
	c.failure.CompareAndSwap(0, int32(reason)+1)
	c.shut(false)
}

// shut marks the link closed, wakes a blocked reader and has the socket
// closed (after a CLOSE when polite) on another goroutine: a caller may
// hold a lock that a slow socket must not stretch.
func (c *Conn) shut(polite bool) {
	c.closeOnce.Do(func() {
		if t := c.ka.Load(); t != nil {
			t.Stop()
		}
		close(c.closed)
		_ = c.conn.SetReadDeadline(longAgo)
		if c.relaying.Load() {
			reason := endClosed
			if f := c.failure.Load(); f > 0 {
				reason = endReason(f - 1)
			}
			c.counters.ended[reason].Add(1)
		}
		go c.finish(polite && c.failure.Load() == 0)
	})
}

// finish writes the CLOSE (bounded by closeTimeout, after at most one
// write in flight) and closes the socket.
func (c *Conn) finish(polite bool) {
	if polite {
		c.wmu.Lock()
		bp := getBuf()
		dst, start := c.tr.begin((*bp)[:0], msgClose)
		if r := c.devErr.Load(); r > 0 {
			dst = append(dst, byte(r-1))
		}
		if frame, err := c.tr.seal(dst, start); err == nil {
			*bp = frame
			if c.conn.SetWriteDeadline(time.Now().Add(closeTimeout)) == nil {
				if n, err := c.conn.Write(frame); err == nil {
					c.counters.bytesOut.Add(int64(n))
				}
			}
		}
		putBuf(bp)
		c.wmu.Unlock()
		c.linger()
	}
	_ = c.conn.Close()
	c.release()
}

// lingerLimit bounds what a lingering close reads and discards.
const lingerLimit = 64 << 10

// linger half-closes the socket after the CLOSE and waits, bounded by
// closeTimeout and lingerLimit, for the other side to close in turn.
// Closing with its frames still unread here would make the kernel send a
// reset, and a reset can destroy the CLOSE in the other side's receive
// buffer before it is read: a device that broke the protocol would then
// look like one that lost coverage.
func (c *Conn) linger() {
	hc, ok := c.conn.(interface{ CloseWrite() error })
	if !ok || hc.CloseWrite() != nil {
		return
	}
	if c.conn.SetReadDeadline(time.Now().Add(closeTimeout)) != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c.conn, lingerLimit))
}

// Send seals m and writes it within the write timeout (or ctx's deadline,
// if sooner). m must be a message its side of the device link sends: on
// the relaying task one the device sent, on the owner one for the device.
func (c *Conn) Send(ctx context.Context, m devproto.Message) error {
	if !c.relaying.Load() {
		return ErrNotAnswered
	}
	typ := msgGateway
	if c.initiator {
		typ = msgDevice
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return ErrClosed
	}
	bp := getBuf()
	defer putBuf(bp)
	dst, start := c.tr.begin((*bp)[:0], typ)
	dst, err := appendRelayed(dst, typ, m)
	*bp = dst
	if err != nil {
		return err
	}
	return c.sealAndWriteLocked(ctx, bp, start)
}

// sendLocked seals and writes a frame of typ whose body encode appends.
func (c *Conn) sendLocked(ctx context.Context, typ msgType, encode func([]byte) ([]byte, error)) error {
	bp := getBuf()
	defer putBuf(bp)
	dst, start := c.tr.begin((*bp)[:0], typ)
	dst, err := encode(dst)
	*bp = dst
	if err != nil {
		return err
	}
	return c.sealAndWriteLocked(ctx, bp, start)
}

// sealAndWriteLocked seals the frame begun at (*bp)[start:] and writes it.
// A frame that cannot be sealed (too large) is refused without harm; a
// write that fails ends the link.
func (c *Conn) sealAndWriteLocked(ctx context.Context, bp *[]byte, start int) error {
	frame, err := c.tr.seal(*bp, start)
	*bp = frame
	if err != nil {
		return err
	}
	if err := writeFrame(ctx, c.conn, frame, c.o.writeTimeout); err != nil {
		c.fail(endWriteFailed)
		return fmt.Errorf("peerlink: write: %w", err)
	}
	c.counters.bytesOut.Add(int64(len(frame)))
	c.lastSend.Store(time.Now().UnixNano())
	return nil
}

// Receive returns the next relayed message: on the relaying task one for
// the device, on the owner one the device sent. Keepalives are absorbed.
// It waits as long as ctx allows, but no longer than the idle timeout
// without a frame; a CLOSE from the other task is ErrPeerClosed.
func (c *Conn) Receive(ctx context.Context) (devproto.Message, error) {
	if !c.relaying.Load() {
		return nil, ErrNotAnswered
	}
	want := msgDevice
	if c.initiator {
		want = msgGateway
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		bp := getBuf()
		typ, body, err := c.readLocked(ctx, bp, c.o.idleTimeout)
		if err != nil {
			putBuf(bp)
			return nil, err
		}
		switch {
		case typ == msgKeepalive && len(body) == 0:
			putBuf(bp)
			continue
		case typ == msgClose && len(body) == 0:
			putBuf(bp)
			c.shut(false)
			return nil, ErrPeerClosed
		case typ == msgClose && len(body) == 1 && !c.initiator:
			reason := body[0]
			putBuf(bp)
			c.shut(false)
			return nil, &DeviceError{Reason: reason}
		case typ == want:
			m, err := decodeRelayed(body, typ)
			putBuf(bp)
			if err != nil {
				c.fail(endBadFrame)
				return nil, err
			}
			return m, nil
		}
		putBuf(bp)
		c.fail(endBadFrame)
		return nil, fmt.Errorf("%w: %v while relaying", ErrUnexpectedMessage, typ)
	}
}

// readLocked reads and opens one DATA frame into *bp, waiting no longer
// than limit for it (or ctx's deadline if sooner). Errors end the link,
// except a context that ended before any byte was read: the stream is
// intact and the caller may try again.
func (c *Conn) readLocked(ctx context.Context, bp *[]byte, limit time.Duration) (msgType, []byte, error) {
	if c.isClosed() {
		return 0, nil, ErrClosed
	}
	deadline, byCtx := time.Now().Add(limit), false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, byCtx = d, true
	}
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		c.fail(endPeerLost)
		return 0, nil, fmt.Errorf("peerlink: read: %w", err)
	}
	defer interruptOnDone(ctx, c.conn.SetReadDeadline)()
	n, err := io.ReadFull(c.conn, c.hdr[:])
	if err != nil {
		switch {
		case c.isClosed():
			return 0, nil, ErrClosed
		case n == 0 && ctx.Err() != nil:
			return 0, nil, fmt.Errorf("peerlink: read: %w", context.Cause(ctx))
		case n == 0 && byCtx && isTimeout(err):
			return 0, nil, fmt.Errorf("peerlink: read: %w", context.DeadlineExceeded)
		case isTimeout(err):
			c.fail(endIdleTimeout)
			return 0, nil, fmt.Errorf("%w: %w", ErrIdleTimeout, err)
		}
		c.fail(endPeerLost)
		return 0, nil, fmt.Errorf("peerlink: read: %w", err)
	}
	size, err := frameLength(c.hdr, c.tr.maxFrame)
	if err != nil {
		c.fail(endBadFrame)
		return 0, nil, err
	}
	frame, err := readFrameBody(c.conn, *bp, c.hdr, size)
	if err != nil {
		switch {
		case c.isClosed():
			return 0, nil, ErrClosed
		case isTimeout(err):
			c.fail(endIdleTimeout)
			return 0, nil, fmt.Errorf("%w: mid-frame: %w", ErrIdleTimeout, err)
		}
		c.fail(endPeerLost)
		return 0, nil, fmt.Errorf("peerlink: read: %w", err)
	}
	*bp = frame
	c.counters.bytesIn.Add(int64(len(frame)))
	typ, body, err := c.tr.open(frame)
	if err != nil {
		c.fail(endBadFrame)
		return 0, nil, err
	}
	return typ, body, nil
}

// Answer sends the owner's answer to the relayed RESUME: the SERVER_STATUS
// the relaying task puts in the device's WELCOME. After ACCEPTED the link
// relays; after any other status it closes. Only the owner answers, once.
func (c *Conn) Answer(ctx context.Context, st *devproto.ServerStatus) error {
	if c.initiator || !c.answered.CompareAndSwap(false, true) {
		return ErrNotAnswered
	}
	c.wmu.Lock()
	err := ErrClosed
	if !c.isClosed() {
		err = c.sendLocked(ctx, msgAnswer, func(dst []byte) ([]byte, error) {
			out, err := devproto.AppendPayload(dst, st)
			if err != nil {
				return dst, fmt.Errorf("peerlink: ANSWER: %w", err)
			}
			return out, nil
		})
	}
	c.wmu.Unlock()
	if err != nil || st.Code != status.Accepted {
		c.shut(err == nil)
		return err
	}
	c.startRelaying()
	return nil
}

// startRelaying opens the link to DEVICE and GATEWAY frames and starts the
// keepalives.
func (c *Conn) startRelaying() {
	c.relaying.Store(true)
	c.ka.Store(time.AfterFunc(c.o.idleTimeout/3, c.keepalive))
}

// keepalive sends a KEEPALIVE when nothing was written for a third of the
// idle timeout, and re-arms itself: a timer per link, no goroutine.
func (c *Conn) keepalive() {
	every := c.o.idleTimeout / 3
	if c.isClosed() {
		return
	}
	quiet := time.Since(time.Unix(0, c.lastSend.Load()))
	if quiet >= every {
		c.wmu.Lock()
		err := ErrClosed
		if !c.isClosed() {
			err = c.sendLocked(context.Background(), msgKeepalive, noBody)
		}
		c.wmu.Unlock()
		if err != nil {
			return
		}
		quiet = 0
	}
	if t := c.ka.Load(); t != nil && !c.isClosed() {
		t.Reset(every - quiet)
	}
}

func noBody(dst []byte) ([]byte, error) { return dst, nil }

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

// interruptOnDone arranges for setDeadline(longAgo) when ctx ends and
// returns the function that cancels the arrangement; it waits for an
// interruption already under way, so that it cannot land on the next
// call's fresh deadline. A context that can never end costs nothing.
func interruptOnDone(ctx context.Context, setDeadline func(time.Time) error) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
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

// bufPool holds frame buffers while a frame is in flight, so an idle link
// holds none: its buffers are bounded by the frame limit, per frame.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > MaxFrameSize+FrameHeaderLen {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
