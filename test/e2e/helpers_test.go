package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwclient"
	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/lambdabuild"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/status"
)

// The lease is short so that a killed edge's sessions expire within the
// test: 3 s, renewed every second.
const (
	lease     = 3 * time.Second
	heartbeat = time.Second
	demoUsers = 60
)

var (
	stack  *localstack.Stack
	binDir string // the collabgw binary (the stack builds the edge)
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		return 0
	}
	dir, err := os.MkdirTemp("", "collabgw-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cache, err := ddblocal.CacheDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	binDir = filepath.Join(dir, "bin")
	if err := buildBinaries(ctx, binDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build:", err)
		return 1
	}
	stack, err = localstack.Start(ctx, localstack.Config{
		DataDir: filepath.Join(dir, "stack"), InMemory: true, CacheDir: cache,
		LambdaAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0", // DynamoDB Local: a free port
		Pool:      admission.PoolConfig{Name: localstack.DefaultPool},
		DemoUsers: demoUsers, Lease: lease, Heartbeat: heartbeat, SweepEvery: time.Hour,
		// The stack's own edge, as `make run` has; most tests start their
		// own, as processes they can kill.
		Edges: 1, EdgeAddr: "127.0.0.1:0",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: local stack:", err)
		return 1
	}
	defer stack.Close()
	return m.Run()
}

func buildBinaries(ctx context.Context, out string) error {
	root, err := lambdabuild.ModuleRoot(".")
	if err != nil {
		return err
	}
	for _, pkg := range []string{"./cmd/collabgw"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out+"/", pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
	}
	return nil
}

// pool puts a pool pointing at the simulator and moves the demo users
// first..last into it; optional users are marked not permitted.
func pool(t *testing.T, name string, cfg admission.PoolConfig, first, last int) {
	t.Helper()
	ctx := t.Context()
	cfg.Name, cfg.GroupWise = name, stack.Config.Pool.GroupWise
	if _, err := stack.Store.PutPool(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for i := first; i <= last; i++ {
		if err := stack.Store.PutUser(ctx, admission.User{ID: demo.UserID(i), Pool: name, Permitted: true}); err != nil {
			t.Fatal(err)
		}
	}
}

func counter(t *testing.T, pool string) int {
	t.Helper()
	n, err := stack.Store.Counter(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func live(t *testing.T, pool string) int {
	t.Helper()
	ss, err := stack.Store.ListSessions(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}

// edgeProc is the edge binary running against the stack, through the
// local stack's fleet API (the same wiring as `make run`).
type edgeProc struct {
	t    *testing.T
	e    *localstack.Edge
	addr string
}

// startEdge runs one edge process with the manifest's environment pointed
// at the stack (extraEnv added), and waits until it is healthy.
func startEdge(t *testing.T, extraEnv ...string) *edgeProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	f, err := stack.StartFleet(ctx, localstack.FleetConfig{
		Edges: 1, Env: append([]string{manifest.EnvDrainSeconds + "=10"}, extraEnv...),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &edgeProc{t: t, e: f.Edge(0), addr: f.Addr()}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Logf("edge stop: %v", err)
		}
		if t.Failed() {
			t.Logf("edge log:\n%s", e.e.Log())
		}
	})
	return e
}

// signal sends sig to the edge process.
func (e *edgeProc) signal(sig syscall.Signal) {
	e.t.Helper()
	if err := e.e.Signal(sig); err != nil {
		e.t.Fatal(err)
	}
}

// wait waits for the process to exit, within d, and returns its exit error.
func (e *edgeProc) wait(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := e.e.Wait(ctx); err != nil {
		return err
	}
	return e.e.ExitErr()
}

// device is a demo device (number i) logging in as its demo user.
type device struct {
	t      *testing.T
	i      int
	client *devconn.Client
	sess   *devconn.Session
	st     *devproto.ServerStatus
}

func newDevice(t *testing.T, i int) *device {
	t.Helper()
	c, err := stack.DeviceClient(i)
	if err != nil {
		t.Fatal(err)
	}
	return &device{t: t, i: i, client: c}
}

func (d *device) login(e *edgeProc, password string) status.Code {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), 10*time.Second)
	defer cancel()
	conn, err := d.client.Dial(ctx, e.addr)
	if err != nil {
		d.t.Fatal(err)
	}
	s, err := d.client.Login(ctx, conn, devproto.Login{
		DeviceID: demo.DeviceID(d.i), UserID: demo.UserID(d.i), Password: devproto.Password(password),
	})
	return d.result(s, err)
}

func (d *device) resume(e *edgeProc) status.Code {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), 10*time.Second)
	defer cancel()
	conn, err := d.client.Dial(ctx, e.addr)
	if err != nil {
		d.t.Fatal(err)
	}
	s, err := d.client.Resume(ctx, conn, devproto.Resume{DeviceID: demo.DeviceID(d.i), SessionID: d.st.SessionID, Token: d.st.ResumeToken})
	return d.result(s, err)
}

func (d *device) result(s *devconn.Session, err error) status.Code {
	d.t.Helper()
	var rej *devconn.RejectedError
	if errors.As(err, &rej) {
		return rej.Status.Code
	}
	if err != nil {
		d.t.Fatalf("device %d: %v", d.i, err)
	}
	d.sess, d.st = s, s.Accepted()
	d.t.Cleanup(func() { s.Close() })
	return status.Accepted
}

func (d *device) mustLogin(e *edgeProc) {
	d.t.Helper()
	if got := d.login(e, gwsim.DemoPassword); got != status.Accepted {
		d.t.Fatalf("device %d login: %v", d.i, got)
	}
}

// receive waits for the next message of type want, skipping others.
func (d *device) receive(want devproto.MsgType, within time.Duration) devproto.Message {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), within)
	defer cancel()
	for {
		m, err := d.sess.Receive(ctx)
		if err != nil {
			d.t.Fatalf("device %d waiting for %v: %v", d.i, want, err)
		}
		if m.Type() == want {
			return m
		}
	}
}

// desktopUser is a GroupWise user logged in to the simulator directly.
type desktopUser struct {
	c   *gwclient.Client
	ims chan gwproto.Event
}

func desktop(t *testing.T, user string) *desktopUser {
	t.Helper()
	u := &desktopUser{ims: make(chan gwproto.Event, 16)}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := gwclient.Dial(ctx, stack.GroupWiseAddr, gwclient.WithCACertPEM(stack.Simulator.CACertPEM()),
		gwclient.WithEventHandler(func(ev gwproto.Event) {
			if ev.Type == gwproto.EventReceiveMessage {
				u.ims <- ev
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, user, gwsim.DemoPassword, "e2e", ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	u.c = c
	return u
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
