package bench

import (
	"fmt"
	"math"
	"slices"
)

// Goals of issue 15, as the report checks them.
const (
	GoalRatioToRaw      = 0.80 // whole-path logins/s over raw tx/s
	GoalNoCollapse      = 0.90 // logins/s at a higher concurrency over the best below it (from 4 up): 10 % is noise on a shared box
	GoalOpenP99ExGWms   = 50.0 // p99 at the offered rate, GroupWise's own time excluded
	GoalEdgeCPUPerLogin = 0.6  // ms of edge CPU per accepted login
	noCollapseFrom      = 4
)

// Report is one run's figures.
type Report struct {
	// Command is how the run was started, to reproduce it.
	Command  string    `json:"command,omitempty"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Raw      RawReport `json:"raw"`
	// Edges has the whole-path figures of each edge measured, in the
	// order given (one, unless variants were compared).
	Edges []EdgeReport `json:"edges"`
}

// EdgeReport is one edge's whole-path figures and the goals they meet.
type EdgeReport struct {
	Name string `json:"name"`
	// CPUSource says how edge CPU was read ("" when it was not).
	CPUSource string  `json:"cpuSource,omitempty"`
	Sweep     []Phase `json:"sweep"`
	Open      Phase   `json:"open"`
	// BestLoginsPerSecond is the sweep's highest rate; RatioToRaw divides
	// it by the raw phase's best.
	BestLoginsPerSecond float64 `json:"bestLoginsPerSecond"`
	RatioToRaw          float64 `json:"ratioToRaw"`
	Goals               []Goal  `json:"goals"`
}

// Settings are the run's parameters.
type Settings struct {
	RawConcurrency   []int   `json:"rawConcurrency"`
	RawSeconds       float64 `json:"rawSecondsEach"`
	SweepConcurrency []int   `json:"sweepConcurrency"`
	SweepLogins      int     `json:"sweepLoginsEach"`
	Rate             float64 `json:"openRate"`
	OpenSeconds      float64 `json:"openSeconds"`
	WarmupLogins     int     `json:"warmupLogins"`
	Users            int     `json:"users"`
}

// Goal is one of issue 15's goals with what this run measured of it.
type Goal struct {
	Name     string  `json:"name"`
	Target   string  `json:"target"`
	Measured string  `json:"measured"`
	Value    float64 `json:"value"`
	// Met is nil when the run could not measure the goal (no edge CPU
	// reader, GroupWise not timed).
	Met *bool `json:"met"`
}

func (r *EdgeReport) evaluate(raw float64) {
	for _, p := range r.Sweep {
		r.BestLoginsPerSecond = max(r.BestLoginsPerSecond, p.LoginsPerSecond)
	}
	if raw > 0 {
		r.RatioToRaw = round(r.BestLoginsPerSecond/raw, 3)
	}
	r.Goals = nil
	met := func(ok bool) *bool { return &ok }
	r.Goals = append(r.Goals, Goal{
		Name: "whole path against the database", Target: fmt.Sprintf("≥ %.0f %% of raw", GoalRatioToRaw*100),
		Measured: fmt.Sprintf("%.0f %% (%.1f logins/s, raw %.1f tx/s)", r.RatioToRaw*100, r.BestLoginsPerSecond, raw),
		Value:    r.RatioToRaw, Met: met(r.RatioToRaw >= GoalRatioToRaw),
	})

	worst, at, below := math.Inf(1), 0, 0
	best, bestAt := 0.0, 0
	for _, p := range r.sweepByConcurrency() {
		if p.Concurrency < noCollapseFrom {
			continue
		}
		if best > 0 && p.LoginsPerSecond/best < worst {
			worst, at, below = p.LoginsPerSecond/best, p.Concurrency, bestAt
		}
		if p.LoginsPerSecond > best {
			best, bestAt = p.LoginsPerSecond, p.Concurrency
		}
	}
	g := Goal{Name: "no collapse under concurrency", Target: fmt.Sprintf("from %d in flight up, never below %.0f %% of the best at fewer", noCollapseFrom, GoalNoCollapse*100)}
	if at > 0 {
		g.Value = round(worst, 3)
		g.Measured = fmt.Sprintf("worst %.0f %% (%d in flight against %d)", worst*100, at, below)
		g.Met = met(worst >= GoalNoCollapse)
	} else {
		g.Measured = fmt.Sprintf("needs two concurrencies of %d or more", noCollapseFrom)
	}
	r.Goals = append(r.Goals, g)

	g = Goal{Name: "latency at an offered rate", Target: fmt.Sprintf("p99 < %.0f ms excluding GroupWise at %g/s offered", GoalOpenP99ExGWms, r.Open.OfferedPerSecond)}
	if ex := r.Open.ExGroupWise; ex != nil && ex.N > 0 {
		g.Value = ex.P99ms
		g.Measured = fmt.Sprintf("p99 %.1f ms (with GroupWise %.1f ms; GroupWise alone %.1f ms)", ex.P99ms, r.Open.Latency.P99ms, r.Open.GroupWise.P99ms)
		g.Met = met(ex.P99ms < GoalOpenP99ExGWms)
	} else {
		g.Measured = fmt.Sprintf("p99 %.1f ms with GroupWise (GroupWise not timed)", r.Open.Latency.P99ms)
	}
	r.Goals = append(r.Goals, g)

	g = Goal{Name: "edge CPU per login", Target: fmt.Sprintf("≤ %.1f ms", GoalEdgeCPUPerLogin)}
	if c := r.Open.EdgeCPUPerLoginMs; c != nil {
		g.Value = *c
		g.Measured = fmt.Sprintf("%.2f ms in the open loop (%.0f ms over %d logins)", *c, *r.Open.EdgeCPUms, r.Open.Accepted)
		g.Met = met(*c <= GoalEdgeCPUPerLogin)
	} else {
		g.Measured = "not measured (no edge process to read)"
	}
	r.Goals = append(r.Goals, g)
}

func (r *EdgeReport) sweepByConcurrency() []Phase {
	s := slices.Clone(r.Sweep)
	slices.SortStableFunc(s, func(a, b Phase) int { return a.Concurrency - b.Concurrency })
	return s
}
