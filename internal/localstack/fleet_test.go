package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/status"
)

// fleetPool holds the demo users the fleet tests log in (3 and up), with no
// maximum, apart from the seeded pool the event tests use.
const fleetPool = "fleet"

// fleetStack returns the shared stack with the fleet pool set up. The
// users are checked on every call, not once: the seed test puts every demo
// user back in the seeded pool (with its maximum of 5), and with -count=N
// the fleet tests of a later round run after it.
func fleetStack(t *testing.T) *Stack {
	t.Helper()
	s := startStack(t)
	ctx := t.Context()
	if u, err := s.Store.GetUser(ctx, demo.UserID(3)); err == nil && u.Pool == fleetPool {
		return s
	}
	if _, err := s.Store.PutPool(ctx, admission.PoolConfig{Name: fleetPool, GroupWise: s.Config.Pool.GroupWise}); err != nil {
		t.Fatal(err)
	}
	for i := 3; i <= s.Config.DemoUsers; i++ {
		if err := s.Store.PutUser(ctx, admission.User{ID: demo.UserID(i), Pool: fleetPool, Permitted: true}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// startTestFleet starts a fleet that the test's end closes.
func startTestFleet(t *testing.T, s *Stack, cfg FleetConfig) *Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg.Env = append([]string{"COLLABGW_DRAIN_SECONDS=5"}, cfg.Env...)
	f, err := s.StartFleet(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("fleet close: %v", err)
		}
		if t.Failed() {
			for _, e := range f.Edges() {
				t.Logf("%s log:\n%s", e.Name, e.Log())
			}
		}
	})
	return f
}

// deviceClient is demo device i's client.
func deviceClient(t *testing.T, s *Stack, i int) *devconn.Client {
	t.Helper()
	c, err := s.DeviceClient(i)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// login logs demo device i in through addr.
func login(t *testing.T, s *Stack, addr string, i int) (*devconn.Session, status.Code) {
	t.Helper()
	c := deviceClient(t, s, i)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, addr)
	if err != nil {
		t.Fatalf("device %d: %v", i, err)
	}
	sess, err := c.Login(ctx, conn, devproto.Login{DeviceID: demo.DeviceID(i), UserID: demo.UserID(i), Password: gwsim.DemoPassword})
	var rej *devconn.RejectedError
	if errors.As(err, &rej) {
		return nil, rej.Status.Code
	}
	if err != nil {
		t.Fatalf("device %d: %v", i, err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess, status.Accepted
}

func mustLogin(t *testing.T, s *Stack, addr string, i int) *devconn.Session {
	t.Helper()
	sess, code := login(t, s, addr, i)
	if code != status.Accepted {
		t.Fatalf("device %d: %v, want ACCEPTED", i, code)
	}
	return sess
}

func TestFleetOfThreeBehindHAProxy(t *testing.T) {
	s := fleetStack(t)
	f := startTestFleet(t, s, FleetConfig{Edges: 3})
	if !f.Balanced() || f.BalancerStatsURL() == "" {
		t.Fatal("three edges without a balancer")
	}
	seen := map[string]string{}
	for _, e := range f.Edges() {
		for what, v := range map[string]string{"task": e.TaskID(), "device": e.DeviceAddr, "health": e.HealthAddr, "peer": e.PeerAddr} {
			if v == "" {
				t.Fatalf("%s has no %s", e.Name, what)
			}
			if other, dup := seen[v]; dup {
				t.Fatalf("%s's %s %s is also %s", e.Name, what, v, other)
			}
			seen[v] = e.Name + " " + what
		}
		if v := seen[f.Addr()]; v != "" {
			t.Fatalf("the balancer's address is %s", v)
		}
	}
	for i := 3; i <= 11; i++ {
		mustLogin(t, s, f.Addr(), i)
	}
	for _, e := range f.Edges() {
		st, err := e.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Logins["ACCEPTED"] == 0 {
			t.Errorf("%s took no login of 9 balanced round-robin: %+v", e.Name, st.Logins)
		}
	}
}

// TestFleetKillTerminateRestart drives the fault API the fleet tests use:
// kill -9, SIGTERM and restart, each followed by logins through the
// balancer.
func TestFleetKillTerminateRestart(t *testing.T) {
	s := fleetStack(t)
	f := startTestFleet(t, s, FleetConfig{Edges: 2})
	e1, e2 := f.Edge(0), f.Edge(1)

	oldTask := e1.TaskID()
	if err := e1.Kill(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e1.Running() || e1.ExitErr() == nil {
		t.Fatalf("after kill -9: running %v, exit %v", e1.Running(), e1.ExitErr())
	}
	// The balancer sends a connection refused by the dead edge to the live
	// one, before and after its health checks mark it down.
	for i := 12; i <= 15; i++ {
		mustLogin(t, s, f.Addr(), i)
	}
	waitFor(t, "haproxy marks edge1 down", func() bool {
		st, err := f.BalancerStates(t.Context())
		return err == nil && strings.HasPrefix(st[e1.Name], "DOWN")
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := f.Restart(ctx, e1); err != nil {
		t.Fatal(err)
	}
	if e1.TaskID() == "" || e1.TaskID() == oldTask {
		t.Fatalf("restarted task id %q, want a new one (was %q)", e1.TaskID(), oldTask)
	}

	// SIGTERM drains: the edge's device hears SERVER_BUSY (log in again
	// elsewhere), the edge exits cleanly and releases its sessions.
	sess := mustLogin(t, s, e2.DeviceAddr, 16)
	e2task := e2.TaskID()
	if err := e2.Terminate(ctx); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	m, err := sess.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := m.(*devproto.ServerStatus); !ok || st.Code != status.ServerBusy {
		t.Fatalf("the drained device got %v, want SERVER_BUSY", m)
	}
	ss, err := s.Store.ListSessions(t.Context(), fleetPool)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ss {
		if x.DeviceID == demo.DeviceID(16) || x.Owner == e2task {
			t.Fatalf("session %+v outlived its edge's drain", x)
		}
	}
	if n, err := s.Store.Counter(t.Context(), fleetPool); err != nil || n != len(ss) {
		t.Fatalf("counter %d after the drain, %d live sessions (%v)", n, len(ss), err)
	}
	if err := f.Restart(ctx, e2); err != nil {
		t.Fatal(err)
	}
	mustLogin(t, s, f.Addr(), 17)
	mustLogin(t, s, f.Addr(), 18)
}

func TestFleetRestartsACrashedEdge(t *testing.T) {
	s := fleetStack(t)
	f := startTestFleet(t, s, FleetConfig{Edges: 1, Restart: true})
	e := f.Edge(0)
	pid, task := e.Pid(), e.TaskID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil { // a crash: not through the API
		t.Fatal(err)
	}
	waitFor(t, "a new edge process", func() bool { return e.Pid() != pid && e.Running() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := e.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if e.TaskID() == task {
		t.Fatalf("the restarted edge kept task id %s", task)
	}
	mustLogin(t, s, f.Addr(), 19)
}

func TestSingleEdgeIsReachedDirectly(t *testing.T) {
	s := fleetStack(t)
	f := startTestFleet(t, s, FleetConfig{Edges: 1})
	if f.Balanced() || f.Addr() != f.Edge(0).DeviceAddr {
		t.Fatalf("one edge: balanced %v, addr %s, edge %s", f.Balanced(), f.Addr(), f.Edge(0).DeviceAddr)
	}
	mustLogin(t, s, f.Addr(), 20)
}

func TestFleetCloseLeavesNoProcess(t *testing.T) {
	s := fleetStack(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	f, err := s.StartFleet(ctx, FleetConfig{Edges: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustLogin(t, s, f.Addr(), 21)
	pids := []int{f.balancer.cmd.Process.Pid}
	for _, e := range f.Edges() {
		pids = append(pids, e.Pid())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d runs after Close", pid)
		}
	}
	if n, err := s.Store.Counter(t.Context(), fleetPool); err != nil || n != liveIn(t, s, fleetPool) {
		t.Errorf("counter %d, live %d (%v)", n, liveIn(t, s, fleetPool), err)
	}
}

// TestAbandonedAndKilledEmulatorsDoNotCostLogins is issue 14.1's regression
// test over the real functions: invokes of authorize abandoned mid-flight
// (6 MB payloads from clients that hang up), an idle authorize emulator
// killed, then 40 logins through an edge all succeed.
func TestAbandonedAndKilledEmulatorsDoNotCostLogins(t *testing.T) {
	s := fleetStack(t)
	f := startTestFleet(t, s, FleetConfig{Edges: 1})
	addr := strings.TrimPrefix(s.LambdaEndpoint, "http://")
	body := `{"requestId":"` + strings.Repeat("x", 6<<20-100) + `"}`
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /2015-03-31/functions/authorize/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			time.Sleep(5 * time.Millisecond) // hang up while the invoke runs
		})
	}
	wg.Wait()
	idle := 0
	waitFor(t, "an idle authorize emulator", func() bool {
		for _, inst := range s.Functions.Instances("authorize") {
			if !inst.Busy {
				idle = inst.Pid
				return true
			}
		}
		return false
	})
	if err := syscall.Kill(idle, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Four devices at a time: a loaded 2-core machine must still answer
	// each within the edge's login timeout.
	var mu sync.Mutex
	codes := map[status.Code]int{}
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				_, code := login(t, s, f.Addr(), i)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		})
	}
	for i := 22; i <= 61; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if codes[status.Accepted] != 40 {
		t.Fatalf("40 logins after the faults: %v", codes)
	}
}

func liveIn(t *testing.T, s *Stack, pool string) int {
	t.Helper()
	ss, err := s.Store.ListSessions(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestResumeOnAnotherEdge checks the fleet's task-to-task wiring: a device
// logged in on edge1 that loses its link resumes on edge2, keeping its
// session and its single GroupWise login.
func TestResumeOnAnotherEdge(t *testing.T) {
	s := fleetStack(t)
	f := startTestFleet(t, s, FleetConfig{Edges: 2})
	const i = 62
	c := deviceClient(t, s, i)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := c.Dial(ctx, f.Edge(0).DeviceAddr)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.Login(ctx, conn, devproto.Login{DeviceID: demo.DeviceID(i), UserID: demo.UserID(i), Password: gwsim.DemoPassword})
	if err != nil {
		t.Fatal(err)
	}
	st := sess.Accepted()
	logins := s.Simulator.Requests("login")
	sess.Close() // coverage lost
	var resumed *devconn.Session
	waitFor(t, "a resume on edge2", func() bool {
		conn, err := c.Dial(ctx, f.Edge(1).DeviceAddr)
		if err != nil {
			t.Fatal(err)
		}
		resumed, err = c.Resume(ctx, conn, devproto.Resume{DeviceID: demo.DeviceID(i), SessionID: st.SessionID, Token: st.ResumeToken})
		return err == nil
	})
	defer resumed.Close()
	if got := resumed.Accepted().SessionID; got != st.SessionID {
		t.Fatalf("resumed session %s, want %s", got, st.SessionID)
	}
	if n := s.Simulator.Requests("login"); n != logins {
		t.Fatalf("%d GroupWise logins for a resume, want none", n-logins)
	}
}
