// Package loadgen is the device-side load generator behind `collabgw
// device load`: it logs many devices in to an edge at a bounded
// concurrency, holds the accepted sessions while sending their periodic
// STATUS messages, then logs them out, and reports statuses and latency.
// The end-to-end tests and docs/benchmarks.md use it too.
package loadgen

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// Defaults of a run.
const (
	DefaultConcurrency = 32
	DefaultStatusEvery = 30 * time.Second
	// StatusError counts logins that ended without any status (a dropped
	// or refused connection, a timeout) in Report.Statuses.
	StatusError = "ERROR"
)

// Config describes a run. Device i (from First) is DeviceID(i) logging in
// as UserID(i) with the key KeyDir/UserID(i).key, as the local stack's
// demo seed lays them out.
type Config struct {
	Edge        string
	Gateway     devproto.PublicKey
	KeyDir      string
	First       int
	Users       int
	Concurrency int
	Password    string
	// Hold is how long the accepted sessions are held after the last
	// login, sending STATUS every StatusEvery, before they log out.
	Hold        time.Duration
	StatusEvery time.Duration
	DeviceID    func(i int) string
	UserID      func(i int) string
	// Progress, when set, is called after each login with the count done.
	Progress func(done int)
	// Held, when set, is called once every login finished and the
	// accepted sessions are held (a memory probe goes here).
	Held func(ctx context.Context, held int)
}

// Report is what a run measured. Latency is one login round trip: TCP
// connect, Noise handshake, the edge's admission and GroupWise login.
type Report struct {
	Users    int            `json:"users"`
	Statuses map[string]int `json:"statuses"`
	Held     int            `json:"held"`
	Seconds  float64        `json:"seconds"` // from the first login to the last answer
	LoginsPS float64        `json:"loginsPerSecond"`
	P50ms    float64        `json:"p50Ms"`
	P90ms    float64        `json:"p90Ms"`
	P99ms    float64        `json:"p99Ms"`
	MaxMs    float64        `json:"maxMs"`
	Dropped  int            `json:"droppedWhileHeld"` // sessions the edge ended during the hold
	FirstErr string         `json:"firstError,omitempty"`
}

// Run logs the devices in, holds, logs out, and reports.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Users < 1 || cfg.Edge == "" || cfg.Gateway.IsZero() {
		return Report{}, errors.New("loadgen: need an edge address, the gateway key and at least one user")
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = DefaultConcurrency
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
	r := &run{cfg: cfg, statuses: map[string]int{}}
	start := time.Now()
	r.loginAll(ctx)
	rep := r.report(time.Since(start))
	if cfg.Held != nil {
		cfg.Held(ctx, len(r.held))
	}
	rep.Dropped = r.hold(ctx)
	return rep, nil
}

type run struct {
	cfg  Config
	done atomic.Int64

	mu        sync.Mutex // guards the fields below
	statuses  map[string]int
	latencies []time.Duration
	held      []*devconn.Session
	firstErr  error
}

func (r *run) loginAll(ctx context.Context) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r.loginOne(ctx, i)
				if r.cfg.Progress != nil {
					r.cfg.Progress(int(r.done.Add(1)))
				}
			}
		}()
	}
	for i := r.cfg.First; i < r.cfg.First+r.cfg.Users && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

func (r *run) loginOne(ctx context.Context, i int) {
	key, err := devproto.LoadPrivateKey(filepath.Join(r.cfg.KeyDir, r.cfg.UserID(i)+devproto.PrivateKeySuffix))
	if err != nil {
		r.record(StatusError, 0, nil, err)
		return
	}
	c, err := devconn.NewClient(key, r.cfg.Gateway)
	if err != nil {
		r.record(StatusError, 0, nil, err)
		return
	}
	t0 := time.Now()
	conn, err := c.Dial(ctx, r.cfg.Edge)
	if err != nil {
		r.record(StatusError, 0, nil, err)
		return
	}
	s, err := c.Login(ctx, conn, devproto.Login{
		DeviceID: r.cfg.DeviceID(i), UserID: r.cfg.UserID(i), Password: devproto.Password(r.cfg.Password),
		ClientVersion: "collabgw-load/1",
	})
	lat := time.Since(t0)
	var rej *devconn.RejectedError
	switch {
	case errors.As(err, &rej):
		r.record(rej.Status.Code.String(), lat, nil, nil)
	case err != nil:
		r.record(StatusError, 0, nil, err)
	default:
		r.record(status.Accepted.String(), lat, s, nil)
	}
}

func (r *run) record(name string, lat time.Duration, s *devconn.Session, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses[name]++
	if lat > 0 {
		r.latencies = append(r.latencies, lat)
	}
	if s != nil {
		r.held = append(r.held, s)
	}
	if err != nil && r.firstErr == nil {
		r.firstErr = err
	}
}

func (r *run) report(elapsed time.Duration) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{Users: r.cfg.Users, Statuses: r.statuses, Held: len(r.held), Seconds: elapsed.Seconds()}
	if r.firstErr != nil {
		rep.FirstErr = r.firstErr.Error()
	}
	if n := len(r.latencies); n > 0 {
		slices.Sort(r.latencies)
		pct := func(p float64) float64 {
			return ms(r.latencies[min(n-1, int(p*float64(n)))])
		}
		rep.P50ms, rep.P90ms, rep.P99ms, rep.MaxMs = pct(0.50), pct(0.90), pct(0.99), ms(r.latencies[n-1])
		rep.LoginsPS = float64(n) / elapsed.Seconds()
	}
	return rep
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// hold keeps the sessions for the hold time, each sending STATUS on its
// interval and reading what the edge sends, then logs them all out. It
// returns how many the edge ended meanwhile.
func (r *run) hold(ctx context.Context) int {
	// A cancel, not a deadline: devconn keeps a session open when its
	// context is cancelled between frames, but a socket deadline that
	// fires first closes it, and the LOGOUT below needs it open.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := time.AfterFunc(r.cfg.Hold, cancel)
	defer stop.Stop()
	var dropped atomic.Int64
	var wg sync.WaitGroup
	for _, s := range r.held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !holdOne(hctx, s, r.cfg.StatusEvery) {
				dropped.Add(1)
			}
			lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second) // the hold ended hctx
			_ = s.Send(lctx, &devproto.Logout{})
			lcancel()
			s.Close()
		}()
	}
	wg.Wait()
	return int(dropped.Load())
}

// holdOne reads s until ctx ends, sending STATUS every interval; false if
// the session ended first.
func holdOne(ctx context.Context, s *devconn.Session, every time.Duration) bool {
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.Done():
				return
			case <-t.C:
				// Not ctx: a write cut short by the end of the hold
				// would close the session before its LOGOUT.
				_ = s.Send(context.WithoutCancel(ctx), &devproto.Status{Presence: devproto.PresenceOnline})
			}
		}
	}()
	for {
		m, err := s.Receive(ctx)
		if err != nil {
			return ctx.Err() != nil
		}
		if st, ok := m.(*devproto.ServerStatus); ok && st.Code != status.Accepted {
			return false
		}
	}
}
