// Package gwsim is a GroupWise Messenger server simulator for tests and local
// runs. It speaks the server side of the protocol in internal/gwproto well
// enough for Pidgin's real GroupWise client and for internal/gwclient: login,
// setstatus, getstatus, getdetails, createconf, sendmessage, sendtyping and
// ping, with IMs routed between logged-in users as event 108. It observes the
// traps that real clients fall into (field order, AUTH_ATTRIBUTE, a CA-signed
// certificate, a source DN on every event) and offers fault injection:
// delayed logins, dropped connections, rejected TLS, stalled answers.
package gwsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ServerDN is the source of events the server itself sends (115): Pidgin
// drops events whose source is empty.
const ServerDN = "cn=gwsim,o=collabgw"

// ErrClosed is returned by Start on a closed server.
var ErrClosed = errors.New("gwsim: server closed")

// user is one directory entry.
type user struct {
	id       string // as configured, lower case
	password string
	dn       string
	state    accountState
}

// Server is a running simulator. Create it with New, then Start it.
type Server struct {
	cfg   *config
	certs certs
	tls   *tls.Config
	users map[string]*user // by lower-case id and by lower-case DN; read-only after New

	mu       sync.Mutex            // guards the fields below
	ln       net.Listener          // nil until Start
	closed   bool                  // set by Close
	conns    map[*session]struct{} // every open connection
	sessions map[string][]*session // logged-in sessions by user id
	confs    map[string][]string   // conference GUID prefix -> participant DNs
	loggedIn int                   // logged-in sessions, for WithMaxConnections
	requests map[string]int        // requests answered, by command (bounded by handledCommands)
	logins   map[string]int        // accepted logins by user id (bounded by the directory)

	observer atomic.Pointer[func(LoginTiming)] // ObserveLogins; nil: none

	wg sync.WaitGroup // accept loop and connection goroutines
}

// New builds a server and its certificates; it does not listen yet.
func New(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(cfg); err != nil {
			return nil, err
		}
	}
	for owner, cts := range cfg.contacts {
		for _, ct := range append([]string{owner}, cts...) {
			if _, ok := cfg.users[ct]; !ok {
				return nil, fmt.Errorf("%w: contact list names unknown user %q", ErrBadOption, ct)
			}
		}
	}
	c, err := newCerts(cfg.now())
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		certs:    c,
		users:    make(map[string]*user, 2*len(cfg.users)),
		conns:    map[*session]struct{}{},
		sessions: map[string][]*session{},
		confs:    map[string][]string{},
		requests: map[string]int{},
		logins:   map[string]int{},
	}
	for id, pw := range cfg.users {
		u := &user{id: id, password: pw, dn: "cn=" + id + DefaultDNSuffix, state: cfg.states[id]}
		s.users[id] = u
		s.users[u.dn] = u
	}
	s.tls = &tls.Config{
		Certificates: []tls.Certificate{c.server},
		MinVersion:   tls.VersionTLS12,
	}
	if cfg.rejectTLS {
		s.tls.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return nil, errors.New("gwsim: TLS rejected by fault injection")
		}
	}
	return s, nil
}

// CACertPEM returns the CA certificate that signed the server certificate.
func (s *Server) CACertPEM() []byte { return s.certs.caPEM }

// ServerCertPEM returns the server certificate, e.g. to pin it in Pidgin.
func (s *Server) ServerCertPEM() []byte { return s.certs.serverPEM }

// CertPool returns a pool holding the simulator's CA.
func (s *Server) CertPool() *x509.CertPool { return s.certs.pool }

// WriteCA writes the CA certificate in PEM to path.
func (s *Server) WriteCA(path string) error {
	if err := os.WriteFile(path, s.certs.caPEM, 0o600); err != nil {
		return fmt.Errorf("gwsim: write CA: %w", err)
	}
	return nil
}

// Start listens on addr and serves in the background until Close.
func (s *Server) Start(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("gwsim: listen: %w", err)
	}
	s.mu.Lock()
	if s.closed || s.ln != nil {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.ln = ln
	s.wg.Add(1)
	s.mu.Unlock()
	s.cfg.log.Info("gwsim listening", "addr", ln.Addr().String(), "users", len(s.cfg.users))
	go s.acceptLoop(ln)
	return nil
}

// Addr returns the listening address, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		accepted := time.Now()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		sess := newSession(s, c)
		sess.accepted = accepted
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[sess] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			sess.serve()
		}()
	}
}

// Close stops accepting, tells every logged-in client with event 115 (a
// client that only sees TLS close may not notice for a long time), closes
// every connection and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln := s.ln
	all := make([]*session, 0, len(s.conns))
	for c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	// In parallel: one stuck client must not hold the others' goodbyes for
	// its write timeout.
	var bye sync.WaitGroup
	for _, c := range all {
		bye.Go(c.goodbye)
	}
	bye.Wait()
	s.wg.Wait()
	return nil
}

// LoggedIn returns the number of logged-in sessions.
func (s *Server) LoggedIn() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loggedIn
}

// Requests returns how many requests of a command were answered; commands
// the simulator does not implement count under "other".
func (s *Server) Requests(command string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[command]
}

// Logins returns how many logins of the user (id or DN) the server
// accepted since it started: a test checks with it that a session resumed
// on any edge never logged in to GroupWise again.
func (s *Server) Logins(user string) int {
	u, ok := s.lookup(user)
	if !ok {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins[u.id]
}

// SessionsOf returns how many logged-in connections the user (id or DN)
// has now.
func (s *Server) SessionsOf(user string) int {
	u, ok := s.lookup(user)
	if !ok {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions[u.id])
}

// lookup finds a user by id or DN, case-insensitively.
func (s *Server) lookup(name string) (*user, bool) {
	u, ok := s.users[strings.ToLower(strings.TrimSpace(name))]
	return u, ok
}

// removeSession forgets a closed connection.
func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, sess)
	if sess.user == nil {
		return
	}
	list := s.sessions[sess.user.id]
	for i, o := range list {
		if o == sess {
			list = append(list[:i], list[i+1:]...)
			s.loggedIn--
			break
		}
	}
	if len(list) == 0 {
		delete(s.sessions, sess.user.id)
	} else {
		s.sessions[sess.user.id] = list
	}
}

// sessionsOfLocked returns the logged-in sessions of the user with DN dn.
func (s *Server) sessionsOfLocked(dn string) []*session {
	u, ok := s.lookup(dn)
	if !ok {
		return nil
	}
	return s.sessions[u.id]
}
