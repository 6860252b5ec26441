// Package loadgen is the device-side load generator behind `collabgw
// device load`: it logs many devices in to an edge, holds the accepted
// sessions while sending their periodic STATUS messages, then logs them
// out, and reports statuses and latency. The end-to-end tests and
// docs/benchmarks.md use it too.
//
// It has two ways to offer load:
//
//   - closed loop (Concurrency): a fixed number of logins in flight, each
//     worker starting its next login when the previous one answered. It
//     measures throughput at a concurrency, but a slow answer delays the
//     next request, so latency under a given arrival rate is hidden
//     ("coordinated omission").
//   - open loop (Rate): logins start on a fixed schedule, whether or not
//     earlier ones answered, as wrk2 and vegeta measure, and each latency
//     runs from the login's scheduled start, not from when it got to go.
//     In-flight logins are bounded (MaxInFlight); a login that finds the
//     bound reached waits for a slot and is counted in Report.StartedLate,
//     its wait included in its latency.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// Defaults of a run.
const (
	DefaultConcurrency = 32
	// DefaultMaxInFlight bounds an open-loop run's logins in flight: far
	// above what a healthy local stack needs at hundreds of logins/s, low
	// enough that a stalled edge cannot make the generator open thousands
	// of sockets.
	DefaultMaxInFlight = 256
	// MaxRate bounds an open-loop rate: above it the schedule's interval
	// falls under the timer resolution of a shared machine.
	MaxRate = 100_000
	// DefaultStatusEvery is how often a held session sends STATUS.
	DefaultStatusEvery = 30 * time.Second
	// DefaultLogoutTimeout bounds each LOGOUT at the end of the hold.
	DefaultLogoutTimeout = 5 * time.Second
	// StatusError counts logins that ended without any status (a dropped
	// or refused connection, a timeout) in Report.Statuses.
	StatusError = "ERROR"
	// clientVersion is what the edge's logs show for these logins.
	clientVersion = "collabgw-load/1"
)

// Dialer opens the TCP connection of each login; *net.Dialer is one. Tests
// put a fake here.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Clock is the open-loop schedule's time: when a login is due, and the wait
// until then. Tests put a fake here to check the schedule without waiting
// for it.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// Config describes a run. Device i (from First) is DeviceID(i) logging in
// as UserID(i) with the key KeyDir/UserID(i).key, as the local stack's
// demo seed lays them out.
type Config struct {
	Edge     string
	Gateway  devproto.PublicKey
	KeyDir   string
	First    int
	Users    int
	Password string
	// Concurrency is the closed loop's logins in flight (when Rate is 0).
	Concurrency int
	// Rate, when above 0, runs the open loop: logins per second, started
	// on schedule. MaxInFlight bounds its logins in flight.
	Rate        float64
	MaxInFlight int
	// Hold is how long the accepted sessions are held after the last
	// login, sending STATUS every StatusEvery, before they log out.
	Hold        time.Duration
	StatusEvery time.Duration
	DeviceID    func(i int) string
	UserID      func(i int) string
	// Dialer opens each login's connection (a net.Dialer by default).
	Dialer Dialer
	// Clock times the open loop's schedule (the real clock by default).
	Clock Clock
	// Progress, when set, is called after each login with the count done.
	Progress func(done int)
	// Observe, when set, is called after each login with its device's
	// user, status name (StatusError when none came) and latency, so a
	// caller can pair a login with what other parts measured of it
	// (`collabgw bench` subtracts the GroupWise simulator's own time). It
	// runs on the login's goroutine: it must be quick and safe for
	// concurrent use.
	Observe func(user, status string, latency time.Duration)
	// Held, when set, is called once every login finished and the
	// accepted sessions are held (a memory probe goes here).
	Held func(ctx context.Context, held int)
}

// Report is what a run measured. Latency is one login round trip: TCP
// connect, Noise handshake, the edge's admission and GroupWise login; in
// the open loop it runs from the login's scheduled start.
type Report struct {
	Mode     string         `json:"mode"` // "closed" or "open"
	Users    int            `json:"users"`
	Statuses map[string]int `json:"statuses"`
	Held     int            `json:"held"`
	Seconds  float64        `json:"seconds"` // from the first login to the last answer
	LoginsPS float64        `json:"loginsPerSecond"`
	P50ms    float64        `json:"p50Ms"`
	P90ms    float64        `json:"p90Ms"`
	P99ms    float64        `json:"p99Ms"`
	P999ms   float64        `json:"p999Ms"`
	MaxMs    float64        `json:"maxMs"`
	// Open loop only.
	OfferedPS   float64 `json:"offeredPerSecond,omitempty"`
	MaxInFlight int     `json:"maxInFlight,omitempty"`
	// StartedLate counts logins that could not start on time because
	// MaxInFlight logins were in flight; MaxStartLagMs is the longest any
	// login started after its scheduled time, for any reason.
	StartedLate   int     `json:"startedLate"`
	MaxStartLagMs float64 `json:"maxStartLagMs"`
	Dropped       int     `json:"droppedWhileHeld"` // sessions the edge ended during the hold
	FirstErr      string  `json:"firstError,omitempty"`
}

// ErrConfig reports a Config that cannot run.
var ErrConfig = errors.New("loadgen: invalid config")

func (cfg *Config) validate() error {
	switch {
	case cfg.Edge == "" || cfg.Gateway.IsZero():
		return fmt.Errorf("%w: need the edge address and the gateway key", ErrConfig)
	case cfg.Users < 1:
		return fmt.Errorf("%w: need at least one user", ErrConfig)
	case cfg.Rate < 0 || cfg.Rate > MaxRate || math.IsNaN(cfg.Rate):
		return fmt.Errorf("%w: rate %v not in (0, %d]", ErrConfig, cfg.Rate, MaxRate)
	case cfg.Concurrency < 0 || cfg.MaxInFlight < 0:
		return fmt.Errorf("%w: negative concurrency or in-flight bound", ErrConfig)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.StatusEvery <= 0 {
		cfg.StatusEvery = DefaultStatusEvery
	}
	if cfg.First < 1 {
		cfg.First = 1
	}
	if cfg.DeviceID == nil {
		cfg.DeviceID = demo.DeviceID
	}
	if cfg.UserID == nil {
		cfg.UserID = demo.UserID
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &net.Dialer{Timeout: devconn.DefaultHandshakeTimeout}
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	return nil
}

// Run logs the devices in, holds, logs out, and reports.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	// Keys are read before the first login, so that no login's latency
	// holds a file read.
	clients := make([]*devconn.Client, cfg.Users)
	for n := range clients {
		key, err := devproto.LoadPrivateKey(filepath.Join(cfg.KeyDir, cfg.UserID(cfg.First+n)+devproto.PrivateKeySuffix))
		if err != nil {
			return Report{}, err
		}
		if clients[n], err = devconn.NewClient(key, cfg.Gateway); err != nil {
			return Report{}, err
		}
	}
	r := &run{cfg: cfg, clients: clients, statuses: map[string]int{}}
	start := time.Now()
	mode := "closed"
	if cfg.Rate > 0 {
		mode = "open"
		r.openLoop(ctx)
	} else {
		r.closedLoop(ctx)
	}
	rep := r.report(mode, time.Since(start))
	if cfg.Held != nil {
		cfg.Held(ctx, len(r.held))
	}
	rep.Dropped = r.hold(ctx)
	return rep, nil
}

type run struct {
	cfg     Config
	clients []*devconn.Client // one per device, index n = device First+n

	mu        sync.Mutex // guards the fields below
	done      int
	statuses  map[string]int
	latencies []time.Duration
	held      []*devconn.Session
	late      int
	maxLag    time.Duration
	firstErr  error
}

// loginOne logs device n in; its latency runs from from (the login's
// start, or in the open loop its scheduled start) on the run's clock.
func (r *run) loginOne(ctx context.Context, n int, from time.Time) {
	i := r.cfg.First + n
	c := r.clients[n]
	conn, err := r.cfg.Dialer.DialContext(ctx, "tcp", r.cfg.Edge)
	if err != nil {
		r.record(r.cfg.UserID(i), StatusError, 0, nil, fmt.Errorf("dial %s: %w", r.cfg.Edge, err))
		return
	}
	s, err := c.Login(ctx, conn, devproto.Login{
		DeviceID: r.cfg.DeviceID(i), UserID: r.cfg.UserID(i), Password: devproto.Password(r.cfg.Password),
		ClientVersion: clientVersion,
	})
	lat := r.cfg.Clock.Now().Sub(from)
	var rej *devconn.RejectedError
	switch {
	case errors.As(err, &rej):
		r.record(r.cfg.UserID(i), rej.Status.Code.String(), lat, nil, nil)
	case err != nil:
		r.record(r.cfg.UserID(i), StatusError, 0, nil, err)
	default:
		r.record(r.cfg.UserID(i), status.Accepted.String(), lat, s, nil)
	}
}

func (r *run) record(user, name string, lat time.Duration, s *devconn.Session, err error) {
	if r.cfg.Observe != nil {
		r.cfg.Observe(user, name, lat)
	}
	r.mu.Lock()
	r.statuses[name]++
	if name != StatusError {
		r.latencies = append(r.latencies, lat)
	}
	if s != nil {
		r.held = append(r.held, s)
	}
	if err != nil && r.firstErr == nil {
		r.firstErr = err
	}
	r.done++
	done := r.done
	r.mu.Unlock()
	if r.cfg.Progress != nil {
		r.cfg.Progress(done)
	}
}

func (r *run) report(mode string, elapsed time.Duration) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{
		Mode: mode, Users: r.cfg.Users, Statuses: r.statuses, Held: len(r.held), Seconds: elapsed.Seconds(),
		StartedLate: r.late, MaxStartLagMs: ms(r.maxLag),
	}
	if mode == "open" {
		rep.OfferedPS, rep.MaxInFlight = r.cfg.Rate, r.cfg.MaxInFlight
	}
	if r.firstErr != nil {
		rep.FirstErr = r.firstErr.Error()
	}
	if n := len(r.latencies); n > 0 {
		slices.Sort(r.latencies)
		rep.P50ms, rep.P90ms = ms(percentile(r.latencies, 0.50)), ms(percentile(r.latencies, 0.90))
		rep.P99ms, rep.P999ms = ms(percentile(r.latencies, 0.99)), ms(percentile(r.latencies, 0.999))
		rep.MaxMs = ms(r.latencies[n-1])
		rep.LoginsPS = float64(n) / elapsed.Seconds()
	}
	return rep
}

// percentile returns the nearest-rank p-quantile of sorted latencies: the
// smallest value with at least p of them at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
