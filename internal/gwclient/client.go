// Package gwclient is a GroupWise Messenger client: one TLS connection, one
// logged-in user. It logs in, keeps the session alive with pings, sets
// presence, sends IMs (getdetails, createconf, sendmessage) and delivers
// server events to a handler. Requests may run concurrently; responses are
// matched by transaction id and every call honours its context.
//
// It is built to be held by the tens of thousands. An idle client keeps no
// goroutine: on Linux it parks on the process's idlepoll poller, which
// starts a reader when input arrives (elsewhere it keeps one reader
// goroutine). It keeps no read buffer (a pooled one is borrowed only while
// a message arrives), no keepalive goroutine (a timer), a crypto/tls input
// buffer sized by the largest TLS record rather than the largest burst, and
// a tls.Config shared with every connection to the same server. What is left
// is crypto/tls's own state: about 7 KB per connection (docs/benchmarks.md).
package gwclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/idlepoll"
)

// Client is one connection to a GroupWise Messenger server.
type Client struct {
	cfg      config
	conn     *tls.Conn
	raw      *recordConn   // under conn
	hostPort string        // for the login Host header
	wsem     chan struct{} // one writer at a time, waitable with a context
	done     chan struct{} // closed when the reader goroutine has exited

	mu     sync.Mutex // guards the fields below
	closed bool
	err    error // why the client ended
	// reading is true while a goroutine runs serve; false while the
	// client is parked on the poller (or has ended).
	reading bool
	// watch parks the client while idle; nil: serve blocks on an idle
	// read instead. Only the reading goroutine changes it.
	watch     *idlepoll.Watch
	nextTxn   uint64
	pending   map[uint64]chan result
	loggedIn  bool
	selfDN    string
	dnByID    map[string]string // lower-case user id -> DN
	confByDN  map[string]string // lower-case peer DN -> conference GUID
	keepalive *time.Timer
	interval  time.Duration
}

type result struct {
	resp gwproto.Response
	err  error
}

// readers lends read buffers to clients only while a message is arriving,
// so idle clients hold none.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// Dial connects to addr ("host:port") with TLS and returns a client ready
// for Login. The context bounds connect and handshake.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("gwclient: address %q: %w", addr, err)
	}
	serverName := host
	if cfg.serverName != "" {
		serverName = cfg.serverName
	}
	hctx, cancel := context.WithTimeout(ctx, cfg.handshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gwclient: dial %s: %w", addr, err)
	}
	raw := &recordConn{Conn: nc, greedy: cfg.greedyReads}
	conn := tls.Client(raw, cfg.tlsConfig(serverName))
	if err := conn.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("gwclient: dial %s: %w", addr, err)
	}
	c := &Client{
		cfg:      cfg,
		conn:     conn,
		raw:      raw,
		hostPort: addr,
		wsem:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		interval: cfg.keepalive,
		reading:  true,
	}
	if !cfg.readerGoroutine {
		c.watch = c.newWatch(nc)
	}
	go c.serve()
	return c, nil
}

// newWatch registers the connection with the process's poller, so that
// the client needs no goroutine while idle; nil where there is no poller
// (not Linux) or it refuses, and the client keeps a reader goroutine.
func (c *Client) newWatch(nc net.Conn) *idlepoll.Watch {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	p := c.cfg.poller
	if p == nil {
		var err error
		if p, err = idlepoll.Default(); err != nil {
			return nil
		}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w, err := p.Watch(rc, c.wake)
	if err != nil {
		return nil
	}
	c.raw.sys = rc
	return w
}

// Done is closed when the connection has ended and no more events will be
// delivered; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client ended (ErrClosed after Close, ErrSignedOnElsewhere
// after event 114, ...), or nil while it is running.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the session (the protocol has no logout command: closing TLS is
// the logout) and fails calls in flight with ErrClosed. It does not wait for
// the reader goroutine, so it may be called from the event handler; wait on
// Done for that. Closing twice is harmless.
func (c *Client) Close() error {
	c.shutdown(ErrClosed)
	return nil
}

// shutdown ends the client once, recording why.
func (c *Client) shutdown(why error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.err = why
	pending := c.pending
	c.pending = nil
	if c.keepalive != nil {
		c.keepalive.Stop()
	}
	// A parked client has no reader to close done; a reading one's reader
	// closes it when it stops.
	closeDone := !c.reading
	w := c.watch
	c.mu.Unlock()
	for _, ch := range pending {
		ch <- result{err: why}
	}
	if w != nil {
		_ = w.Close()
	}
	c.conn.Close()
	if closeDone {
		close(c.done)
	}
}

// serve reads server messages as they arrive. With a watch it returns as
// soon as none is arriving, parking the client on the poller until one
// does (wake calls serve again on a new goroutine); without one it blocks
// on an idle read for the connection's life. Either way an idle client
// holds no read buffer.
func (c *Client) serve() {
	var br *bufio.Reader
	var prefix [gwproto.PrefixLen]byte
	for {
		// The first bytes of the next message: left over from the last
		// one, already here, or waited for.
		var n int
		var err error
		switch {
		case br != nil:
			n, err = br.Read(prefix[:])
		case c.watch != nil:
			c.raw.probing = true
			n, err = c.conn.Read(prefix[:])
			c.raw.probing = false
			if errors.Is(err, idlepoll.ErrWouldBlock) {
				if n > 0 {
					err = nil
				} else if c.park() {
					return
				} else {
					continue // the poller refused: read on this goroutine
				}
			}
		default:
			n, err = c.conn.Read(prefix[:])
		}
		if err == nil && n > 0 {
			err = c.readMessage(&br, prefix[:], n)
		} else if err != nil {
			err = fmt.Errorf("%w: %w", ErrConnectionLost, err)
		}
		if err != nil {
			if br != nil {
				br.Reset(nil)
				readers.Put(br)
			}
			c.shutdown(err)
			c.stopReading()
			return
		}
		if br != nil && br.Buffered() == 0 {
			br.Reset(nil)
			readers.Put(br)
			br = nil
		}
	}
}

// readMessage reads the rest of the message whose first n bytes are in
// prefix, borrowing a read buffer into *br, and handles it.
func (c *Client) readMessage(br **bufio.Reader, prefix []byte, n int) error {
	// A message has begun: a server stalled in the middle of one is dead.
	_ = c.conn.SetReadDeadline(time.Now().Add(c.cfg.messageTimeout))
	if *br == nil {
		*br = readers.Get().(*bufio.Reader)
		(*br).Reset(c.conn)
	}
	err := c.handleMessage(*br, prefix, n)
	if err != nil {
		if errors.Is(err, gwproto.ErrMalformed) {
			return fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		if !isEnd(err) {
			return fmt.Errorf("%w: %w", ErrConnectionLost, err)
		}
		return err
	}
	_ = c.conn.SetReadDeadline(time.Time{})
	return nil
}

func (c *Client) handleMessage(br *bufio.Reader, prefix []byte, n int) error {
	if _, err := io.ReadFull(br, prefix[n:]); err != nil {
		return err
	}
	if gwproto.IsResponse([gwproto.PrefixLen]byte(prefix)) {
		resp, err := gwproto.ReadResponse(br)
		if err != nil {
			return err
		}
		c.deliver(resp)
		return nil
	}
	t := gwproto.EventType(uint32(prefix[0]) | uint32(prefix[1])<<8 | uint32(prefix[2])<<16 | uint32(prefix[3])<<24)
	ev, err := gwproto.ReadEvent(br, t)
	if err != nil {
		return err
	}
	return c.dispatch(ev)
}

// park hands the client to the poller until input arrives, and reports
// whether it did: false if the poller refused, and the caller goes on
// reading on its own goroutine. A client that ended meanwhile is stopped.
func (c *Client) park() bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.stopReading()
		return true
	}
	err := c.watch.Arm()
	if err == nil {
		c.reading = false
		c.mu.Unlock()
		return true
	}
	w := c.watch
	c.watch = nil
	c.mu.Unlock()
	_ = w.Close()
	return false
}

// wake runs serve when the poller reports input on a parked client.
func (c *Client) wake() {
	c.mu.Lock()
	if c.closed || c.reading {
		c.mu.Unlock()
		return
	}
	c.reading = true
	c.mu.Unlock()
	c.serve()
}

// stopReading ends serve on a client that has ended: the last reader
// closes done.
func (c *Client) stopReading() {
	c.mu.Lock()
	c.reading = false
	closed := c.closed
	c.mu.Unlock()
	if closed {
		close(c.done)
	}
}

// isEnd reports errors that already say why the client ended.
func isEnd(err error) bool {
	return errors.Is(err, ErrSignedOnElsewhere) || errors.Is(err, ErrServerDisconnect) || errors.Is(err, ErrClosed)
}

// deliver hands a response to the call waiting for it. Answers to calls that
// gave up (context done) are dropped.
func (c *Client) deliver(resp gwproto.Response) {
	txn, err := strconv.ParseUint(resp.TransactionID(), 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	ch, ok := c.pending[txn]
	c.forgetLocked(txn)
	c.mu.Unlock()
	if ok {
		ch <- result{resp: resp}
	}
}

// dispatch handles one event; 114 and 115 end the client after delivery.
func (c *Client) dispatch(ev gwproto.Event) error {
	switch ev.Type {
	case gwproto.EventReceiveMessage:
		ev.Text = gwproto.PlainText(ev.Text)
		c.rememberConference(ev.Source, ev.GUID)
	case gwproto.EventReceiveAutoReply:
		c.rememberConference(ev.Source, ev.GUID)
	}
	c.cfg.handler(ev)
	switch ev.Type {
	case gwproto.EventUserDisconnect:
		return ErrSignedOnElsewhere
	case gwproto.EventServerDisconnect:
		return ErrServerDisconnect
	}
	return nil
}

// call sends one request and waits for its response. A non-zero result code
// becomes a *ResultError.
func (c *Client) call(ctx context.Context, req gwproto.Request) (gwproto.Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.requestTimeout)
		defer cancel()
	}
	// A context already done must not reach the write: a write cut short
	// breaks the TLS stream for good. select alone may pick the semaphore.
	if err := ctx.Err(); err != nil {
		return gwproto.Response{}, fmt.Errorf("gwclient: %s: %w", req.Command, err)
	}
	select {
	case c.wsem <- struct{}{}:
	case <-ctx.Done():
		return gwproto.Response{}, fmt.Errorf("gwclient: %s: %w", req.Command, ctx.Err())
	case <-c.done:
		return gwproto.Response{}, c.Err()
	}
	if err := ctx.Err(); err != nil {
		<-c.wsem
		return gwproto.Response{}, fmt.Errorf("gwclient: %s: %w", req.Command, err)
	}
	ch := make(chan result, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.wsem
		return gwproto.Response{}, c.err
	}
	c.nextTxn++
	txn := c.nextTxn
	if c.pending == nil {
		c.pending = make(map[uint64]chan result, 1)
	}
	c.pending[txn] = ch
	c.mu.Unlock()
	req.TransactionID = strconv.FormatUint(txn, 10)
	err := c.write(ctx, req)
	<-c.wsem
	if err != nil {
		c.forget(txn)
		return gwproto.Response{}, fmt.Errorf("gwclient: %s: %w", req.Command, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return gwproto.Response{}, r.err
		}
		code, err := r.resp.Result()
		if err != nil {
			return gwproto.Response{}, fmt.Errorf("%w: %s: %w", ErrProtocol, req.Command, err)
		}
		if code != gwproto.ResultOK {
			return r.resp, &ResultError{Command: req.Command, Code: code}
		}
		return r.resp, nil
	case <-ctx.Done():
		c.forget(txn)
		return gwproto.Response{}, fmt.Errorf("gwclient: %s: %w", req.Command, ctx.Err())
	}
}

func (c *Client) forget(txn uint64) {
	c.mu.Lock()
	c.forgetLocked(txn)
	c.mu.Unlock()
}

// forgetLocked drops a call's entry; an idle client keeps no map.
func (c *Client) forgetLocked(txn uint64) {
	delete(c.pending, txn)
	if len(c.pending) == 0 {
		c.pending = nil
	}
}

// write sends a request in one write. A write cut short by the context or an
// error leaves the stream unusable, so it ends the client.
func (c *Client) write(ctx context.Context, req gwproto.Request) error {
	b, err := gwproto.AppendRequest(make([]byte, 0, 512), req)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	_ = c.conn.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetWriteDeadline(time.Unix(1, 0)) })
	_, err = c.conn.Write(b)
	stop()
	if err != nil {
		err = fmt.Errorf("%w: write: %w", ErrConnectionLost, err)
		c.shutdown(err)
		return err
	}
	return nil
}
