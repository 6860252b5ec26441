package devconn_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// sessionGateway admits a login with a fresh token and a resume only with
// the session's current token, which it then rotates: the rule the edge
// applies. Each accepted connection's gateway-side Session arrives on
// conns, so that a test can drop it, write to it or read from it.
type sessionGateway struct {
	*gateway
	interval time.Duration

	mu     sync.Mutex // guards token, n and refuse
	token  devproto.ResumeToken
	n      byte
	refuse status.Code // when set, resumes are refused with it
}

func startSessionGateway(t *testing.T, interval time.Duration) *sessionGateway {
	t.Helper()
	sg := &sessionGateway{interval: interval}
	sg.gateway = startGateway(t, sg.admit)
	return sg
}

func (sg *sessionGateway) admit(_ context.Context, h *devproto.Hello) *devproto.ServerStatus {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	if r, ok := h.Request.(*devproto.Resume); ok {
		if sg.refuse != 0 {
			return &devproto.ServerStatus{Code: sg.refuse, Message: sg.refuse.Text()}
		}
		if r.SessionID != "s-1" || r.Token != sg.token {
			return &devproto.ServerStatus{Code: status.LoggedOut, Message: status.LoggedOut.Text()}
		}
	}
	sg.n++
	sg.token = devproto.ResumeToken{sg.n, 0xaa}
	return &devproto.ServerStatus{Code: status.Accepted, SessionID: "s-1", ResumeToken: sg.token, StatusInterval: sg.interval}
}

// conn returns the gateway side of the next accepted connection.
func (sg *sessionGateway) conn(t *testing.T) *devconn.Session {
	t.Helper()
	r := sg.next(t)
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	return r.s
}

func connect(t *testing.T, addr string, opts ...devconn.LinkOption) *devconn.Link {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	l, err := newClient(t, "device", "gateway").Connect(ctx, addr,
		devproto.Login{DeviceID: testDevice, UserID: "jsmith", Password: "correct horse"}, opts...)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return l
}

// running runs l in the background; events arrive on the returned channel
// and Run's result on the other.
func running(t *testing.T, l *devconn.Link) (<-chan devconn.Event, <-chan error) {
	t.Helper()
	events := make(chan devconn.Event, 4096)
	result := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { result <- l.Run(ctx, func(e devconn.Event) { events <- e }) }()
	return events, result
}

// awaitRunning returns once l's Run answers PINGs, so that a Logout after
// it is acknowledged through Run.
func awaitRunning(t *testing.T, gw *devconn.Session) {
	t.Helper()
	if err := gw.Send(context.Background(), &devproto.Ping{ID: 1}); err != nil {
		t.Fatal(err)
	}
	receive(t, gw, devproto.TypePong)
}

func nextEvent(t *testing.T, events <-chan devconn.Event, want devconn.EventKind) devconn.Event {
	t.Helper()
	for {
		select {
		case e := <-events:
			if e.Kind == want {
				return e
			}
		case <-time.After(testTimeout):
			t.Fatalf("no event %d", want)
		}
	}
}

func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(testTimeout):
		t.Fatal("Run did not return")
		return nil
	}
}

func receive(t *testing.T, s *devconn.Session, want devproto.MsgType) devproto.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		m, err := s.Receive(ctx)
		if err != nil {
			t.Fatalf("gateway waiting for %v: %v", want, err)
		}
		if m.Type() == want {
			return m
		}
	}
}

func TestLinkResumesAfterEachDrop(t *testing.T) {
	sg := startSessionGateway(t, time.Hour)
	l := connect(t, sg.ln.Addr().String())
	gw := sg.conn(t)
	events, done := running(t, l)
	ctx := context.Background()
	for i := range 3 {
		before := l.Accepted().ResumeToken
		if i%2 == 0 {
			gw.Close() // the gateway sees the device leave coverage
		} else {
			l.Drop() // the device's own connection breaks
		}
		nextEvent(t, events, devconn.EventDropped)
		resumed := nextEvent(t, events, devconn.EventResumed)
		gw = sg.conn(t)
		if got := l.Accepted(); got.ResumeToken == before || got != resumed.Status {
			t.Fatalf("drop %d: the link kept the used token (or another status than the event's)", i)
		}
		// Both ways work on the new connection.
		if err := gw.Send(ctx, &devproto.ReceiveIM{From: "jdoe", Text: "queued while away", ServerTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if m := nextEvent(t, events, devconn.EventMessage).Message; m.Type() != devproto.TypeReceiveIM {
			t.Fatalf("application got %v", m.Type())
		}
		if err := l.Send(ctx, &devproto.SendIM{To: "jdoe", Text: "back"}); err != nil {
			t.Fatal(err)
		}
		receive(t, gw, devproto.TypeSendIM)
	}
	// The link answers the gateway's PING itself.
	if err := gw.Send(ctx, &devproto.Ping{ID: 7}); err != nil {
		t.Fatal(err)
	}
	if p := receive(t, gw, devproto.TypePong).(*devproto.Pong); p.ID != 7 {
		t.Fatalf("pong %d", p.ID)
	}
	go func() {
		receive(t, gw, devproto.TypeLogout)
		_ = gw.Send(ctx, &devproto.ServerStatus{Code: status.LoggedOut, Message: devproto.LogoutText})
	}()
	lctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	if err := l.Logout(lctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if err := result(t, done); err != nil {
		t.Fatalf("Run after the logout = %v", err)
	}
}

func TestLinkGivesUpWhenTheGraceIsOver(t *testing.T) {
	sg := startSessionGateway(t, time.Hour)
	// The gateway becomes unreachable after the login: every resume dial
	// fails at once, and the fake clock makes the schedule instant.
	var unreachable sync.Mutex
	down := false
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		unreachable.Lock()
		defer unreachable.Unlock()
		if down {
			return nil, errors.New("connect: network is unreachable")
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	clock := clocktest.New()
	var waits []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		clock.Advance(d)
		return nil
	}
	l := connect(t, sg.ln.Addr().String(), devconn.WithDialer(dial), devconn.WithLinkClock(clock.Now, sleep),
		devconn.WithResumeBackoff(devconn.DefaultResumeBackoff, devconn.DefaultResumeMaxBackoff, 0))
	gw := sg.conn(t)
	events, done := running(t, l)
	unreachable.Lock()
	down = true
	unreachable.Unlock()
	gw.Close()
	err := result(t, done)
	if !errors.Is(err, devconn.ErrResumeGraceOver) {
		t.Fatalf("Run = %v, want ErrResumeGraceOver", err)
	}
	// 1, 2, 4, 8, then 15 s until the next wait would reach the 120 s grace.
	want := []time.Duration{1, 2, 4, 8, 15, 15, 15, 15, 15, 15}
	if len(waits) != len(want) {
		t.Fatalf("waited %v, want %v s", waits, want)
	}
	for i := range want {
		if waits[i] != want[i]*time.Second {
			t.Fatalf("wait %d = %v, want %v s (all: %v)", i+1, waits[i], want[i], waits)
		}
	}
	failed := 0
	for len(events) > 0 {
		if e := <-events; e.Kind == devconn.EventResumeFailed {
			failed++
		}
	}
	if failed != len(want) {
		t.Fatalf("%d resume-failed events for %d waits", failed, len(want))
	}
	if err := l.Send(context.Background(), &devproto.Ping{}); !errors.Is(err, devconn.ErrLinkClosed) {
		t.Fatalf("Send after the end = %v, want ErrLinkClosed", err)
	}
}

func TestLinkJitterStaysWithinItsFraction(t *testing.T) {
	sg := startSessionGateway(t, time.Hour)
	clock := clocktest.New()
	var waits []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		clock.Advance(d)
		return nil
	}
	failing := func(context.Context, string) (net.Conn, error) { return nil, errors.New("connection refused") }
	var d net.Dialer
	first := true
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		if first {
			first = false
			return d.DialContext(ctx, "tcp", addr)
		}
		return failing(ctx, addr)
	}
	l := connect(t, sg.ln.Addr().String(), devconn.WithDialer(dial), devconn.WithLinkClock(clock.Now, sleep),
		devconn.WithResumeGrace(time.Hour), devconn.WithResumeBackoff(time.Second, 4*time.Second, 0.5))
	sg.conn(t).Close()
	_, done := running(t, l)
	if err := result(t, done); !errors.Is(err, devconn.ErrResumeGraceOver) {
		t.Fatalf("Run = %v", err)
	}
	base := time.Second
	for i, w := range waits {
		if w < base || w > base+base/2 {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i+1, w, base, base+base/2)
		}
		base = min(2*base, 4*time.Second)
	}
}

func TestLinkSessionEnds(t *testing.T) {
	tests := []struct {
		name   string
		end    func(t *testing.T, sg *sessionGateway, l *devconn.Link, gw *devconn.Session)
		check  func(t *testing.T, err error)
		resume bool
	}{
		{"the gateway signs the device off", func(t *testing.T, _ *sessionGateway, _ *devconn.Link, gw *devconn.Session) {
			if err := gw.Send(context.Background(), &devproto.ServerStatus{Code: status.SignedOnElsewhere, Message: status.SignedOnElsewhere.Text()}); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, err error) {
			var ended *devconn.SessionEndedError
			if !errors.As(err, &ended) || ended.Status.Code != status.SignedOnElsewhere || ended.Resume {
				t.Fatalf("Run = %v, want SIGNED_ON_ELSEWHERE", err)
			}
		}, false},
		{"the session is gone when the device comes back", func(t *testing.T, sg *sessionGateway, _ *devconn.Link, gw *devconn.Session) {
			sg.mu.Lock()
			sg.refuse = status.LoggedOut
			sg.mu.Unlock()
			gw.Close()
		}, func(t *testing.T, err error) {
			var ended *devconn.SessionEndedError
			if !errors.As(err, &ended) || ended.Status.Code != status.LoggedOut || !ended.Resume {
				t.Fatalf("Run = %v, want a refused resume", err)
			}
		}, true},
		{"the device logs out and the gateway acknowledges", func(t *testing.T, _ *sessionGateway, l *devconn.Link, gw *devconn.Session) {
			go func() {
				receive(t, gw, devproto.TypeLogout)
				_ = gw.Send(context.Background(), &devproto.ServerStatus{Code: status.LoggedOut, Message: devproto.LogoutText})
				gw.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := l.Logout(ctx); err != nil {
				t.Fatalf("Logout: %v", err)
			}
		}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatalf("Run after a logout = %v, want nil", err)
			}
		}, false},
		{"the connection ends before the logout is acknowledged", func(t *testing.T, _ *sessionGateway, l *devconn.Link, gw *devconn.Session) {
			go func() {
				receive(t, gw, devproto.TypeLogout)
				gw.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if err := l.Logout(ctx); !errors.Is(err, devconn.ErrLogoutUnconfirmed) {
				t.Fatalf("Logout = %v, want ErrLogoutUnconfirmed", err)
			}
		}, func(t *testing.T, err error) {
			if !errors.Is(err, devconn.ErrLogoutUnconfirmed) {
				t.Fatalf("Run = %v, want ErrLogoutUnconfirmed", err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sg := startSessionGateway(t, time.Hour)
			l := connect(t, sg.ln.Addr().String())
			gw := sg.conn(t)
			_, done := running(t, l)
			awaitRunning(t, gw)
			tt.end(t, sg, l, gw)
			if tt.resume {
				sg.next(t) // the refused resume's Accept result
			}
			tt.check(t, result(t, done))
		})
	}
}

func TestLinkLogoutWithoutRun(t *testing.T) {
	sg := startSessionGateway(t, time.Hour)
	l := connect(t, sg.ln.Addr().String())
	gw := sg.conn(t)
	go func() {
		receive(t, gw, devproto.TypeLogout)
		_ = gw.Send(context.Background(), &devproto.ServerStatus{Code: status.LoggedOut, Message: devproto.LogoutText})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := l.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if err := l.Logout(ctx); !errors.Is(err, devconn.ErrLinkClosed) {
		t.Fatalf("a second Logout = %v, want ErrLinkClosed", err)
	}
}

func TestLinkSendsStatusOnTheGatewaysInterval(t *testing.T) {
	sg := startSessionGateway(t, 20*time.Millisecond)
	l := connect(t, sg.ln.Addr().String())
	gw := sg.conn(t)
	running(t, l)
	ctx := context.Background()
	if err := l.SetPresence(ctx, devproto.Status{Presence: devproto.PresenceBusy, Text: "In a meeting"}); err != nil {
		t.Fatal(err)
	}
	// The immediate STATUS, then at least two periodic ones, all with the
	// chosen presence (not reset to online).
	for i := range 3 {
		st := receive(t, gw, devproto.TypeStatus).(*devproto.Status)
		if st.Presence != devproto.PresenceBusy || st.Text != "In a meeting" {
			t.Fatalf("STATUS %d carries %+v", i, st)
		}
	}
}

func TestLinkOptionsValidate(t *testing.T) {
	sg := startSessionGateway(t, time.Hour)
	tests := []struct {
		name string
		opt  devconn.LinkOption
	}{
		{"zero grace", devconn.WithResumeGrace(0)},
		{"negative attempt timeout", devconn.WithAttemptTimeout(-time.Second)},
		{"backoff above its maximum", devconn.WithResumeBackoff(time.Minute, time.Second, 0)},
		{"jitter above 1", devconn.WithResumeBackoff(time.Second, time.Minute, 2)},
		{"nil dialer", devconn.WithDialer(nil)},
		{"nil clock", devconn.WithLinkClock(nil, nil)},
	}
	c := newClient(t, "device", "gateway")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Connect(context.Background(), sg.ln.Addr().String(),
				devproto.Login{DeviceID: testDevice, UserID: "jsmith", Password: "p"}, tt.opt)
			if err == nil {
				t.Fatal("Connect accepted an invalid option")
			}
		})
	}
	if _, err := c.Connect(context.Background(), sg.ln.Addr().String(), devproto.Login{DeviceID: "my phone", UserID: "jsmith", Password: "p"}); !errors.Is(err, devproto.ErrInvalidDeviceID) {
		t.Fatalf("Connect with a bad device id = %v", err)
	}
}

func TestConnectRefused(t *testing.T) {
	g := startGateway(t, func(context.Context, *devproto.Hello) *devproto.ServerStatus {
		return &devproto.ServerStatus{Code: status.ServerBusy, Message: status.ServerBusy.Text(), RetryAfter: time.Second}
	})
	_, err := newClient(t, "device", "gateway").Connect(context.Background(), g.ln.Addr().String(),
		devproto.Login{DeviceID: testDevice, UserID: "jsmith", Password: "p"})
	var rej *devconn.RejectedError
	if !errors.As(err, &rej) || rej.Status.Code != status.ServerBusy || rej.Status.RetryAfter != time.Second {
		t.Fatalf("Connect = %v, want SERVER_BUSY", err)
	}
}
