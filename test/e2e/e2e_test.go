package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn/loadgen"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/status"
)

// Demo users are split among the tests so that each pool's counter is its
// own: 1–10 stay in the seeded pool.
const demoPool = localstack.DefaultPool

func TestAcceptedAndIMsBothWays(t *testing.T) {
	for _, tt := range []struct {
		name string
		user int
		edge func(t *testing.T) *edgeProc
	}{
		{"edge process", 1, func(t *testing.T) *edgeProc { return startEdge(t) }},
		{"the local stack's own edge", 8, func(*testing.T) *edgeProc { return &edgeProc{addr: stack.Fleet.Addr()} }},
	} {
		t.Run(tt.name, func(t *testing.T) { acceptedAndIMs(t, tt.edge(t), tt.user) })
	}
}

func acceptedAndIMs(t *testing.T, e *edgeProc, user int) {
	d := newDevice(t, user)
	d.mustLogin(e)
	if d.st.SessionID == "" || d.st.ResumeToken.IsZero() {
		t.Fatalf("ACCEPTED without session id or token: %+v", d.st)
	}
	bob := desktop(t, "user0002")

	if err := d.sess.Send(t.Context(), &devproto.SendIM{To: "user0002", Text: "hi bob, from the phone"}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-bob.ims:
		if ev.Text != "hi bob, from the phone" {
			t.Fatalf("bob got %q", ev.Text)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bob got nothing")
	}
	if err := bob.c.SendMessage(t.Context(), demo.UserID(user), "hi phone, from the desktop"); err != nil {
		t.Fatal(err)
	}
	im := d.receive(devproto.TypeReceiveIM, 10*time.Second).(*devproto.ReceiveIM)
	if im.From != "user0002" || im.Text != "hi phone, from the desktop" {
		t.Fatalf("device got %+v", im)
	}
}

func TestServerBusyAtMax(t *testing.T) {
	pool(t, "busy", admission.PoolConfig{MaxSessions: 2}, 11, 13)
	e := startEdge(t)
	newDevice(t, 11).mustLogin(e)
	newDevice(t, 12).mustLogin(e)
	if got := newDevice(t, 13).login(e, gwsim.DemoPassword); got != status.ServerBusy {
		t.Fatalf("third login: %v, want SERVER_BUSY", got)
	}
	if n := counter(t, "busy"); n != 2 {
		t.Fatalf("counter %d, want 2", n)
	}
}

func TestFailed300AtProtocolLimit(t *testing.T) {
	pool(t, "limit", admission.PoolConfig{ProtocolLimit: 1}, 14, 15)
	e := startEdge(t)
	newDevice(t, 14).mustLogin(e)
	if got := newDevice(t, 15).login(e, gwsim.DemoPassword); got != status.Failed300 {
		t.Fatalf("second login: %v, want FAILED_300", got)
	}
}

func TestNotPermitted(t *testing.T) {
	if err := stack.Store.PutUser(t.Context(), admission.User{ID: demo.UserID(18), Pool: demoPool, Permitted: false}); err != nil {
		t.Fatal(err)
	}
	e := startEdge(t)
	logins := stack.Simulator.Requests("login")
	if got := newDevice(t, 18).login(e, gwsim.DemoPassword); got != status.NotPermitted {
		t.Fatalf("login: %v, want NOT_PERMITTED", got)
	}
	if stack.Simulator.Requests("login") != logins {
		t.Fatal("a user who is not permitted reached GroupWise")
	}
}

func TestBadCredentialsLeaksNoSlot(t *testing.T) {
	pool(t, "badpw", admission.PoolConfig{MaxSessions: 1}, 3, 3)
	e := startEdge(t)
	for range 3 { // a leaked slot would make the second attempt SERVER_BUSY
		if got := newDevice(t, 3).login(e, "not-the-password"); got != status.BadCredentials {
			t.Fatalf("login: %v, want BAD_CREDENTIALS", got)
		}
		if n, l := counter(t, "badpw"), live(t, "badpw"); n != 0 || l != 0 {
			t.Fatalf("after BAD_CREDENTIALS: counter %d, live sessions %d", n, l)
		}
	}
}

func TestIdleSessionEvictedAndLoggedOut(t *testing.T) {
	pool(t, "idle", admission.PoolConfig{MaxSessions: 1, IdleTimeout: 2 * time.Second}, 16, 17)
	e := startEdge(t)
	idle := newDevice(t, 16)
	idle.mustLogin(e)
	time.Sleep(2500 * time.Millisecond) // no STATUS: idle past the timeout
	newDevice(t, 17).mustLogin(e)
	got := idle.receive(devproto.TypeServerStatus, 2*heartbeat+time.Second).(*devproto.ServerStatus)
	if got.Code != status.LoggedOut {
		t.Fatalf("evicted device told %v, want LOGGED_OUT", got.Code)
	}
	if n := counter(t, "idle"); n != 1 {
		t.Fatalf("counter %d, want 1", n)
	}
}

func TestResumeAfterDropDeliversQueuedIMs(t *testing.T) {
	e := startEdge(t)
	d := newDevice(t, 4)
	d.mustLogin(e)
	carol := desktop(t, "user0005")
	logins := stack.Simulator.Requests("login")

	d.sess.Close() // the phone loses coverage
	eventually(t, "coverage out in the store", 5*time.Second, func() bool {
		ss, err := stack.Store.ListSessions(t.Context(), demoPool)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			if s.ID == d.st.SessionID {
				return s.Coverage == admission.CoverageOut
			}
		}
		return false
	})
	want := []string{"are you there?", "call me when you can"}
	for _, text := range want {
		if err := carol.c.SendMessage(t.Context(), "user0004", text); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // let the IMs reach the edge's queue

	if got := d.resume(e); got != status.Accepted {
		t.Fatalf("resume: %v", got)
	}
	for _, text := range want {
		if im := d.receive(devproto.TypeReceiveIM, 10*time.Second).(*devproto.ReceiveIM); im.Text != text {
			t.Fatalf("got %q, want %q", im.Text, text)
		}
	}
	if stack.Simulator.Requests("login") != logins {
		t.Fatal("the resume logged in to GroupWise again")
	}
}

func TestKilledEdgeSlotsAreSwept(t *testing.T) {
	pool(t, "kill", admission.PoolConfig{MaxSessions: 10}, 21, 25)
	e := startEdge(t)
	for i := 21; i <= 25; i++ {
		newDevice(t, i).mustLogin(e)
	}
	if n := counter(t, "kill"); n != 5 {
		t.Fatalf("counter %d, want 5", n)
	}
	e.signal(syscall.SIGKILL) // no drain, no release
	_ = e.wait(5 * time.Second)
	time.Sleep(lease + 500*time.Millisecond) // the leases expire unrenewed
	if _, err := stack.Sweep(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, l := counter(t, "kill"), live(t, "kill"); n != 0 || l != 0 {
		t.Fatalf("after the sweep: counter %d, live sessions %d; want 0 and 0", n, l)
	}
}

func TestSIGTERMDrains(t *testing.T) {
	pool(t, "drain", admission.PoolConfig{MaxSessions: 10}, 26, 28)
	e := startEdge(t)
	devs := []*device{newDevice(t, 26), newDevice(t, 27), newDevice(t, 28)}
	for _, d := range devs {
		d.mustLogin(e)
	}
	loggedIn := stack.Simulator.LoggedIn()
	start := time.Now()
	e.signal(syscall.SIGTERM)
	for _, d := range devs {
		got := d.receive(devproto.TypeServerStatus, 10*time.Second).(*devproto.ServerStatus)
		if got.Code != status.ServerBusy || got.RetryAfter <= 0 {
			t.Fatalf("device %d told %v retry %v, want SERVER_BUSY with a retry delay", d.i, got.Code, got.RetryAfter)
		}
	}
	if err := e.wait(10 * time.Second); err != nil {
		t.Fatalf("edge exit: %v", err)
	}
	took := time.Since(start)
	if n, l := counter(t, "drain"), live(t, "drain"); n != 0 || l != 0 {
		t.Fatalf("after the drain: counter %d, live %d", n, l)
	}
	eventually(t, "GroupWise logouts", 5*time.Second, func() bool { return stack.Simulator.LoggedIn() <= loggedIn-3 })
	t.Logf("drained 3 sessions and exited in %v", took)
}

func TestDeviceLoginCommand(t *testing.T) {
	e := startEdge(t)
	run := func(user, password string) (map[string]any, int) {
		cmd := exec.Command(filepath.Join(binDir, "collabgw"), "device", "login", "--json",
			"--edge", e.addr, "--gateway-key", stack.GatewayPubFile,
			"--key", filepath.Join(stack.DeviceKeyDir, user+devproto.PrivateKeySuffix),
			"--user", user, "--password-file", "-")
		cmd.Stdin = strings.NewReader(password + "\n")
		out, err := cmd.Output()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
		return v, code
	}
	if v, code := run("user0006", "demo"); code != 0 || v["status"] != "ACCEPTED" || v["sessionId"] == "" {
		t.Fatalf("login: exit %d, %v", code, v)
	}
	if v, code := run("user0007", "wrong"); code != 2 || v["status"] != "BAD_CREDENTIALS" {
		t.Fatalf("bad password: exit %d, %v", code, v)
	}
}

func TestLoadGenerator(t *testing.T) {
	pool(t, "load", admission.PoolConfig{}, 31, 60)
	e := startEdge(t)
	gw, err := devproto.LoadPublicKey(stack.GatewayPubFile)
	if err != nil {
		t.Fatal(err)
	}
	var rssHeld int
	rssBefore := rss(t, e.e.Pid())
	rep, err := loadgen.Run(t.Context(), loadgen.Config{
		Edge: e.addr, Gateway: gw, KeyDir: stack.DeviceKeyDir, First: 31, Users: 30, Concurrency: 8,
		Password: "demo", Hold: 2 * time.Second, StatusEvery: 500 * time.Millisecond,
		Held: func(context.Context, int) {
			eventually(t, "30 sessions held", 5*time.Second, func() bool { return counter(t, "load") == 30 })
			rssHeld = rss(t, e.e.Pid())
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Statuses["ACCEPTED"] != 30 || rep.Held != 30 || rep.Dropped != 0 {
		t.Fatalf("report %+v", rep)
	}
	eventually(t, "logouts released every slot", 5*time.Second, func() bool { return counter(t, "load") == 0 })
	t.Logf("30 logins: %.0f/s, p50 %.1f ms, p99 %.1f ms; edge RSS %d KiB → %d KiB held",
		rep.LoginsPS, rep.P50ms, rep.P99ms, rssBefore, rssHeld)

	// The same devices again, open loop: started on schedule at 20/s.
	open, err := loadgen.Run(t.Context(), loadgen.Config{
		Edge: e.addr, Gateway: gw, KeyDir: stack.DeviceKeyDir, First: 31, Users: 30, Rate: 20, MaxInFlight: 16,
		Password: "demo", Hold: time.Second, StatusEvery: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if open.Mode != "open" || open.Statuses["ACCEPTED"] != 30 || open.Held != 30 {
		t.Fatalf("open-loop report %+v", open)
	}
	eventually(t, "open-loop logouts released every slot", 5*time.Second, func() bool { return counter(t, "load") == 0 })
	t.Logf("30 logins offered at 20/s: p50 %.1f ms, p99 %.1f ms, %d started late", open.P50ms, open.P99ms, open.StartedLate)
}

// rss reads a process's resident set size in KiB.
func rss(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kib int
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib); err != nil {
				t.Fatal(err)
			}
			return kib
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
