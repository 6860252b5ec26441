package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/devconn/loadgen"
	"github.com/collabgw/collabgw/internal/gwproto"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/status"
)

// Phase is one whole-path load: devices → edge → authorize → DynamoDB →
// GroupWise, and back.
type Phase struct {
	Name string `json:"name"`
	Edge string `json:"edge"`
	Mode string `json:"mode"` // "closed" or "open"
	// Concurrency is the closed loop's logins in flight; OfferedPerSecond
	// the open loop's rate.
	Concurrency      int     `json:"concurrency,omitempty"`
	OfferedPerSecond float64 `json:"offeredPerSecond,omitempty"`
	Logins           int     `json:"logins"`
	Accepted         int     `json:"accepted"`
	// Statuses counts every answer by status name (ERROR: none came).
	Statuses map[string]int `json:"statuses"`
	Seconds  float64        `json:"seconds"` // first login to last answer
	// LoginsPerSecond counts accepted logins only.
	LoginsPerSecond float64 `json:"loginsPerSecond"`
	// Latency is each accepted login's round trip on the device; in the
	// open loop from its scheduled start.
	Latency Latency `json:"latency"`
	// GroupWise is the simulator's own time for the same logins (accept →
	// TLS handshake → login answer written); ExGroupWise each login's
	// latency minus its own GroupWise time. Nil when GroupWise is not
	// timed.
	GroupWise   *Latency `json:"groupWise,omitempty"`
	ExGroupWise *Latency `json:"exGroupWise,omitempty"`
	// EdgeCPUPerLoginMs is the edge processes' CPU time over the phase
	// (first login to last answer) divided by the logins accepted;
	// EdgeCPUms the CPU time itself. Nil when edge CPU is not measured.
	EdgeCPUms         *float64 `json:"edgeCpuMs,omitempty"`
	EdgeCPUPerLoginMs *float64 `json:"edgeCpuPerLoginMs,omitempty"`
	// CPUPerLoginMs is the CPU each part of the stack spent per accepted
	// login over the same span (ms), when the stack's CPU is read: where
	// the machine's cores go.
	CPUPerLoginMs map[string]float64 `json:"cpuPerLoginMs,omitempty"`
	// StartedLate counts open-loop logins that waited for an in-flight
	// slot (their wait is in their latency).
	StartedLate int    `json:"startedLate,omitempty"`
	FirstError  string `json:"firstError,omitempty"`
	// Unreleased counts sessions still live in the pool when the settle
	// timeout ended the wait after the phase (a login the stack admitted
	// but failed to answer leaves one until its lease expires): the next
	// phases run with them held.
	Unreleased int `json:"unreleased,omitempty"`
}

type phaseSpec struct {
	name        string
	concurrency int     // closed loop
	rate        float64 // open loop, when above 0
	logins      int
}

// whole runs the login phases, rotating through the demo users so that a
// device logs in as seldom as possible (the edge limits logins per
// device).
type whole struct {
	t      Target
	settle time.Duration
	log    *slog.Logger
	next   int // the next phase's first user, from 1
}

// users picks n consecutive demo users for a phase.
func (w *whole) users(n int) (first int) {
	if w.next < 1 || w.next+n-1 > w.t.Users {
		w.next = 1
	}
	first = w.next
	w.next += n
	return first
}

func (w *whole) phase(ctx context.Context, e Edge, spec phaseSpec) (Phase, error) {
	p := Phase{Name: spec.name, Edge: e.Name, Mode: "closed", Concurrency: spec.concurrency, Logins: spec.logins}
	if spec.rate > 0 {
		p.Mode, p.Concurrency, p.OfferedPerSecond = "open", 0, spec.rate
	}
	var (
		mu     sync.Mutex // guards the maps: logins answer on many goroutines
		device = make(map[string]time.Duration, spec.logins)
		gw     = make(map[string]time.Duration, spec.logins)
	)
	if w.t.GroupWise != nil {
		stop := w.t.GroupWise.ObserveLogins(func(lt gwsim.LoginTiming) {
			if lt.Result != gwproto.ResultOK {
				return
			}
			mu.Lock()
			gw[lt.User] = lt.Total
			mu.Unlock()
		})
		defer stop()
	}
	baseline, err := w.t.Sessions.Counter(ctx, w.t.Pool)
	if err != nil {
		return p, fmt.Errorf("bench: %s on %s: read the pool's counter: %w", spec.name, e.Name, err)
	}
	var (
		cpuStart, cpuEnd     time.Duration
		cpuErr               error
		stackStart, stackEnd map[string]time.Duration
	)
	if e.CPU != nil {
		cpuStart, cpuErr = e.CPU.CPUTime()
	}
	if w.t.Stack != nil && cpuErr == nil {
		stackStart, cpuErr = w.t.Stack.CPUByCommand()
	}
	cfg := loadgen.Config{
		Edge: e.Addr, Gateway: w.t.Gateway, KeyDir: w.t.KeyDir, Password: w.t.Password,
		First: w.users(spec.logins), Users: spec.logins,
		Concurrency: spec.concurrency, Rate: spec.rate,
		// Log out as soon as every login answered: the phase measures
		// logins, and the next one starts from an empty pool.
		Hold: 0,
		Observe: func(user, st string, lat time.Duration) {
			if st != status.Accepted.String() {
				return
			}
			mu.Lock()
			device[user] = lat
			mu.Unlock()
		},
		// Every login answered and none has logged out yet: the CPU the
		// edge spent on this phase's logins.
		Held: func(context.Context, int) {
			if e.CPU != nil && cpuErr == nil {
				cpuEnd, cpuErr = e.CPU.CPUTime()
			}
			if w.t.Stack != nil && cpuErr == nil {
				stackEnd, cpuErr = w.t.Stack.CPUByCommand()
			}
		},
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return p, fmt.Errorf("bench: %s on %s: %w", spec.name, e.Name, err)
	}
	if p.Unreleased, err = w.waitReleased(ctx, baseline); err != nil {
		return p, fmt.Errorf("bench: %s on %s: %w", spec.name, e.Name, err)
	}
	if p.Unreleased > 0 {
		w.log.Warn("sessions still live after the phase; going on with them held", "phase", spec.name, "edge", e.Name,
			"unreleased", p.Unreleased, "waited", w.settle)
	}
	p.Statuses, p.Seconds, p.StartedLate, p.FirstError = rep.Statuses, round(rep.Seconds, 3), rep.StartedLate, rep.FirstErr
	p.Accepted = rep.Statuses[status.Accepted.String()]
	if rep.Seconds > 0 {
		p.LoginsPerSecond = round(float64(p.Accepted)/rep.Seconds, 1)
	}
	mu.Lock()
	defer mu.Unlock()
	lat := make([]time.Duration, 0, len(device))
	for _, d := range device {
		lat = append(lat, d)
	}
	p.Latency = summarize(lat)
	if w.t.GroupWise != nil {
		p.GroupWise, p.ExGroupWise = pairGroupWise(device, gw)
	}
	if cpuErr != nil {
		return p, fmt.Errorf("bench: %s on %s: CPU: %w", spec.name, e.Name, cpuErr)
	}
	if w.t.Stack != nil {
		p.CPUPerLoginMs = cpuDelta(stackStart, stackEnd, p.Accepted)
	}
	if e.CPU != nil {
		cpu := ms(cpuEnd - cpuStart)
		p.EdgeCPUms = &cpu
		if p.Accepted > 0 {
			per := round(cpu/float64(p.Accepted), 3)
			p.EdgeCPUPerLoginMs = &per
		}
	}
	w.log.Info("phase done", "phase", spec.name, "edge", e.Name, "accepted", p.Accepted, "logins_per_s", p.LoginsPerSecond,
		"p50_ms", p.Latency.P50ms, "p99_ms", p.Latency.P99ms)
	return p, nil
}

// pairGroupWise summarises GroupWise's own time of the accepted logins and
// each one's latency without it. A login the simulator did not time (none
// should be missing) is left out of both.
func pairGroupWise(device, gw map[string]time.Duration) (own, without *Latency) {
	var g, ex []time.Duration
	for user, d := range device {
		t, ok := gw[user]
		if !ok {
			continue
		}
		g = append(g, t)
		ex = append(ex, max(d-t, 0))
	}
	a, b := summarize(g), summarize(ex)
	return &a, &b
}

// waitReleased waits until the pool's counter is back at baseline, its
// value before the phase: every session of the phase logged out and
// released. It returns how many were still live when the settle timeout
// ended the wait.
func (w *whole) waitReleased(ctx context.Context, baseline int) (unreleased int, err error) {
	deadline := time.Now().Add(w.settle)
	for {
		n, err := w.t.Sessions.Counter(ctx, w.t.Pool)
		if err != nil {
			return 0, fmt.Errorf("read the pool's counter: %w", err)
		}
		if n <= baseline {
			return 0, nil
		}
		if time.Now().After(deadline) {
			return n - baseline, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
