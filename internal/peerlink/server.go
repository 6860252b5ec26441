package peerlink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// ResumeFunc is the owner's handler for a relayed RESUME: it decides, then
// calls c.Answer exactly once; after an ACCEPTED answer c is the session's
// device link (Send, Receive). The link is closed when the handler returns,
// so a handler that keeps it runs the link's reader in place.
type ResumeFunc func(ctx context.Context, c *Conn, r *Resume)

// Server accepts links from other tasks, as the owner. Create it with
// NewServer, serve a listener with Serve, stop accepting with Close, and
// wait for the links to end with Wait.
type Server struct {
	task   string
	keys   keyring
	handle ResumeFunc
	o      options
	slots  chan struct{} // one token per open inbound link, in setup or relaying

	mu     sync.Mutex // guards ln, closed and setup
	ln     net.Listener
	closed bool
	setup  map[net.Conn]struct{} // connections still in their setup

	links sync.WaitGroup // the accept loop and every inbound link until its socket is closed
}

// NewServer returns the owner side for task (this task's name; initiators
// check it) holding key, and WithNextKey's key during a rotation. Options:
// WithNextKey, WithMaxLinks (inbound), WithHandshakeTimeout,
// WithWriteTimeout, WithIdleTimeout, WithMaxFrameSize, WithCounters.
func NewServer(task string, key Key, handle ResumeFunc, opts ...Option) (*Server, error) {
	if err := validTask(task); err != nil {
		return nil, fmt.Errorf("%w: task: %w", ErrBadOption, err)
	}
	if handle == nil {
		return nil, fmt.Errorf("%w: nil ResumeFunc", ErrBadOption)
	}
	o, err := applyOptions(opts)
	if err != nil {
		return nil, err
	}
	kr, err := newKeyring(key, o.next)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOption, err)
	}
	return &Server{
		task: task, keys: kr, handle: handle, o: o,
		slots: make(chan struct{}, o.maxLinks), setup: map[net.Conn]struct{}{},
	}, nil
}

// Counters returns the counters the Server counts into.
func (s *Server) Counters() *Counters { return s.o.counters }

// Serve accepts links on ln until Close, and closes ln. It returns nil
// after Close (even a Close that came first).
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed || s.ln != nil {
		closed := s.closed
		s.mu.Unlock()
		ln.Close()
		if closed {
			return nil
		}
		return fmt.Errorf("%w: already serving", ErrBadOption)
	}
	s.ln = ln
	s.links.Add(1)
	s.mu.Unlock()
	defer s.links.Done()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosed() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of file descriptors and the like pass: wait rather
			// than spin, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		select {
		case s.slots <- struct{}{}:
		default:
			// A fresh socket's send buffer is empty: this never blocks.
			s.o.counters.in[inConnCap].Add(1)
			_ = conn.SetWriteDeadline(time.Now().Add(closeTimeout))
			_, _ = conn.Write(refuseFrame(RefuseBusy))
			conn.Close()
			continue
		}
		s.o.counters.openIn.Add(1)
		if !s.track(conn) {
			s.o.counters.in[inClosing].Add(1)
			conn.Close()
			s.give()
			continue
		}
		s.links.Add(1)
		go s.serveConn(conn)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers conn as in its setup, unless the server closed.
func (s *Server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.setup[conn] = struct{}{}
	return true
}

// untrack ends conn's setup; false if Close already closed it.
func (s *Server) untrack(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.setup[conn]
	delete(s.setup, conn)
	return ok && !s.closed
}

// give returns an inbound slot.
func (s *Server) give() {
	s.o.counters.openIn.Add(-1)
	<-s.slots
}

// Close stops accepting and drops the connections still in their setup.
// Links already relaying stay up until their owners close them (the
// sessions they carry end, or their devices go); Wait waits for that.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for conn := range s.setup {
		conn.Close()
	}
	clear(s.setup)
	if s.ln != nil {
		return s.ln.Close()
	}
	return nil
}

// Wait waits until Serve returned and every inbound link's socket is
// closed, or ctx ends.
func (s *Server) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.links.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("peerlink: links still open: %w", ctx.Err())
	}
}

// serveConn sets up one inbound link and hands its RESUME to the handler.
func (s *Server) serveConn(conn net.Conn) {
	released := false
	release := func() {
		if !released {
			released = true
			s.give()
			s.links.Done()
		}
	}
	c, r, result, err := s.setupConn(conn, release)
	if !s.untrack(conn) {
		result, err = inClosing, errors.New("peerlink: server closing")
	}
	s.o.counters.in[result].Add(1)
	if err != nil {
		if c != nil {
			c.shut(false)
		} else {
			conn.Close()
			release()
		}
		return
	}
	s.handle(context.Background(), c, r)
	c.Close()
}

// setupConn runs the responder's handshake and reads the RESUME, all
// within the handshake timeout. A returned Conn owns conn and release.
func (s *Server) setupConn(conn net.Conn, release func()) (*Conn, *Resume, inResult, error) {
	deadline := time.Now().Add(s.o.handshakeTimeout)
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, nil, inIncomplete, err
	}
	bp := getBuf()
	defer putBuf(bp)
	frame, err := readFrame(conn, *bp, MaxHandshakeSize)
	if err != nil {
		return nil, nil, setupResult(err), fmt.Errorf("peerlink: read hello: %w", err)
	}
	*bp = frame
	s.o.counters.bytesIn.Add(int64(len(frame)))
	hello, err := s.keys.readHello(frame)
	if err != nil {
		// Best effort: the initiator counts why.
		refuse := refuseFrame(refuseReasonFor(err))
		if n, werr := conn.Write(refuse); werr == nil {
			s.o.counters.bytesOut.Add(int64(n))
		}
		switch refuseReasonFor(err) {
		case RefuseVersion:
			return nil, nil, inVersion, err
		case RefuseUnknownKey:
			return nil, nil, inUnknownKey, err
		}
		if errors.Is(err, ErrHandshakeAuth) {
			return nil, nil, inBadKey, err
		}
		return nil, nil, inMalformed, err
	}
	welcome, tr, err := hello.reply(s.task, s.o.maxFrame)
	if err != nil {
		return nil, nil, inMalformed, err
	}
	if _, err := conn.Write(welcome); err != nil {
		return nil, nil, setupResult(err), fmt.Errorf("peerlink: send welcome: %w", err)
	}
	s.o.counters.bytesOut.Add(int64(len(welcome)))
	c := newConn(conn, tr, false, hello.task, &s.o, release)
	c.rmu.Lock()
	// The same deadline bounds the whole setup.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	typ, body, err := c.readLocked(ctx, bp, s.o.handshakeTimeout)
	cancel()
	var r *Resume
	if err == nil {
		if typ != msgResume {
			err = fmt.Errorf("%w: %v before the RESUME", ErrUnexpectedMessage, typ)
		} else {
			r, err = decodeResume(body)
		}
	}
	c.rmu.Unlock()
	if err != nil {
		return c, nil, setupResult(err), err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return c, nil, inIncomplete, err
	}
	return c, r, inOK, nil
}

// setupResult says which result a setup error counts as.
func setupResult(err error) inResult {
	switch {
	case isTimeout(err), errors.Is(err, ErrIdleTimeout), errors.Is(err, context.DeadlineExceeded):
		return inTimeout
	case errors.Is(err, io.EOF), errors.Is(err, ErrTruncated), errors.Is(err, net.ErrClosed), errors.Is(err, ErrClosed):
		return inIncomplete
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return inIncomplete
	}
	return inMalformed
}
