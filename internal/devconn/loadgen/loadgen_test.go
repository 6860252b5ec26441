package loadgen

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
	"github.com/collabgw/collabgw/internal/status"
)

const testTimeout = 10 * time.Second

// fakeEdge is a Dialer whose connections reach an in-process gateway
// (devconn's real Acceptor over net.Pipe) whose admission the test holds
// until it releases it: responses as slow as the test wants.
type fakeEdge struct {
	acceptor *devconn.Acceptor
	release  chan struct{}

	mu       sync.Mutex // guards the counts
	entered  int        // admissions that reached the gateway
	inFlight int
	maxIn    int
}

func newFakeEdge(t *testing.T, users int) (*fakeEdge, string, devproto.PublicKey) {
	t.Helper()
	dir := t.TempDir()
	verifier := devprototest.NewVerifier()
	for i := 1; i <= users; i++ {
		key := devprototest.Key(demo.UserID(i))
		if err := devproto.WriteKeyFiles(filepath.Join(dir, demo.UserID(i)), key); err != nil {
			t.Fatal(err)
		}
		verifier.Register(demo.DeviceID(i), devprototest.PublicKey(demo.UserID(i)))
	}
	resp, err := devproto.NewResponder(devprototest.Key("edge"), verifier)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := devconn.NewAcceptor(resp)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeEdge{acceptor: acc, release: make(chan struct{})}, dir, devprototest.PublicKey("edge")
}

func (e *fakeEdge) DialContext(context.Context, string, string) (net.Conn, error) {
	dev, gw := net.Pipe()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		s, err := e.acceptor.Accept(ctx, gw, e.admit)
		if err == nil {
			go func() { // read until the device logs out and hangs up
				for {
					if _, err := s.Receive(context.Background()); err != nil {
						s.Close()
						return
					}
				}
			}()
		}
	}()
	return dev, nil
}

func (e *fakeEdge) admit(context.Context, *devproto.Hello) *devproto.ServerStatus {
	e.mu.Lock()
	e.entered++
	e.inFlight++
	e.maxIn = max(e.maxIn, e.inFlight)
	e.mu.Unlock()
	<-e.release
	e.mu.Lock()
	e.inFlight--
	e.mu.Unlock()
	return &devproto.ServerStatus{Code: status.Accepted, SessionID: "s", ResumeToken: devproto.ResumeToken{1}, Message: status.Accepted.Text()}
}

func (e *fakeEdge) counts() (entered, maxIn int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.entered, e.maxIn
}

// awaitEntered waits (in real time, bounded) until n admissions reached
// the gateway.
func (e *fakeEdge) awaitEntered(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		if got, _ := e.counts(); got >= n {
			return
		}
		if time.Now().After(deadline) {
			got, _ := e.counts()
			t.Fatalf("%d admissions reached the gateway, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeClock's Sleep moves it forward at once, so the schedule runs in no
// time and each login is stamped with exactly its scheduled start.
type fakeClock struct{ *clocktest.Clock }

func (c fakeClock) Sleep(_ context.Context, d time.Duration) error {
	if d > 0 {
		c.Advance(d)
	}
	return nil
}

func start(t *testing.T, cfg Config) <-chan Report {
	t.Helper()
	out := make(chan Report, 1)
	go func() {
		rep, err := Run(context.Background(), cfg)
		if err != nil {
			t.Error(err)
		}
		out <- rep
	}()
	return out
}

func wait(t *testing.T, reports <-chan Report) Report {
	t.Helper()
	select {
	case r := <-reports:
		return r
	case <-time.After(testTimeout):
		t.Fatal("Run did not return")
		return Report{}
	}
}

// TestOpenLoopKeepsTheSchedule: with every answer held back, the open loop
// still starts all its logins on schedule, and each latency runs from its
// scheduled start; the closed loop, given the same slow gateway, starts no
// more than its concurrency.
func TestOpenLoopKeepsTheSchedule(t *testing.T) {
	const users = 20
	edge, dir, gw := newFakeEdge(t, users)
	clock := fakeClock{clocktest.New()}
	reports := start(t, Config{
		Edge: "edge", Gateway: gw, KeyDir: dir, Users: users, Password: "p",
		Rate: 100, MaxInFlight: 64, Dialer: edge, Clock: clock,
	})
	// No answer has come back, yet every login started.
	edge.awaitEntered(t, users)
	clock.Advance(time.Second)
	close(edge.release)
	rep := wait(t, reports)
	if rep.Mode != "open" || rep.Statuses[status.Accepted.String()] != users || rep.StartedLate != 0 {
		t.Fatalf("report %+v", rep)
	}
	// Login n was due at n × 10 ms and answered at 190 ms + 1 s: its
	// latency is 1 s + (19 − n) × 10 ms. Nearest rank: p50 is the 10th
	// smallest (1.09 s), p99 and max the largest (1.19 s).
	if rep.P50ms != 1090 || rep.P99ms != 1190 || rep.MaxMs != 1190 || rep.MaxStartLagMs != 0 {
		t.Fatalf("latencies p50 %v p99 %v max %v ms, start lag %v ms; want 1090, 1190, 1190, 0", rep.P50ms, rep.P99ms, rep.MaxMs, rep.MaxStartLagMs)
	}
	if rep.OfferedPS != 100 {
		t.Fatalf("offered %v/s", rep.OfferedPS)
	}

	t.Run("the closed loop waits for answers", func(t *testing.T) {
		edge, dir, gw := newFakeEdge(t, users)
		reports := start(t, Config{Edge: "edge", Gateway: gw, KeyDir: dir, Users: users, Password: "p", Concurrency: 4, Dialer: edge})
		edge.awaitEntered(t, 4)
		time.Sleep(50 * time.Millisecond) // give a fifth login the chance it must not take
		if entered, _ := edge.counts(); entered != 4 {
			t.Fatalf("%d logins started with 4 in flight and no answer", entered)
		}
		close(edge.release)
		if rep := wait(t, reports); rep.Mode != "closed" || rep.Statuses[status.Accepted.String()] != users {
			t.Fatalf("report %+v", rep)
		}
	})
}

// TestOpenLoopBoundsInFlight: at MaxInFlight the loop waits for a slot,
// counts the login as late, and charges the wait to its latency.
func TestOpenLoopBoundsInFlight(t *testing.T) {
	const users, bound = 20, 5
	edge, dir, gw := newFakeEdge(t, users)
	clock := fakeClock{clocktest.New()}
	reports := start(t, Config{
		Edge: "edge", Gateway: gw, KeyDir: dir, Users: users, Password: "p",
		Rate: 100, MaxInFlight: bound, Dialer: edge, Clock: clock,
	})
	edge.awaitEntered(t, bound)
	clock.Advance(time.Second) // the held logins make the next ones late
	close(edge.release)
	rep := wait(t, reports)
	if _, maxIn := edge.counts(); maxIn > bound {
		t.Fatalf("%d logins in flight, bound %d", maxIn, bound)
	}
	if rep.Statuses[status.Accepted.String()] != users || rep.StartedLate < 1 || rep.StartedLate > users-bound {
		t.Fatalf("report %+v: want all accepted and 1..%d late", rep, users-bound)
	}
	if rep.MaxStartLagMs < 900 || rep.MaxMs < 1000 {
		t.Fatalf("start lag %v ms, max latency %v ms: the wait for a slot must show in both", rep.MaxStartLagMs, rep.MaxMs)
	}
}

func TestConfigValidates(t *testing.T) {
	gw := devprototest.PublicKey("edge")
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no edge", Config{Gateway: gw, Users: 1}},
		{"no gateway key", Config{Edge: "e", Users: 1}},
		{"no users", Config{Edge: "e", Gateway: gw}},
		{"negative rate", Config{Edge: "e", Gateway: gw, Users: 1, Rate: -1}},
		{"rate too high", Config{Edge: "e", Gateway: gw, Users: 1, Rate: MaxRate + 1}},
		{"negative in-flight bound", Config{Edge: "e", Gateway: gw, Users: 1, Rate: 1, MaxInFlight: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tt.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("Run = %v, want ErrConfig", err)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	lat := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		p    float64
		want time.Duration
	}{{0.5, 5}, {0.9, 9}, {0.99, 10}, {0.999, 10}, {0.1, 1}, {0, 1}}
	for _, tt := range tests {
		if got := percentile(lat, tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
}

// TestObserveSeesEveryLogin: Observe is called once per login with its
// user, its status and the latency the report's percentiles are made of.
func TestObserveSeesEveryLogin(t *testing.T) {
	const users = 12
	edge, dir, gw := newFakeEdge(t, users)
	close(edge.release)
	clock := fakeClock{clocktest.New()}
	var mu sync.Mutex
	seen := map[string]time.Duration{}
	rep := wait(t, start(t, Config{
		Edge: "edge", Gateway: gw, KeyDir: dir, Users: users, Password: "p",
		Rate: 100, Dialer: edge, Clock: clock,
		Observe: func(user, st string, lat time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			if st != status.Accepted.String() {
				t.Errorf("%s: status %s", user, st)
			}
			if _, dup := seen[user]; dup {
				t.Errorf("%s observed twice", user)
			}
			seen[user] = lat
		},
	}))
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != users || rep.Statuses[status.Accepted.String()] != users {
		t.Fatalf("observed %d logins, report %+v", len(seen), rep)
	}
	var maxLat time.Duration
	for i := 1; i <= users; i++ {
		lat, ok := seen[demo.UserID(i)]
		if !ok {
			t.Fatalf("%s not observed", demo.UserID(i))
		}
		maxLat = max(maxLat, lat)
	}
	if ms(maxLat) != rep.MaxMs {
		t.Fatalf("largest observed latency %v, report max %v ms", maxLat, rep.MaxMs)
	}
}
