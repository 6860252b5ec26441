package gwsim

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
)

// session is one client connection, logged in or not.
type session struct {
	srv  *Server
	raw  net.Conn
	conn *tls.Conn
	done chan struct{} // closed when the connection is closed
	// accepted and handshaken time the connection's login for
	// ObserveLogins; written before serve's loop, read only by it.
	accepted, handshaken time.Time

	// user, status, statusText and autoReply are guarded by srv.mu:
	// other sessions read them when routing messages and status changes.
	user       *user
	status     gwproto.Status
	statusText string
	autoReply  string
	watched    map[string]bool // DNs this session asked about; gets their 103s

	wmu       sync.Mutex // guards writes to conn, so each message is one write
	closeOnce sync.Once
}

func newSession(s *Server, c net.Conn) *session {
	return &session{srv: s, raw: c, conn: tls.Server(c, s.tls), done: make(chan struct{}), watched: map[string]bool{}}
}

func (c *session) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.raw.Close()
	})
}

// goodbye sends event 115 to a logged-in client, then closes.
func (c *session) goodbye() {
	c.srv.mu.Lock()
	loggedIn := c.user != nil
	c.srv.mu.Unlock()
	if loggedIn {
		c.sendEvent(gwproto.Event{Type: gwproto.EventServerDisconnect, Source: ServerDN})
	}
	c.close()
}

func (c *session) serve() {
	defer c.srv.removeSession(c)
	defer c.close()
	log := c.srv.cfg.log.With("remote", c.raw.RemoteAddr().String())
	if d := c.srv.cfg.dropAfter; d > 0 {
		t := time.AfterFunc(d, func() {
			log.Info("dropping connection (fault injection)")
			c.close()
		})
		defer t.Stop()
	}
	_ = c.raw.SetDeadline(time.Now().Add(c.srv.cfg.handshakeTimeout))
	if err := c.conn.Handshake(); err != nil {
		log.Info("TLS handshake failed", "err", err)
		return
	}
	c.handshaken = time.Now()
	_ = c.raw.SetDeadline(time.Time{})
	// Small buffer: Pidgin's requests arrive as many tiny records anyway.
	br := bufio.NewReaderSize(c.conn, 1024)
	for {
		_ = c.raw.SetReadDeadline(time.Now().Add(c.srv.cfg.idleTimeout))
		req, err := gwproto.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Info("closing connection", "err", err)
			}
			return
		}
		if !c.handle(req) {
			return
		}
	}
}

// respond writes one response with the result code and transaction id
// followed by extra fields; scalars first, as Pidgin's login parser needs.
func (c *session) respond(req gwproto.Request, code gwproto.ResultCode, extra ...gwproto.Field) {
	fs := make(gwproto.Fields, 0, 2+len(extra))
	fs = append(fs, resultFields(req, code)...)
	fs = append(fs, extra...)
	c.writeResponse(req.Command, fs)
}

func resultFields(req gwproto.Request, code gwproto.ResultCode) gwproto.Fields {
	return gwproto.Fields{
		gwproto.String(gwproto.TagResultCode, strconv.FormatUint(uint64(code), 10)),
		gwproto.String(gwproto.TagTransactionID, req.TransactionID),
	}
}

// writeResponse encodes and writes fs in one write, or in two around a
// pause when WithStall names the command.
func (c *session) writeResponse(command string, fs gwproto.Fields) {
	b, err := gwproto.AppendResponse(nil, fs)
	if err != nil {
		c.srv.cfg.log.Error("encoding response", "cmd", command, "err", err)
		c.close()
		return
	}
	if d, ok := c.srv.cfg.stall[command]; ok {
		half := len(b) / 2
		if !c.write(b[:half]) {
			return
		}
		select {
		case <-time.After(d):
		case <-c.done:
			return
		}
		b = b[half:]
	}
	c.write(b)
}

func (c *session) sendEvent(ev gwproto.Event) {
	b, err := gwproto.AppendEvent(nil, ev)
	if err != nil {
		c.srv.cfg.log.Error("encoding event", "type", ev.Type, "err", err)
		return
	}
	c.write(b)
}

func (c *session) write(b []byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.srv.cfg.writeTimeout))
	if _, err := c.conn.Write(b); err != nil {
		c.close()
		return false
	}
	return true
}
