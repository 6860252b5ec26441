package edge

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/status"
)

func TestLoginAndIMsBothWays(t *testing.T) {
	e := newTestEdge(t, nil)
	d := e.device(1)
	st := d.mustLogin()
	if st.SessionID == "" || st.ResumeToken.IsZero() || st.StatusInterval <= 0 {
		t.Fatalf("ACCEPTED without session id, token or status interval: %+v", st)
	}
	bob := e.groupWiseUser("user0002")

	d.send(&devproto.SendIM{To: "user0002", Text: "hello from the device", ClientMsgID: 1})
	select {
	case ev := <-bob.ims:
		if ev.Text != "hello from the device" {
			t.Fatalf("GroupWise user got %q", ev.Text)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("GroupWise user got no IM")
	}

	if err := bob.c.SendMessage(context.Background(), "user0001", "hello from GroupWise"); err != nil {
		t.Fatal(err)
	}
	im := d.receive(devproto.TypeReceiveIM).(*devproto.ReceiveIM)
	if im.From != "user0002" || im.Text != "hello from GroupWise" {
		t.Fatalf("device got %+v", im)
	}

	req := e.fn.requests[0]
	if req.UserID != "user0001" || req.DeviceID != "device0001" || len(req.ResumeTokenHash) != 32 || req.RequestID == "" {
		t.Fatalf("authorize request %+v", req)
	}
	if h := st.ResumeToken.Hash(); string(h[:]) != string(req.ResumeTokenHash) {
		t.Fatal("authorize was sent a hash that is not the token's")
	}
}

func TestRefusalsReachTheDevice(t *testing.T) {
	tests := []struct {
		name string
		code status.Code
	}{
		{"busy", status.ServerBusy},
		{"protocol limit", status.Failed300},
		{"not permitted", status.NotPermitted},
		{"revoked", status.DeviceRevoked},
		{"replayed", status.ProtocolError},
	}
	e := newTestEdge(t, nil)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.device(i + 1)
			e.fn.mu.Lock()
			e.fn.refuse[d.user] = tt.code
			e.fn.mu.Unlock()
			if got := d.login(gwsim.DemoPassword); got.Code != tt.code || got.Message != tt.code.Text() {
				t.Fatalf("got %v %q, want %v", got.Code, got.Message, tt.code)
			}
		})
	}
	if n := e.sim.Requests("login"); n != 0 {
		t.Fatalf("%d GroupWise logins for refused devices", n)
	}
	if r := e.fn.releases(); len(r) != 0 {
		t.Fatalf("released %v for refused logins", r)
	}
}

func TestGroupWiseFailureReleasesTheSlot(t *testing.T) {
	tests := []struct {
		name     string
		user     int
		password string
		breakGW  bool
		want     status.Code
	}{
		{"bad password", 1, "wrong", false, status.BadCredentials},
		{"locked", 2, gwsim.DemoPassword, false, status.AccountLocked},
		{"unreachable", 3, gwsim.DemoPassword, true, status.GroupWiseUnavailable},
	}
	e := newTestEdge(t, []gwsim.Option{gwsim.WithLocked("user0002")})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.breakGW {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				port := ln.Addr().(*net.TCPAddr).Port
				ln.Close()
				e.fn.mu.Lock()
				e.fn.target.Port = port
				e.fn.mu.Unlock()
			}
			d := e.device(tt.user)
			before := len(e.fn.releases())
			if got := d.login(tt.password); got.Code != tt.want {
				t.Fatalf("got %v, want %v", got.Code, tt.want)
			}
			rel := e.fn.releases()
			if len(rel) != before+1 || rel[before].Session.DeviceID != d.id {
				t.Fatalf("releases %+v, want one for %s", rel[before:], d.id)
			}
			if e.srv.Stats().Sessions != 0 {
				t.Fatal("a refused session is held")
			}
		})
	}
}

func TestResumeDeliversQueuedMessages(t *testing.T) {
	e := newTestEdge(t, nil)
	d := e.device(1)
	st := d.mustLogin()
	bob := e.groupWiseUser("user0002")

	d.sess.Close() // out of coverage
	eventually(t, "the edge to notice the drop", func() bool { return e.srv.Stats().Detached == 1 })
	for _, text := range []string{"first while away", "second while away"} {
		if err := bob.c.SendMessage(context.Background(), "user0001", text); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "both IMs to queue", func() bool {
		ss := e.srv.lookup(st.SessionID)
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return len(ss.queue) == 2
	})
	logins := e.sim.Requests("login")

	re := d.resume(st.ResumeToken, st.SessionID)
	if re.Code != status.Accepted || re.SessionID != st.SessionID || re.ResumeToken == st.ResumeToken {
		t.Fatalf("resume: %v (same token: %v)", re.Code, re.ResumeToken == st.ResumeToken)
	}
	for _, want := range []string{"first while away", "second while away"} {
		if im := d.receive(devproto.TypeReceiveIM).(*devproto.ReceiveIM); im.Text != want {
			t.Fatalf("got %q, want %q", im.Text, want)
		}
	}
	if e.sim.Requests("login") != logins {
		t.Fatal("resume logged in to GroupWise again")
	}
	e.leases.mu.Lock()
	cov := e.leases.coverage
	e.leases.mu.Unlock()
	if len(cov) != 2 || cov[0] != admission.CoverageOut || cov[1] != admission.CoverageIn {
		eventually(t, "coverage out then in", func() bool {
			e.leases.mu.Lock()
			defer e.leases.mu.Unlock()
			return len(e.leases.coverage) == 2 && e.leases.coverage[1] == admission.CoverageIn
		})
	}

	// The old token was used up, and a stranger's key never resumes.
	other := e.device(2)
	other.id = d.id
	if got := other.resume(re.ResumeToken, st.SessionID); got.Code != status.LoggedOut {
		t.Fatalf("resume with another device's key: %v", got.Code)
	}
	d2 := e.device(1)
	if got := d2.resume(st.ResumeToken, st.SessionID); got.Code != status.LoggedOut {
		t.Fatalf("resume with a used token: %v", got.Code)
	}
}

func TestGraceExpiryReleases(t *testing.T) {
	e := newTestEdge(t, nil, WithCoverageGrace(100*time.Millisecond))
	d := e.device(1)
	d.mustLogin()
	d.sess.Close()
	eventually(t, "release after the grace period", func() bool {
		r := e.fn.releases()
		return len(r) == 1 && r[0].Reason == "coverage-grace-expired"
	})
	eventually(t, "GroupWise logout", func() bool { return e.sim.LoggedIn() == 0 })
	if st := e.srv.Stats(); st.Sessions != 0 || st.Detached != 0 {
		t.Fatalf("stats after grace expiry: %+v", st)
	}
}

func TestRenewalGoneLogsOut(t *testing.T) {
	e := newTestEdge(t, nil, WithHeartbeat(20*time.Millisecond))
	d := e.device(1)
	st := d.mustLogin()
	e.leases.markGone(st.SessionID)
	got := d.receive(devproto.TypeServerStatus).(*devproto.ServerStatus)
	if got.Code != status.LoggedOut {
		t.Fatalf("device told %v", got.Code)
	}
	eventually(t, "GroupWise logout", func() bool { return e.sim.LoggedIn() == 0 })
	if r := e.fn.releases(); len(r) != 0 {
		t.Fatalf("a session the store ended was released again: %+v", r)
	}
}

func TestReplacedByOwnLoginIsSignedOnElsewhere(t *testing.T) {
	e := newTestEdge(t, nil)
	old := e.device(1)
	st := old.mustLogin()
	e.fn.mu.Lock()
	e.fn.ended = []admission.Ended{{Session: admission.SessionRef{Pool: "p", DeviceID: old.id, ID: st.SessionID}, Owner: "edge-test", Reason: admission.EndReplaced}}
	e.fn.mu.Unlock()
	e.device(1).mustLogin()
	if got := old.receive(devproto.TypeServerStatus).(*devproto.ServerStatus); got.Code != status.SignedOnElsewhere {
		t.Fatalf("replaced device told %v", got.Code)
	}
}

func TestGroupWiseSignedOnElsewhere(t *testing.T) {
	e := newTestEdge(t, []gwsim.Option{gwsim.WithKickDuplicate(true)})
	d := e.device(1)
	d.mustLogin()
	e.groupWiseUser("user0001") // the same user from a desktop: event 114
	if got := d.receive(devproto.TypeServerStatus).(*devproto.ServerStatus); got.Code != status.SignedOnElsewhere {
		t.Fatalf("device told %v", got.Code)
	}
	eventually(t, "release", func() bool { return len(e.fn.releases()) == 1 })
}

func TestLogoutReleases(t *testing.T) {
	e := newTestEdge(t, nil)
	d := e.device(1)
	d.mustLogin()
	d.send(&devproto.Logout{})
	// The edge acknowledges the LOGOUT before it closes, so the device can
	// tell a logout from a drop.
	if got := d.receive(devproto.TypeServerStatus).(*devproto.ServerStatus); got.Code != status.LoggedOut || got.Message != devproto.LogoutText {
		t.Fatalf("LOGOUT answered with %v %q, want LOGGED_OUT %q", got.Code, got.Message, devproto.LogoutText)
	}
	eventually(t, "release", func() bool {
		r := e.fn.releases()
		return len(r) == 1 && r[0].Reason == "logout"
	})
	eventually(t, "GroupWise logout", func() bool { return e.sim.LoggedIn() == 0 })
}

func TestPingPong(t *testing.T) {
	e := newTestEdge(t, nil)
	d := e.device(1)
	d.mustLogin()
	d.send(&devproto.Ping{ID: 42})
	if p := d.receive(devproto.TypePong).(*devproto.Pong); p.ID != 42 {
		t.Fatalf("pong %d", p.ID)
	}
}

func TestStatusIsWrittenOnlyWhenTheDeviceFallsSilentAndBack(t *testing.T) {
	now := time.Now()
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	clock := func() time.Time { <-mu; defer func() { mu <- struct{}{} }(); return now }
	advance := func(d time.Duration) { <-mu; now = now.Add(d); mu <- struct{}{} }
	e := newTestEdge(t, nil, WithClock(clock), WithSilenceScanInterval(20*time.Millisecond))
	e.fn.idle = 40 // STATUS every 10 s; silent after 20 s
	d := e.device(1)
	if st := d.mustLogin(); st.StatusInterval != 10*time.Second {
		t.Fatalf("status interval %v, want 10 s", st.StatusInterval)
	}
	writes := func() int {
		e.leases.mu.Lock()
		defer e.leases.mu.Unlock()
		return e.leases.statuses
	}
	for i := range 5 {
		advance(10 * time.Second)
		d.send(&devproto.Status{Presence: devproto.PresenceBusy, Text: "meeting"})
		d.send(&devproto.Ping{ID: uint64(i)})
		d.receive(devproto.TypePong) // the STATUS before it was handled
	}
	time.Sleep(100 * time.Millisecond) // several silence scans
	if n := writes(); n != 0 {
		t.Fatalf("%d writes while the device sent STATUS", n)
	}
	advance(21 * time.Second)
	eventually(t, "the silent mark", func() bool { return writes() == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := writes(); n != 1 {
		t.Fatalf("%d writes for one silence, want 1", n)
	}
	d.send(&devproto.Status{Presence: devproto.PresenceOnline})
	d.send(&devproto.Ping{ID: 9})
	d.receive(devproto.TypePong)
	eventually(t, "the end of the silence", func() bool { return writes() == 2 })
}

func TestRateLimits(t *testing.T) {
	t.Run("device", func(t *testing.T) {
		e := newTestEdge(t, nil, WithDeviceRate(0.001, 1))
		e.device(1).mustLogin()
		got := e.device(1).login(gwsim.DemoPassword)
		if got.Code != status.RateLimited || got.RetryAfter <= 0 {
			t.Fatalf("second login: %v retry %v", got.Code, got.RetryAfter)
		}
		eventually(t, "RATE_LIMITED counted", func() bool { return e.srv.Stats().Logins["RATE_LIMITED"] == 1 })
	})
	t.Run("address", func(t *testing.T) {
		e := newTestEdge(t, nil, WithAddrRate(0.001, 1))
		e.device(1).mustLogin()
		assertClosedUnanswered(t, e)
		eventually(t, "DropAddrRate counted", func() bool { return e.srv.Stats().Events["DropAddrRate"] == 1 })
	})
	t.Run("connection cap", func(t *testing.T) {
		e := newTestEdge(t, nil, WithMaxConns(1))
		e.device(1).mustLogin()
		assertClosedUnanswered(t, e)
		eventually(t, "DropConnCap counted", func() bool { return e.srv.Stats().Events["DropConnCap"] == 1 })
	})
}

// assertClosedUnanswered checks that a new connection is closed before any
// answer.
func assertClosedUnanswered(t *testing.T, e *testEdge) {
	t.Helper()
	d := e.device(2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := d.client.Dial(ctx, e.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.client.Login(ctx, conn, devproto.Login{DeviceID: d.id, UserID: d.user, Password: "demo"}); err == nil {
		t.Fatal("login over the limit succeeded")
	}
}

func TestDrainTellsDevicesAndReleases(t *testing.T) {
	e := newTestEdge(t, nil)
	devs := []*device{e.device(1), e.device(2), e.device(3)}
	for _, d := range devs {
		d.mustLogin()
	}
	devs[2].sess.Close() // one out of coverage: released too
	eventually(t, "drop noticed", func() bool { return e.srv.Stats().Detached == 1 })
	health := httptest.NewServer(e.srv.HealthHandler())
	defer health.Close()

	if err := e.shutdown(); err != nil {
		t.Fatalf("drain: %v", err)
	}
	for _, d := range devs[:2] {
		got := d.receive(devproto.TypeServerStatus).(*devproto.ServerStatus)
		if got.Code != status.ServerBusy || got.RetryAfter <= 0 {
			t.Fatalf("%s told %v retry %v", d.id, got.Code, got.RetryAfter)
		}
	}
	if r := e.fn.releases(); len(r) != 3 {
		t.Fatalf("%d releases, want 3", len(r))
	}
	eventually(t, "GroupWise logouts", func() bool { return e.sim.LoggedIn() == 0 })
	resp, err := http.Get(health.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz while drained: %d", resp.StatusCode)
	}
}

func TestNewValidates(t *testing.T) {
	fn, leases := &fakeFunctions{}, &fakeLeases{}
	key := testKey(t, 0)
	tests := []struct {
		name  string
		owner string
		opts  []Option
	}{
		{"no owner", "", nil},
		{"zero heartbeat", "o", []Option{WithHeartbeat(0)}},
		{"zero conns", "o", []Option{WithMaxConns(0)}},
		{"negative rate", "o", []Option{WithAddrRate(-1, 1)}},
		{"no burst", "o", []Option{WithDeviceRate(1, 0)}},
		{"zero queue", "o", []Option{WithQueueLimit(0)}},
		{"zero request timeout", "o", []Option{WithRequestTimeout(0)}},
		{"negative request timeout", "o", []Option{WithRequestTimeout(-time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(key, tt.owner, fn, fn, leases, tt.opts...); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestUserFromDN(t *testing.T) {
	tests := []struct{ dn, want string }{
		{"user0002,ou=users,o=collabgw", "user0002"},
		{"cn=alice,ou=users,o=org", "alice"},
		{"CN=bob,o=x", "bob"},
		{"plain", "plain"},
	}
	for _, tt := range tests {
		if got := userFromDN(tt.dn); got != tt.want {
			t.Errorf("userFromDN(%q) = %q, want %q", tt.dn, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { userFromDN("cn=alice,ou=users,o=org") }); n != 0 {
		t.Fatalf("userFromDN allocates %v times", n)
	}
}
