// Package bench measures collabgw's whole login path against the database
// under it, in one run on one machine, for `collabgw bench` and
// docs/benchmarks.md:
//
//  1. raw: DynamoDB Local alone, committing the admission-shaped
//     transaction (a session put, a conditional ADD on one hot counter, a
//     device update, a user condition check) at a few concurrencies; the
//     best rate is "raw";
//  2. sweep: the whole path — devices → edge → authorize under the Lambda
//     emulator → DynamoDB Local → GroupWise — with the load generator's
//     closed loop at concurrencies 1, 4, 16 and 64;
//  3. open: logins started on schedule at a fixed offered rate, with each
//     login's latency paired with the GroupWise simulator's own time for
//     the same login, so "latency excluding GroupWise" is measured per
//     login rather than estimated;
//
// and, for every login phase, the edge processes' CPU time (from
// /proc/<pid>/stat) divided by the logins they accepted. Sessions are
// logged out and released between phases (the pool's counter is back at
// zero before the next begins), so phases do not interfere.
//
// The package drives a stack someone else started (internal/localstack,
// or a running one named by its endpoints): Target says where everything
// is. It owns no process.
package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/gwsim"
)

// Defaults of a run: a few minutes on 2 cores.
var (
	// DefaultRawConcurrency are the raw phase's transactions in flight,
	// measured in turn; DefaultSweepConcurrency the sweep's logins in
	// flight.
	DefaultRawConcurrency   = []int{4, 16, 32}
	DefaultSweepConcurrency = []int{1, 4, 16, 64}
)

// Defaults of a run, continued.
const (
	DefaultRawDuration   = 4 * time.Second
	DefaultSweepLogins   = 400
	DefaultRate          = 100.0
	DefaultOpenDuration  = 10 * time.Second
	DefaultWarmupLogins  = 64
	DefaultSettleTimeout = 30 * time.Second
	// MaxConcurrency bounds a closed loop's logins in flight: far above
	// what the goals ask (64) and what a 2-core stack can serve.
	MaxConcurrency = 1024
	// rawSuffix names the raw phase's own table after the stack's.
	rawSuffix = "-bench-raw"
)

// ErrConfig reports a run that cannot be made.
var ErrConfig = errors.New("bench: invalid configuration")

// GroupWiseTimer reports each GroupWise login's own time; the simulator
// (*gwsim.Server) is one.
type GroupWiseTimer interface {
	ObserveLogins(fn func(gwsim.LoginTiming)) (stop func())
}

var _ GroupWiseTimer = (*gwsim.Server)(nil)

// SessionCounter reads a pool's live-session counter;
// *admission.Store is one.
type SessionCounter interface {
	Counter(ctx context.Context, pool string) (int, error)
}

// Edge is one edge (or one fleet behind its balancer) a run measures.
type Edge struct {
	// Name tells variants apart in the report ("edge" when there is one).
	Name string
	// Addr is the devices' address.
	Addr string
	// CPU reads the CPU time of the edge's processes (nil: not measured);
	// CPUSource says how, for the report.
	CPU       CPUReader
	CPUSource string
}

// Target is the stack a run measures.
type Target struct {
	// DB is a client of the stack's DynamoDB Local and Table its table;
	// the raw phase creates and deletes a table of its own beside it.
	DB    DynamoDB
	Table string
	// Sessions reads Pool's counter, to wait for the releases between
	// phases.
	Sessions SessionCounter
	Pool     string
	// Edges are the edges to measure: one, or variants of it (another
	// build, another environment) measured side by side, each phase run
	// against each in turn. Gateway is their public key.
	Edges   []Edge
	Gateway devproto.PublicKey
	// KeyDir holds the demo devices' keys (userNNNN.key); Users is how
	// many demo users the stack seeded (user0001…), all with Password.
	KeyDir   string
	Users    int
	Password string
	// GroupWise, when set, times GroupWise's share of each login; without
	// it latency excluding GroupWise is not reported.
	GroupWise GroupWiseTimer
	// Stack, when set, reads the CPU of every part of the stack, for the
	// CPU each part spends per login and per raw transaction.
	Stack StackCPU
}

// Option configures a run.
type Option func(*config) error

type config struct {
	rawConcurrency   []int
	rawDuration      time.Duration
	sweepConcurrency []int
	sweepLogins      int
	rate             float64
	openDuration     time.Duration
	warmup           int
	settle           time.Duration
	log              *slog.Logger
}

// WithRaw sets the raw phase's concurrencies and how long each runs.
func WithRaw(concurrencies []int, each time.Duration) Option {
	return func(c *config) error {
		if len(concurrencies) == 0 || each <= 0 {
			return fmt.Errorf("%w: the raw phase needs concurrencies and a positive duration", ErrConfig)
		}
		for _, n := range concurrencies {
			if n < 1 || n > rawDevices {
				return fmt.Errorf("%w: raw concurrency %d not in 1..%d", ErrConfig, n, rawDevices)
			}
		}
		c.rawConcurrency, c.rawDuration = slices.Clone(concurrencies), each
		return nil
	}
}

// WithSweep sets the closed-loop concurrencies and the logins of each.
func WithSweep(concurrencies []int, logins int) Option {
	return func(c *config) error {
		if len(concurrencies) == 0 || logins < 1 {
			return fmt.Errorf("%w: the sweep needs concurrencies and at least one login", ErrConfig)
		}
		for _, n := range concurrencies {
			if n < 1 || n > MaxConcurrency {
				return fmt.Errorf("%w: concurrency %d not in 1..%d", ErrConfig, n, MaxConcurrency)
			}
		}
		c.sweepConcurrency, c.sweepLogins = slices.Clone(concurrencies), logins
		return nil
	}
}

// WithOpen sets the open-loop phase's offered rate (logins/s) and length.
func WithOpen(rate float64, d time.Duration) Option {
	return func(c *config) error {
		if !(rate > 0) || rate > 10_000 || d <= 0 || rate*d.Seconds() < 1 {
			return fmt.Errorf("%w: the open loop needs a rate in (0, 10000]/s and a duration of at least one login", ErrConfig)
		}
		c.rate, c.openDuration = rate, d
		return nil
	}
}

// WithWarmup sets the logins run before anything is measured (0: none):
// the first logins start the emulators' functions and warm DynamoDB
// Local's JIT.
func WithWarmup(logins int) Option {
	return func(c *config) error {
		if logins < 0 {
			return fmt.Errorf("%w: negative warm-up", ErrConfig)
		}
		c.warmup = logins
		return nil
	}
}

// WithSettleTimeout bounds the wait for a phase's sessions to be released.
func WithSettleTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: settle timeout must be positive", ErrConfig)
		}
		c.settle = d
		return nil
	}
}

// WithLogger logs each phase as it ends.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrConfig)
		}
		c.log = l
		return nil
	}
}

// Bench is a configured run.
type Bench struct {
	t   Target
	cfg config
}

// New checks the target and the options.
func New(t Target, opts ...Option) (*Bench, error) {
	cfg := config{
		rawConcurrency: DefaultRawConcurrency, rawDuration: DefaultRawDuration,
		sweepConcurrency: DefaultSweepConcurrency, sweepLogins: DefaultSweepLogins,
		rate: DefaultRate, openDuration: DefaultOpenDuration,
		warmup: DefaultWarmupLogins, settle: DefaultSettleTimeout,
		log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	switch {
	case t.DB == nil || t.Table == "":
		return nil, fmt.Errorf("%w: need the stack's DynamoDB client and table", ErrConfig)
	case t.Sessions == nil || t.Pool == "":
		return nil, fmt.Errorf("%w: need the pool and a way to read its counter", ErrConfig)
	case len(t.Edges) == 0 || t.Gateway.IsZero() || t.KeyDir == "":
		return nil, fmt.Errorf("%w: need an edge, the gateway key and the device keys", ErrConfig)
	}
	names := map[string]bool{}
	for _, e := range t.Edges {
		if e.Addr == "" || e.Name == "" || names[e.Name] {
			return nil, fmt.Errorf("%w: every edge needs an address and a name of its own", ErrConfig)
		}
		names[e.Name] = true
	}
	need := max(cfg.sweepLogins, cfg.openLogins(), cfg.warmup)
	if t.Users < need {
		return nil, fmt.Errorf("%w: the stack has %d demo users, a phase needs %d (seed more: --demo-users)", ErrConfig, t.Users, need)
	}
	return &Bench{t: t, cfg: cfg}, nil
}

func (c config) openLogins() int { return int(c.rate * c.openDuration.Seconds()) }

// Run measures every phase and evaluates the goals. With several edges,
// each phase runs against each edge in turn before the next phase, so
// that a change in the machine's load falls on all of them alike.
func (b *Bench) Run(ctx context.Context) (Report, error) {
	rep := Report{Machine: machine(), Settings: b.settings()}
	log := b.cfg.log

	r := &raw{db: b.t.DB, table: b.t.Table + rawSuffix, stack: b.t.Stack}
	var err error
	log.Info("raw: DynamoDB Local alone, admission-shaped transactions", "concurrency", b.cfg.rawConcurrency, "each", b.cfg.rawDuration)
	if rep.Raw, err = r.run(ctx, b.cfg.rawConcurrency, b.cfg.rawDuration); err != nil {
		return rep, err
	}
	log.Info("raw done", "best_tx_per_s", rep.Raw.Best)

	w := &whole{t: b.t, settle: b.cfg.settle, log: log}
	for _, e := range b.t.Edges {
		rep.Edges = append(rep.Edges, EdgeReport{Name: e.Name, CPUSource: e.CPUSource})
		if b.cfg.warmup > 0 {
			log.Info("warm-up", "edge", e.Name, "logins", b.cfg.warmup)
			if _, err := w.phase(ctx, e, phaseSpec{name: "warm-up", concurrency: min(4, b.cfg.warmup), logins: b.cfg.warmup}); err != nil {
				return rep, err
			}
		}
	}
	for _, c := range b.cfg.sweepConcurrency {
		for i, e := range b.t.Edges {
			p, err := w.phase(ctx, e, phaseSpec{name: fmt.Sprintf("closed %d", c), concurrency: c, logins: b.cfg.sweepLogins})
			if err != nil {
				return rep, err
			}
			rep.Edges[i].Sweep = append(rep.Edges[i].Sweep, p)
		}
	}
	for i, e := range b.t.Edges {
		if rep.Edges[i].Open, err = w.phase(ctx, e, phaseSpec{name: fmt.Sprintf("open %g/s", b.cfg.rate), rate: b.cfg.rate, logins: b.cfg.openLogins()}); err != nil {
			return rep, err
		}
	}
	rep.Machine.LoadAfter = loadAverage()
	for i := range rep.Edges {
		rep.Edges[i].evaluate(rep.Raw.Best)
	}
	return rep, nil
}

func (b *Bench) settings() Settings {
	return Settings{
		RawConcurrency: b.cfg.rawConcurrency, RawSeconds: b.cfg.rawDuration.Seconds(),
		SweepConcurrency: b.cfg.sweepConcurrency, SweepLogins: b.cfg.sweepLogins,
		Rate: b.cfg.rate, OpenSeconds: b.cfg.openDuration.Seconds(), WarmupLogins: b.cfg.warmup,
		Users: b.t.Users,
	}
}
