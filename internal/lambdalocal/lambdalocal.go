// Package lambdalocal runs collabgw's function binaries the way Lambda does,
// without Docker, and serves Lambda's Invoke API over them, so the AWS SDK's
// Invoke with a BaseEndpoint override works against it as it does against
// `sam local start-lambda`.
//
// Each function gets a supervised pool of AWS Lambda Runtime Interface
// Emulator processes. An emulator serves one invoke at a time, as a Lambda
// execution environment does (the emulator crashes on overlapping invokes),
// so the pool's rules are:
//
//   - an emulator goes back to the free pool only when its invoke has really
//     ended: a caller that gives up (a cancelled context, a closed
//     connection) gets its answer at once, but the invoke runs on, bounded
//     by the function timeout;
//   - an emulator that exits, fails an invoke at the transport level, answers
//     outside the invoke protocol or times out is killed with its function
//     process and replaced at once, and the replacement is logged;
//   - the pool grows on demand up to its instance limit (by default twice
//     GOMAXPROCS, as the functions mostly wait on DynamoDB), and at most a
//     bounded number of invokes wait for a free emulator; past that an
//     invoke is refused at once with Lambda's own throttling answer (429
//     TooManyRequestsException, which the AWS SDK retries with backoff) and
//     counted.
package lambdalocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"
)

// Defaults.
const (
	// DefaultTimeout bounds one invoke, like a function's configured timeout.
	DefaultTimeout = 30 * time.Second
	// DefaultQueuePerInstance sizes the invokes that may wait for a free
	// emulator: about half a second of work per instance at the functions'
	// usual 10–20 ms, well inside the edge's 8 s login timeout. Past it a
	// caller is better told to back off (429) than kept waiting.
	DefaultQueuePerInstance = 32
	// DefaultWarm is the emulators started with the runtime, per function;
	// the rest start on demand.
	DefaultWarm = 1
	// MaxPayload is Lambda's synchronous request and response payload limit.
	MaxPayload = 6 << 20
	// invokeMargin is how much longer than the function timeout an invoke
	// may take before its emulator is declared hung.
	invokeMargin = 5 * time.Second
	// startTimeout bounds an emulator's start-up.
	startTimeout = 10 * time.Second
	// stopTimeout is how long Close waits for SIGTERM before SIGKILL.
	stopTimeout = 3 * time.Second
)

// DefaultInstances is the emulator limit per function: twice GOMAXPROCS
// (the functions mostly wait on DynamoDB), at least 2.
func DefaultInstances() int { return max(2, 2*runtime.GOMAXPROCS(0)) }

// Errors of an invoke.
var (
	// ErrUnknownFunction means no function of that name is served.
	ErrUnknownFunction = errors.New("lambdalocal: unknown function")
	// ErrThrottled means every emulator of the function is busy and its
	// queue is full: Lambda's TooManyRequestsException.
	ErrThrottled = errors.New("lambdalocal: throttled: every emulator busy and the queue full")
	// ErrEmulator means the emulator failed the invoke (it died, hung or
	// broke the protocol); it has been replaced, and retrying is safe for
	// collabgw's idempotent functions.
	ErrEmulator = errors.New("lambdalocal: emulator failed")
	// ErrClosed means the runtime has been closed.
	ErrClosed = errors.New("lambdalocal: closed")
	// ErrBadOption reports an invalid option or function.
	ErrBadOption = errors.New("lambdalocal: invalid option")
)

// Function is one function to serve.
type Function struct {
	Name string
	// Bootstrap is the path of the function binary.
	Bootstrap string
	// Env is the function's environment (KEY=VALUE), on top of the basic
	// Lambda variables the emulator sets.
	Env []string
	// Instances bounds its emulators (0: the runtime's WithInstances).
	Instances int
}

// Result is one invoke's answer.
type Result struct {
	Payload []byte
	// FunctionError is "Unhandled" when the handler returned an error, as
	// Lambda's X-Amz-Function-Error header says; the payload then holds
	// errorType and errorMessage.
	FunctionError string
}

// Option configures a Runtime.
type Option func(*config) error

type config struct {
	log       *slog.Logger
	output    io.Writer
	instances int
	queue     int // per function; 0: DefaultQueuePerInstance × instances
	warm      int
	timeout   time.Duration
	pickAddr  func() (string, error)
}

// WithLogger sets where the runtime logs (replacements, failures).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// WithOutput receives the emulators' and functions' own output (their JSON
// log lines); by default it is discarded.
func WithOutput(w io.Writer) Option {
	return func(c *config) error {
		if w == nil {
			return fmt.Errorf("%w: nil output", ErrBadOption)
		}
		c.output = w
		return nil
	}
}

// WithInstances bounds each function's emulators (default DefaultInstances;
// a Function's own Instances overrides it).
func WithInstances(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 256 {
			return fmt.Errorf("%w: instances %d, want 1–256", ErrBadOption, n)
		}
		c.instances = n
		return nil
	}
}

// WithQueue bounds the invokes of one function that may wait for a free
// emulator (default DefaultQueuePerInstance per instance); 0 refuses every
// invoke that finds all emulators busy, as Lambda does at its concurrency
// limit.
func WithQueue(n int) Option {
	return func(c *config) error {
		if n < 0 || n > 1<<16 {
			return fmt.Errorf("%w: queue %d, want 0–65536", ErrBadOption, n)
		}
		c.queue = n
		return nil
	}
}

// WithWarm sets how many emulators per function start with the runtime
// (default DefaultWarm, capped by the function's instances).
func WithWarm(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: warm %d", ErrBadOption, n)
		}
		c.warm = n
		return nil
	}
}

// WithTimeout sets the functions' timeout (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d > 15*time.Minute {
			return fmt.Errorf("%w: timeout %v, want 1 s–15 min", ErrBadOption, d)
		}
		c.timeout = d
		return nil
	}
}

// WithAddrPicker sets how the emulators' internal listen addresses are
// chosen (default: a free loopback port). The local stack passes a picker
// that never returns an address the user configured for something else.
func WithAddrPicker(pick func() (string, error)) Option {
	return func(c *config) error {
		if pick == nil {
			return fmt.Errorf("%w: nil address picker", ErrBadOption)
		}
		c.pickAddr = pick
		return nil
	}
}

// Runtime serves the functions.
type Runtime struct {
	cfg      config
	emulator string
	pools    map[string]*pool
	client   *http.Client  // to the emulators
	closing  chan struct{} // closed by Close
	closeMu  sync.Once

	mu       sync.Mutex      // guards isClosed, wg.Add and inUse
	isClosed bool            // no goroutine starts once set
	inUse    map[string]bool // addresses given to running emulators
	wg       sync.WaitGroup  // supervisors, starts and detached invokes
}

// spawn runs f in a goroutine Close waits for, unless the runtime is
// closed.
func (r *Runtime) spawn(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isClosed {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// Start starts the warm emulators of every function; the rest start on
// demand. emulator is the path of the aws-lambda-rie binary.
func Start(ctx context.Context, emulator string, fns []Function, opts ...Option) (*Runtime, error) {
	cfg := config{
		log: slog.New(slog.DiscardHandler), output: io.Discard,
		instances: DefaultInstances(), queue: -1, warm: DefaultWarm, timeout: DefaultTimeout,
		pickAddr: freeLoopbackAddr,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(emulator); err != nil {
		return nil, fmt.Errorf("lambdalocal: emulator: %w", err)
	}
	r := &Runtime{
		cfg: cfg, emulator: emulator, pools: map[string]*pool{}, closing: make(chan struct{}), inUse: map[string]bool{},
		client: &http.Client{Transport: &http.Transport{
			// One connection per emulator is all an emulator can use.
			MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute, DisableCompression: true,
		}},
	}
	for _, fn := range fns {
		if fn.Name == "" {
			return nil, fmt.Errorf("%w: a function without a name", ErrBadOption)
		}
		if _, dup := r.pools[fn.Name]; dup {
			return nil, fmt.Errorf("%w: function %s twice", ErrBadOption, fn.Name)
		}
		if fn.Instances < 0 || fn.Instances > 256 {
			return nil, fmt.Errorf("%w: function %s: instances %d, want 1–256", ErrBadOption, fn.Name, fn.Instances)
		}
		if _, err := os.Stat(fn.Bootstrap); err != nil {
			return nil, fmt.Errorf("lambdalocal: function %s: %w", fn.Name, err)
		}
		r.pools[fn.Name] = newPool(r, fn)
	}
	for _, p := range r.pools {
		for range min(cfg.warm, p.max) {
			if err := p.startWarm(ctx); err != nil {
				r.Close()
				return nil, err
			}
		}
	}
	return r, nil
}

// Invoke runs one synchronous invoke of a function. When ctx ends first,
// Invoke returns at once and the invoke runs to its end in the background,
// so the emulator is never handed a second invoke while it runs the first.
func (r *Runtime) Invoke(ctx context.Context, name string, payload []byte) (Result, error) {
	p, ok := r.pools[name]
	if !ok {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownFunction, name)
	}
	return p.invoke(ctx, payload)
}

// ColdStarts returns how long each emulator's first invoke of a function
// took: the function process's start-up and init plus one invoke. (The
// emulator's own "Init Duration" only times its bookkeeping.)
func (r *Runtime) ColdStarts(name string) []time.Duration {
	p, ok := r.pools[name]
	if !ok {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Duration(nil), p.colds...)
}

// Stats returns each function's counters, sorted by name.
func (r *Runtime) Stats() []FunctionStats {
	out := make([]FunctionStats, 0, len(r.pools))
	for _, p := range r.pools {
		out = append(out, p.stats())
	}
	sortStats(out)
	return out
}

// Instances lists a function's running emulators (for diagnostics and
// fault-injection tests).
func (r *Runtime) Instances(name string) []Instance {
	p, ok := r.pools[name]
	if !ok {
		return nil
	}
	return p.instances()
}

// Close stops every emulator and its function process.
func (r *Runtime) Close() {
	r.closeMu.Do(func() {
		close(r.closing)
		r.mu.Lock()
		r.isClosed = true
		r.mu.Unlock()
		for _, p := range r.pools {
			p.close()
		}
		for _, p := range r.pools {
			p.waitStopped()
		}
		r.wg.Wait()
		r.client.CloseIdleConnections()
	})
}

func (r *Runtime) closed() bool {
	select {
	case <-r.closing:
		return true
	default:
		return false
	}
}

func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("lambdalocal: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// maxPicks bounds the tries for an address no emulator of this runtime
// holds.
const maxPicks = 16

// pickUnused picks an address with the configured picker that no running
// emulator of this runtime was given: a free port the kernel offers may be
// one it offered a moment ago to another emulator, not yet bound.
func (r *Runtime) pickUnused() (string, error) {
	for range maxPicks {
		a, err := r.cfg.pickAddr()
		if err != nil {
			return "", err
		}
		r.mu.Lock()
		taken := r.inUse[a]
		if !taken {
			r.inUse[a] = true
		}
		r.mu.Unlock()
		if !taken {
			return a, nil
		}
	}
	return "", errors.New("lambdalocal: the address picker keeps returning addresses in use")
}

// releaseAddrs frees an exited emulator's addresses.
func (r *Runtime) releaseAddrs(addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range addrs {
		delete(r.inUse, a)
	}
}
