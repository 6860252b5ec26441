package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/edge"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/status"
)

// Bounds of the tests' waits: generous, because the machine is shared and
// the race detector is on; nothing is asserted about how long a wait took.
const (
	startTimeout = 2 * time.Minute
	loginTimeout = 20 * time.Second
	// drainSeconds is the edges' SIGTERM drain deadline.
	drainSeconds = 15
)

// startFleet starts edges edge processes behind HAProxy on s; the test's
// end drains them (and prints their logs if it failed).
func startFleet(t testing.TB, s *localstack.Stack, cfg localstack.FleetConfig) *localstack.Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cfg.Env = append([]string{fmt.Sprintf("%s=%d", manifest.EnvDrainSeconds, drainSeconds)}, cfg.Env...)
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
				t.Logf("%s log (tail):\n%s", e.Name, lastLines(e.Log(), 80))
			}
		}
	})
	if !f.Balanced() {
		t.Fatal("the fleet has no balancer")
	}
	return f
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// putPool stores a pool pointing at s's GroupWise and moves demo users
// first..last into it.
func putPool(t testing.TB, s *localstack.Stack, name string, cfg admission.PoolConfig, first, last int) {
	t.Helper()
	ctx := context.Background()
	cfg.Name, cfg.GroupWise = name, s.Config.Pool.GroupWise
	if _, err := s.Store.PutPool(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for i := first; i <= last; i++ {
		if err := s.Store.PutUser(ctx, admission.User{ID: demo.UserID(i), Pool: name, Permitted: true}); err != nil {
			t.Fatal(err)
		}
	}
}

func counter(t testing.TB, s *localstack.Stack, pool string) int {
	t.Helper()
	n, err := s.Store.Counter(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func sessions(t testing.TB, s *localstack.Stack, pool string) []admission.Session {
	t.Helper()
	ss, err := s.Store.ListSessions(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// sweep invokes the sweep function once and returns what it did to pool.
func sweep(t testing.TB, s *localstack.Stack, pool string) admission.PoolSweep {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := s.Sweep(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var rep admission.SweepReport
	if err := json.Unmarshal(res.Payload, &rep); err != nil {
		t.Fatalf("sweep report %q: %v", res.Payload, err)
	}
	for _, ps := range rep.Pools {
		if ps.Pool == pool {
			return ps
		}
	}
	t.Fatalf("the sweep did not report pool %s: %s", pool, res.Payload)
	return admission.PoolSweep{}
}

// stats fetches every edge's /stats, in the fleet's order.
func stats(t testing.TB, f *localstack.Fleet) []edge.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var all []edge.Stats
	for _, e := range f.Edges() {
		st, err := e.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, st)
	}
	return all
}

// edgeOf returns the fleet's edge whose current process is task.
func edgeOf(f *localstack.Fleet, task string) *localstack.Edge {
	for _, e := range f.Edges() {
		if e.TaskID() == task {
			return e
		}
	}
	return nil
}

// eventually polls cond until it holds, or fails the test after within.
func eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// device is demo device i, logging in as its demo user. Its methods return
// errors rather than failing the test, so that many run at once.
type device struct {
	i      int
	client *devconn.Client

	mu   sync.Mutex // guards sess and st
	sess *devconn.Session
	st   *devproto.ServerStatus // the last ACCEPTED
}

func newDevice(t testing.TB, s *localstack.Stack, i int) *device {
	t.Helper()
	c, err := s.DeviceClient(i)
	if err != nil {
		t.Fatal(err)
	}
	d := &device{i: i, client: c}
	t.Cleanup(d.drop)
	return d
}

func (d *device) user() string { return demo.UserID(d.i) }

// session is the device's current link and its ACCEPTED.
func (d *device) session() (*devconn.Session, *devproto.ServerStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess, d.st
}

// drop closes the device's link without a LOGOUT: a coverage loss.
func (d *device) drop() {
	if sess, _ := d.session(); sess != nil {
		sess.Close()
	}
}

// dial connects to addr from the loopback address from ("" lets the
// kernel choose): a phone back from a coverage loss with a new address.
func (d *device) dial(ctx context.Context, addr, from string) (net.Conn, error) {
	dl := net.Dialer{Timeout: loginTimeout}
	if from != "" {
		dl.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("device %d: dial %s from %s: %w", d.i, addr, from, err)
	}
	return conn, nil
}

// login logs the device in through addr from the address from. The
// answer is the gateway's status (ACCEPTED or a refusal); an error means
// none arrived.
func (d *device) login(ctx context.Context, addr, from string) (*devproto.ServerStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	conn, err := d.dial(ctx, addr, from)
	if err != nil {
		return nil, err
	}
	sess, err := d.client.Login(ctx, conn, devproto.Login{
		DeviceID: demo.DeviceID(d.i), UserID: d.user(), Password: gwsim.DemoPassword, ClientVersion: "collabgw-fleet-test/1",
	})
	return d.answer(sess, err)
}

// resume resumes the device's last session through addr from the address
// from, with its last resume token.
func (d *device) resume(ctx context.Context, addr, from string) (*devproto.ServerStatus, error) {
	_, st := d.session()
	if st == nil {
		return nil, fmt.Errorf("device %d: no session to resume", d.i)
	}
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	conn, err := d.dial(ctx, addr, from)
	if err != nil {
		return nil, err
	}
	sess, err := d.client.Resume(ctx, conn, devproto.Resume{DeviceID: demo.DeviceID(d.i), SessionID: st.SessionID, Token: st.ResumeToken})
	return d.answer(sess, err)
}

func (d *device) answer(sess *devconn.Session, err error) (*devproto.ServerStatus, error) {
	var rej *devconn.RejectedError
	if errors.As(err, &rej) {
		return rej.Status, nil
	}
	if err != nil {
		return nil, fmt.Errorf("device %d: %w", d.i, err)
	}
	d.mu.Lock()
	d.sess, d.st = sess, sess.Accepted()
	d.mu.Unlock()
	return sess.Accepted(), nil
}

// mustLogin logs the device in through addr or fails the test.
func (d *device) mustLogin(t testing.TB, addr, from string) *devproto.ServerStatus {
	t.Helper()
	st, err := d.login(context.Background(), addr, from)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != status.Accepted {
		t.Fatalf("device %d: login %v, want ACCEPTED", d.i, st.Code)
	}
	return st
}

// retryPause is how long a device waits before it tries again after st
// (nil: no answer): the gateway's retry delay when it gave one, else a
// short pause.
func retryPause(st *devproto.ServerStatus) time.Duration {
	const pause = 200 * time.Millisecond
	if st != nil && st.RetryAfter > pause {
		return st.RetryAfter
	}
	return pause
}

// loginUntilAccepted logs the device in through addr, again after every
// refusal in retry (and after a failed connection), as a real device
// does, until ACCEPTED, a refusal outside retry, or ctx ends. It returns
// the last answer and every refusal it saw, by status.
func (d *device) loginUntilAccepted(ctx context.Context, addr string, retry ...status.Code) (*devproto.ServerStatus, map[string]int, error) {
	return d.loginUntilAcceptedEvery(ctx, addr, 0, retry...)
}

// loginUntilAcceptedEvery is loginUntilAccepted trying again after pause
// or the gateway's retry delay, whichever is longer, so that a test can
// time when the gateway starts accepting more finely than the retry
// delay's granularity (while the per-device rate lets it: RATE_LIMITED's
// delay is always honoured).
func (d *device) loginUntilAcceptedEvery(ctx context.Context, addr string, pause time.Duration, retry ...status.Code) (*devproto.ServerStatus, map[string]int, error) {
	seen := map[string]int{}
	for {
		st, err := d.login(ctx, addr, "")
		switch {
		case err != nil:
			seen["ERROR"]++
		case st.Code == status.Accepted:
			return st, seen, nil
		default:
			seen[st.Code.String()]++
			if !containsCode(retry, st.Code) {
				return st, seen, fmt.Errorf("device %d: login refused with %v", d.i, st.Code)
			}
		}
		select {
		case <-ctx.Done():
			return st, seen, fmt.Errorf("device %d: no ACCEPTED (saw %v; last error %w)", d.i, seen, errors.Join(err, ctx.Err()))
		case <-time.After(max(pause, retryPause(st))):
		}
	}
}

func containsCode(codes []status.Code, c status.Code) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// waitEnded waits until the device's link ends and returns the last
// SERVER_STATUS the gateway sent before it (nil for a bare drop).
func (d *device) waitEnded(ctx context.Context) (*devproto.ServerStatus, error) {
	sess, _ := d.session()
	if sess == nil {
		return nil, fmt.Errorf("device %d: no link", d.i)
	}
	var last *devproto.ServerStatus
	for {
		m, err := sess.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return last, fmt.Errorf("device %d: the link did not end: %w", d.i, ctx.Err())
			}
			return last, nil
		}
		if st, ok := m.(*devproto.ServerStatus); ok {
			last = st
		}
	}
}
