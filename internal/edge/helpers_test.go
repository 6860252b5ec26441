package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwclient"
	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/lambdaapi"
	"github.com/collabgw/collabgw/internal/status"
)

// fakeFunctions stands in for the authorize and release functions: every
// login is accepted unless refuse names its user.
type fakeFunctions struct {
	target lambdaapi.GroupWise
	idle   int // idle timeout seconds given with the lease

	mu       sync.Mutex
	refuse   map[string]status.Code
	ended    []admission.Ended // returned with the next acceptance
	n        int
	requests []lambdaapi.AuthorizeRequest
	released []lambdaapi.ReleaseRequest
	owners   map[string]admission.Ended // every admitted session and the task it went to, by id

	// releaseHook, when set, runs before a release is recorded; its
	// error fails the release (fault injection: a release that hangs).
	releaseHook func(ctx context.Context) error
}

// ownerOf returns the task holding a session, as the store would: ""
// for a session it never admitted, another device's, or one released.
func (f *fakeFunctions) ownerOf(deviceID, sessionID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.owners[sessionID]
	if !ok || o.Session.DeviceID != deviceID {
		return ""
	}
	for _, r := range f.released {
		if r.Session.ID == sessionID {
			return ""
		}
	}
	return o.Owner
}

func (f *fakeFunctions) Authorize(_ context.Context, req lambdaapi.AuthorizeRequest) (lambdaapi.AuthorizeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if code, ok := f.refuse[req.UserID]; ok {
		return lambdaapi.AuthorizeResponse{Status: code, Reason: "test"}, nil
	}
	f.n++
	ended := f.ended
	f.ended = nil
	id := fmt.Sprintf("s%d", f.n)
	if f.owners == nil {
		f.owners = map[string]admission.Ended{}
	}
	f.owners[id] = admission.Ended{Session: admission.SessionRef{Pool: "p", DeviceID: req.DeviceID, ID: id}, Owner: req.EdgeTask}
	return lambdaapi.AuthorizeResponse{
		Status:    status.Accepted,
		Session:   &admission.SessionRef{Pool: "p", DeviceID: req.DeviceID, ID: id},
		Lease:     &lambdaapi.Lease{DurationSeconds: 30, HeartbeatSeconds: 10, IdleTimeoutSeconds: f.idle},
		GroupWise: &f.target,
		Ended:     ended,
	}, nil
}

func (f *fakeFunctions) Release(ctx context.Context, req lambdaapi.ReleaseRequest) error {
	f.mu.Lock()
	hook := f.releaseHook
	f.mu.Unlock()
	if hook != nil {
		if err := hook(ctx); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, req)
	return nil
}

func (f *fakeFunctions) releases() []lambdaapi.ReleaseRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]lambdaapi.ReleaseRequest(nil), f.released...)
}

// fakeLeases records the edge's store calls; sessions named in gone are
// reported gone by the next reconciliation.
type fakeLeases struct {
	mu       sync.Mutex
	gone     map[string]bool
	renewals int
	addr     string // the address the last renewal advertised
	expired  bool
	statuses int // activity writes that are not coverage changes (silence)
	coverage []admission.Coverage
	strays   []admission.SessionRef // what Reconcile reports stray
}

func (l *fakeLeases) RenewTaskLease(_ context.Context, task, addr string) (admission.TaskLease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.renewals++
	l.addr = addr
	return admission.TaskLease{Task: task, Addr: addr, Expires: time.Now().Add(time.Minute)}, nil
}

func (l *fakeLeases) ExpireTaskLease(context.Context, string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expired = true
	return nil
}

func (l *fakeLeases) Reconcile(_ context.Context, _ string, refs []admission.SessionRef) (gone, strays []admission.SessionRef, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range refs {
		if l.gone[r.ID] {
			gone = append(gone, r)
		}
	}
	return gone, slices.Clone(l.strays), nil
}

func (l *fakeLeases) SetActivity(_ context.Context, _ string, _ admission.SessionRef, a admission.Activity) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.CoverageSince.IsZero() {
		l.statuses++
	} else {
		l.coverage = append(l.coverage, a.Coverage)
	}
	return nil
}

func (l *fakeLeases) SetConnectivity(context.Context, string, admission.SessionRef, admission.Connectivity) error {
	return nil
}

func (l *fakeLeases) markGone(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone == nil {
		l.gone = map[string]bool{}
	}
	l.gone[id] = true
}

// testEdge is an edge on loopback with fake functions and store and the
// GroupWise simulator.
type testEdge struct {
	t        testing.TB
	srv      *Server
	owner    string
	addr     string
	peerAddr string // with WithPeer
	sim      *gwsim.Server
	fn       *fakeFunctions
	leases   *fakeLeases
	gateway  devproto.PublicKey
	stop     context.CancelFunc
	runErr   chan error
}

func newTestEdge(t *testing.T, simOpts []gwsim.Option, opts ...Option) *testEdge {
	t.Helper()
	return newTestEdgeWithKey(t, testKey(t, 0), simOpts, opts...)
}

// newTestEdgeWithKey is newTestEdge with the gateway key gwKey.
func newTestEdgeWithKey(t *testing.T, gwKey devproto.PrivateKey, simOpts []gwsim.Option, opts ...Option) *testEdge {
	t.Helper()
	sim, fn := newTestBackend(t, simOpts...)
	return startTestEdge(t, sim, fn, &fakeLeases{}, "edge-test", gwKey, opts...)
}

// newTestBackend starts the GroupWise simulator and the fake functions
// pointed at it, which any number of edges may share.
func newTestBackend(t testing.TB, simOpts ...gwsim.Option) (*gwsim.Server, *fakeFunctions) {
	t.Helper()
	sim, err := gwsim.New(append([]gwsim.Option{gwsim.WithDemoUsers(20)}, simOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(t.Context(), "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := sim.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(sim.Addr())
	p, _ := strconv.Atoi(port)
	return sim, &fakeFunctions{target: lambdaapi.GroupWise{Host: host, Port: p, CARef: ca}, refuse: map[string]status.Code{}}
}

// startTestEdge runs an edge named owner with the gateway key gwKey (and
// its peer port open when opts include WithPeer) until the test ends.
func startTestEdge(t testing.TB, sim *gwsim.Server, fn *fakeFunctions, leases *fakeLeases, owner string, gwKey devproto.PrivateKey, opts ...Option) *testEdge {
	t.Helper()
	gwPub, _ := gwKey.Public()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	base := []Option{WithLogger(log), WithAddrRate(0, 0), WithDeviceRate(0, 0), WithDrainTimeout(5 * time.Second)}
	srv, err := New(gwKey, owner, fn, fn, leases, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var peerAddr string
	if srv.peerSrv != nil {
		pln, err := srv.ListenPeer(t.Context(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peerAddr = pln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &testEdge{
		t: t, srv: srv, owner: owner, addr: ln.Addr().String(), peerAddr: peerAddr, sim: sim, fn: fn, leases: leases,
		gateway: gwPub, stop: cancel, runErr: make(chan error, 1),
	}
	go func() { e.runErr <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-e.runErr:
			if err != nil {
				t.Logf("edge stopped: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("edge did not stop")
		}
	})
	return e
}

// shutdown ends Run and returns its error.
func (e *testEdge) shutdown() error {
	e.stop()
	select {
	case err := <-e.runErr:
		e.runErr <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		return errors.New("edge did not stop")
	}
}

// testKey is a fixed key per i: X25519 takes any 32 bytes as a private key
// (and crypto/ecdh ignores a caller's random source since Go 1.26).
func testKey(t testing.TB, i int) devproto.PrivateKey {
	t.Helper()
	var k devproto.PrivateKey
	for j := range k {
		k[j] = byte(i*7 + j + 1)
	}
	if _, err := k.Public(); err != nil {
		t.Fatal(err)
	}
	return k
}

// device is one test device (numbered from 1) that logs in as userNNNN.
type device struct {
	t      testing.TB
	e      *testEdge
	id     string
	user   string
	client *devconn.Client
	sess   *devconn.Session
}

func (e *testEdge) device(i int) *device {
	c, err := devconn.NewClient(testKey(e.t, i), e.gateway, devconn.WithHandshakeTimeout(5*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	return &device{t: e.t, e: e, id: demo.DeviceID(i), user: demo.UserID(i), client: c}
}

// login logs in and returns the status code (ACCEPTED keeps the session).
func (d *device) login(password string) *devproto.ServerStatus {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := d.client.Dial(ctx, d.e.addr)
	if err != nil {
		d.t.Fatal(err)
	}
	s, err := d.client.Login(ctx, conn, devproto.Login{DeviceID: d.id, UserID: d.user, Password: devproto.Password(password)})
	return d.result(s, err)
}

func (d *device) resume(token devproto.ResumeToken, sessionID string) *devproto.ServerStatus {
	d.t.Helper()
	return d.resumeAt(d.e.addr, token, sessionID)
}

// resumeAt resumes through the edge at addr (a device back from a coverage
// loss, which the load balancer sent anywhere).
func (d *device) resumeAt(addr string, token devproto.ResumeToken, sessionID string) *devproto.ServerStatus {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := d.client.Dial(ctx, addr)
	if err != nil {
		d.t.Fatal(err)
	}
	s, err := d.client.Resume(ctx, conn, devproto.Resume{DeviceID: d.id, SessionID: sessionID, Token: token})
	return d.result(s, err)
}

func (d *device) result(s *devconn.Session, err error) *devproto.ServerStatus {
	d.t.Helper()
	var rej *devconn.RejectedError
	if errors.As(err, &rej) {
		return rej.Status
	}
	if err != nil {
		d.t.Fatalf("%s: %v", d.id, err)
	}
	d.sess = s
	d.t.Cleanup(func() { s.Close() })
	return s.Accepted()
}

func (d *device) mustLogin() *devproto.ServerStatus {
	d.t.Helper()
	st := d.login(gwsim.DemoPassword)
	if st.Code != status.Accepted {
		d.t.Fatalf("%s login: %v", d.id, st.Code)
	}
	return st
}

func (d *device) send(m devproto.Message) {
	d.t.Helper()
	if err := d.sess.Send(context.Background(), m); err != nil {
		d.t.Fatalf("%s send: %v", d.id, err)
	}
}

// receive waits for the next message of type want, skipping others.
func (d *device) receive(want devproto.MsgType) devproto.Message {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		m, err := d.sess.Receive(ctx)
		if err != nil {
			d.t.Fatalf("%s waiting for %v: %v", d.id, want, err)
		}
		if m.Type() == want {
			return m
		}
	}
}

// groupWiseUser logs a user in to the simulator directly, as a desktop
// client would, and collects the IMs it receives.
type groupWiseUser struct {
	c   *gwclient.Client
	ims chan gwproto.Event
}

func (e *testEdge) groupWiseUser(name string, opts ...gwclient.Option) *groupWiseUser {
	e.t.Helper()
	u := &groupWiseUser{ims: make(chan gwproto.Event, 16)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := gwclient.Dial(ctx, e.sim.Addr(), append([]gwclient.Option{gwclient.WithCACertPEM(e.sim.CACertPEM()), gwclient.WithEventHandler(func(ev gwproto.Event) {
		if ev.Type == gwproto.EventReceiveMessage {
			u.ims <- ev
		}
	})}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.Login(ctx, name, gwsim.DemoPassword, "test", ""); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	u.c = c
	return u
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
