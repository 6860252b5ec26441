// Package gwclient is a GroupWise Messenger client: one TLS connection, one
// logged-in user. It logs in, keeps the session alive with pings, sets
// presence, sends IMs (getdetails, createconf, sendmessage) and delivers
// server events to a handler. Requests may run concurrently; responses are
// matched by transaction id and every call honours its context.
//
// It is built to be held by the tens of thousands: an idle client keeps no
// read buffer (a pooled one is borrowed only while a message arrives), no
// keepalive goroutine (a timer), and one reader goroutine.
package gwclient

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
)

// Client is one connection to a GroupWise Messenger server.
type Client struct {
	cfg      config
	conn     *tls.Conn
	hostPort string        // for the login Host header
	wsem     chan struct{} // one writer at a time, waitable with a context
	done     chan struct{} // closed when the reader goroutine has exited

	mu        sync.Mutex // guards the fields below
	closed    bool
	err       error // why the client ended
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
	tcfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    cfg.roots,
		ServerName: host,
	}
	if cfg.serverName != "" {
		tcfg.ServerName = cfg.serverName
	}
	if cfg.pin != nil {
		pin := cfg.pin
		if cfg.roots == nil {
			// The pin alone is the trust anchor; VerifyConnection checks it.
			tcfg.InsecureSkipVerify = true //nolint:gosec // replaced by the pin check below
		}
		tcfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrPinMismatch
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
				return ErrPinMismatch
			}
			return nil
		}
	}
	hctx, cancel := context.WithTimeout(ctx, cfg.handshakeTimeout)
	defer cancel()
	d := tls.Dialer{Config: tcfg}
	nc, err := d.DialContext(hctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gwclient: dial %s: %w", addr, err)
	}
	c := &Client{
		cfg:      cfg,
		conn:     nc.(*tls.Conn),
		hostPort: addr,
		wsem:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		interval: cfg.keepalive,
	}
	go c.readLoop()
	return c, nil
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
	c.mu.Unlock()
	for _, ch := range pending {
		ch <- result{err: why}
	}
	c.conn.Close()
}

// readLoop reads server messages until the connection ends. While idle it
// blocks on a 4-byte read with no buffer of its own.
func (c *Client) readLoop() {
	defer close(c.done)
	var br *bufio.Reader
	defer func() {
		if br != nil {
			readers.Put(br)
		}
	}()
	var prefix [gwproto.PrefixLen]byte
	for {
		var src io.Reader = c.conn
		if br != nil {
			src = br
		}
		if _, err := io.ReadFull(src, prefix[:]); err != nil {
			c.shutdown(fmt.Errorf("%w: %w", ErrConnectionLost, err))
			return
		}
		if br == nil {
			br = readers.Get().(*bufio.Reader)
			br.Reset(c.conn)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(c.cfg.messageTimeout))
		var err error
		if gwproto.IsResponse(prefix) {
			var resp gwproto.Response
			if resp, err = gwproto.ReadResponse(br); err == nil {
				c.deliver(resp)
			}
		} else {
			var ev gwproto.Event
			t := gwproto.EventType(uint32(prefix[0]) | uint32(prefix[1])<<8 | uint32(prefix[2])<<16 | uint32(prefix[3])<<24)
			if ev, err = gwproto.ReadEvent(br, t); err == nil {
				err = c.dispatch(ev)
			}
		}
		if err != nil {
			if errors.Is(err, gwproto.ErrMalformed) {
				err = fmt.Errorf("%w: %w", ErrProtocol, err)
			} else if !isEnd(err) {
				err = fmt.Errorf("%w: %w", ErrConnectionLost, err)
			}
			c.shutdown(err)
			return
		}
		_ = c.conn.SetReadDeadline(time.Time{})
		if br.Buffered() == 0 {
			br.Reset(nil)
			readers.Put(br)
			br = nil
		}
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
	delete(c.pending, txn)
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
	delete(c.pending, txn)
	c.mu.Unlock()
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
