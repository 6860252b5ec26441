package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	runtimemetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/edge/ratelimit"
	"github.com/collabgw/collabgw/internal/peerlink"
)

// Errors of Run.
var (
	// ErrServerClosed: Run was called on a server that already ran.
	ErrServerClosed = errors.New("edge: server already ran")
	// ErrListenerClosed: the listener was closed under Run (the server
	// drained and stopped).
	ErrListenerClosed = errors.New("edge: listener closed")
)

// errStopped is the cause the server's life ends with.
var errStopped = errors.New("edge: server stopped")

// Server is the edge. Create it with New and serve with Run.
type Server struct {
	cfg      config
	owner    string
	auth     Authorizer
	rel      Releaser
	leases   LeaseStore
	acceptor *devconn.Acceptor
	addrRate *ratelimit.Keyed // nil: off
	devRate  *ratelimit.Keyed // nil: off
	met      tally
	ran      atomic.Bool
	draining atomic.Bool

	// life is the server's lifetime: the work sessions start derives from
	// it (session.go, "Contexts"), and Run ends it (endLife) when the
	// drain is done or its deadline passed, so nothing outlives Run.
	// linkCtx is life without its end, for the blocking I/O of held links,
	// which ends when the links close.
	life    context.Context
	endLife context.CancelCauseFunc
	linkCtx context.Context

	// The task-to-task link: peerSrv answers RESUMEs other tasks relay
	// here (nil without WithPeer); peers relays this task's devices to
	// other owners (nil without WithSessionLocator).
	peerSrv *peerlink.Server
	peers   *peerlink.Dialer
	peerMet *peerlink.Counters

	mu       sync.Mutex          // guards sessions, relays and peerLn
	sessions map[string]*session // by session id
	relays   map[*relay]struct{} // device links this task relays to another owner
	peerLn   net.Listener        // set by ListenPeer, served by Run

	conns   sync.WaitGroup // connection goroutines (handshakes and readers)
	logins  sync.WaitGroup // admissions in flight
	workers sync.WaitGroup // session endings, releases and store writes started in the background
	connCap *connCap       // open device connections, shedding silent handshakes at the cap

	strays map[admission.SessionRef]time.Time // when each stray was first seen; the heartbeat's goroutine only
}

// New returns an edge server. gatewayKey is the Noise static key devices
// are provisioned with; owner names this task in session leases (it must be
// unique per running task); auth and rel are the authorize and release
// functions; leases is the store for the edge's own session items.
func New(gatewayKey devproto.PrivateKey, owner string, auth Authorizer, rel Releaser, leases LeaseStore, opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if owner == "" || auth == nil || rel == nil || leases == nil {
		return nil, fmt.Errorf("%w: owner, authorizer, releaser and lease store are required", ErrBadOption)
	}
	if cfg.dialer == nil {
		d, err := NewGroupWiseDialer("", cfg.rec, WithDialerLogger(cfg.log))
		if err != nil {
			return nil, err
		}
		cfg.dialer = d
	}
	s := &Server{
		cfg: cfg, owner: owner, auth: auth, rel: rel, leases: leases,
		sessions: map[string]*session{}, relays: map[*relay]struct{}{}, connCap: newConnCap(cfg.maxConns),
	}
	s.life, s.endLife = context.WithCancelCause(context.Background())
	s.linkCtx = context.WithoutCancel(s.life)
	if err := s.newPeers(); err != nil {
		return nil, err
	}
	respOpts := []devproto.Option{devproto.WithClock(cfg.now), devproto.WithMaxClockSkew(cfg.maxClockSkew)}
	if cfg.nextGatewayKey != nil {
		respOpts = append(respOpts, devproto.WithNextKey(*cfg.nextGatewayKey))
	}
	resp, err := devproto.NewResponder(gatewayKey, deviceRateVerifier{s}, respOpts...)
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	if s.acceptor, err = devconn.NewAcceptor(resp,
		devconn.WithHandshakeTimeout(cfg.handshakeTimeout), devconn.WithWriteTimeout(cfg.writeTimeout),
		devconn.WithFrameTimeout(cfg.frameTimeout), devconn.WithMessageRate(cfg.messageRate, cfg.messageBurst),
		devconn.WithAnswerTimeout(cfg.goodbyeTimeout), devconn.WithClock(cfg.now),
		devconn.WithHelloHook(s.connCap.helloArrived)); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	if cfg.addrRate > 0 {
		if s.addrRate, err = ratelimit.New(cfg.addrRate, cfg.addrBurst, cfg.rateKeys); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadOption, err)
		}
	}
	if cfg.deviceRate > 0 {
		if s.devRate, err = ratelimit.New(cfg.deviceRate, cfg.deviceBurst, cfg.rateKeys); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadOption, err)
		}
	}
	return s, nil
}

// Listen opens the device port with TCP keepalive probes on every
// accepted connection, so half-open links are found.
func (s *Server) Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{
		Enable: true, Idle: s.cfg.tcpKeepAlive, Interval: s.cfg.tcpKeepAlive / 2, Count: 3,
	}}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("edge: listen %s: %w", addr, err)
	}
	return ln, nil
}

// Run serves devices on ln and renews leases until ctx ends, then drains:
// it stops accepting, refuses logins in flight, tells every device
// (SERVER_STATUS SERVER_BUSY with a retry delay: log in again elsewhere),
// closes the GroupWise connections and releases every session, within the
// drain timeout. At the drain's end (complete, or at its deadline) the
// server's life ends: work still running (a release, a store write, a
// GroupWise request) is cancelled and the sessions the drain did not end
// are closed without a release. Then the task's lease is ended (one store
// write of at most storeWriteTimeout, inside the ECS stop timeout's margin
// over the drain) and the metrics flushed. It closes ln. The error is nil
// after a complete drain.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	if !s.ran.CompareAndSwap(false, true) {
		ln.Close()
		return ErrServerClosed
	}
	peersDone := s.servePeers()
	hbCtx, stopHeartbeat := context.WithCancel(s.life)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		s.heartbeatLoop(hbCtx)
	}()
	// Metrics have their own context, ended after the drain, so that the
	// final flush carries the drain's own events.
	metricsCtx, stopMetrics := context.WithCancel(context.WithoutCancel(ctx))
	metricsDone := make(chan struct{})
	go func() {
		defer close(metricsDone)
		if s.cfg.rec != nil {
			if err := s.cfg.rec.Run(metricsCtx, metricsInterval, s.collectMetrics); err != nil {
				s.cfg.log.Warn("metrics flush failed", "err", err)
			}
		}
	}()
	// Handshakes stop waiting for their HELLO when the drain begins;
	// admissions already deciding are not interrupted (see admit).
	connCtx, stopConns := context.WithCancel(s.life)
	defer stopConns()
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		s.acceptLoop(connCtx, ln)
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case <-acceptDone:
		runErr = ErrListenerClosed
	}
	s.mu.Lock() // beginLogin checks draining under the same lock
	s.draining.Store(true)
	s.mu.Unlock()
	s.cfg.log.Info("stopping: no new connections", "drain_timeout", s.cfg.drainTimeout)
	ln.Close()
	stopConns()
	<-acceptDone // no connection goroutine starts after this
	s.stopPeers(peersDone)
	dctx, cancel := context.WithTimeout(s.life, s.cfg.drainTimeout)
	defer cancel()
	err := s.drain(dctx)
	if err == nil {
		err = s.waitPeers(dctx)
	}
	s.endLife(errStopped)
	s.abandon()
	stopHeartbeat()
	<-hbDone
	stopMetrics()
	<-metricsDone
	return errors.Join(runErr, err)
}

// acceptLoop accepts until ln is closed.
func (s *Server) acceptLoop(ctx context.Context, ln net.Listener) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.draining.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors (EMFILE) and the like pass: wait
			// rather than spin or stop serving the sessions held, as
			// net/http does.
			s.met.inc(dropAcceptError)
			if backoff == 0 {
				s.cfg.log.Warn("accept failed; backing off", "err", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		// The address rate comes first: a connection over it must not
		// shed another's handshake.
		if s.addrRate != nil {
			if ok, _ := s.addrRate.Allow(remoteIP(conn.RemoteAddr()), s.cfg.now()); !ok {
				s.met.inc(dropAddrRate)
				conn.Close()
				continue
			}
		}
		slot, shed, ok := s.connCap.acquire(conn)
		if !ok {
			s.met.inc(dropConnCap)
			conn.Close()
			continue
		}
		if shed != nil {
			// Its goroutine sees the close, and leaves the count to the
			// slot's new holder.
			s.met.inc(dropHandshakeShed)
			shed.Close()
		} else {
			s.met.conns.Add(1)
		}
		s.conns.Add(1)
		go s.serveConn(ctx, conn, slot)
	}
}

// connDone gives back a connection's slot under the cap.
func (s *Server) connDone(slot *connSlot) {
	if s.connCap.release(slot) {
		s.met.conns.Add(-1)
	}
	s.conns.Done()
}

// lookup returns a held session.
func (s *Server) lookup(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

func (s *Server) add(ss *session) {
	s.mu.Lock()
	s.sessions[ss.ref.ID] = ss
	s.mu.Unlock()
	s.met.sessions.Add(1)
}

func (s *Server) remove(ss *session) {
	s.mu.Lock()
	_, ok := s.sessions[ss.ref.ID]
	if ok {
		delete(s.sessions, ss.ref.ID)
	}
	s.mu.Unlock()
	if ok {
		s.met.sessions.Add(-1)
	}
}

// all returns the held sessions.
func (s *Server) all() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, ss)
	}
	return out
}

// background runs f as tracked work, so the drain can wait for it.
func (s *Server) background(f func()) {
	s.workers.Add(1)
	go func() {
		defer s.workers.Done()
		f()
	}()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := s.met.snapshot()
	st.Draining = s.draining.Load()
	_, waiting := s.connCap.counts()
	st.WaitingForHello = int64(waiting)
	if s.peerMet != nil {
		ps := s.peerMet.Stats()
		st.Peer = &ps
	}
	samples := []runtimemetrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/memory/classes/total:bytes"}, {Name: "/sched/goroutines:goroutines"},
	}
	runtimemetrics.Read(samples)
	st.Memory = MemoryStats{
		HeapObjects: samples[0].Value.Uint64(), Stacks: samples[1].Value.Uint64(),
		Total: samples[2].Value.Uint64(), Goroutines: samples[3].Value.Uint64(),
	}
	return st
}

// MemoryStats is the Go runtime's view of the process memory, for telling
// live data from garbage-collector headroom when reading RSS.
type MemoryStats struct {
	HeapObjects uint64 `json:"heapObjectsBytes"` // live and not yet swept objects
	Stacks      uint64 `json:"stacksBytes"`
	Total       uint64 `json:"totalBytes"` // everything the runtime mapped
	Goroutines  uint64 `json:"goroutines"`
}

// HealthHandler serves /healthz (200 while serving, 503 once draining, so
// the load balancer stops sending new devices) and /stats (the counters as
// JSON).
func (s *Server) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
	return mux
}
