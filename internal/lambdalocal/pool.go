package lambdalocal

import (
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pool is one function's emulators.
type pool struct {
	r   *Runtime
	fn  Function
	max int // emulators at most
	// slots admits invokes: capacity max + queue. An invoke holds a slot
	// from admission until its emulator is free again, so a detached
	// invoke still counts against the function's capacity.
	slots chan struct{}

	mu       sync.Mutex // guards the fields below
	idle     []*instance
	waiters  *list.List // of chan acquired, oldest first
	live     int        // instances started or starting and not dead
	all      map[*instance]struct{}
	colds    []time.Duration
	lastDied time.Time     // when an instance last died unasked
	backoff  time.Duration // before the next replacement, after quick deaths
	counts   counts
}

type counts struct {
	invokes, throttled, abandoned, replaced, startFailures, emulatorErrors int64
}

// acquired is what a waiting invoke is handed: an instance, or why none
// will come.
type acquired struct {
	inst *instance
	err  error
}

// instance is one emulator process and the function process it runs.
type instance struct {
	cmd     *exec.Cmd
	url     string
	started time.Time
	exited  chan struct{} // closed when the emulator process has exited
	err     error         // why it exited; read after exited is closed

	// Guarded by the pool's mu.
	ready  bool // listened: from now on its death is replaced
	busy   bool
	warm   bool // has served an invoke
	killed bool // killed by the pool
}

func (i *instance) dead() bool {
	select {
	case <-i.exited:
		return true
	default:
		return false
	}
}

// Instance describes a running emulator.
type Instance struct {
	Pid  int  // the emulator's process id (its function process is its child)
	Busy bool // serving an invoke
}

// FunctionStats are one function's counters.
type FunctionStats struct {
	Name      string `json:"name"`
	Instances int    `json:"instances"` // running or starting
	Max       int    `json:"max"`
	Busy      int    `json:"busy"`
	Waiting   int    `json:"waiting"` // invokes waiting for a free emulator
	Invokes   int64  `json:"invokes"`
	// Throttled invokes were refused (429): every emulator busy, the queue full.
	Throttled int64 `json:"throttled"`
	// Abandoned invokes lost their caller before the end; they ran on.
	Abandoned int64 `json:"abandoned"`
	// Replaced counts emulators that died or were killed and replaced.
	Replaced       int64 `json:"replaced"`
	StartFailures  int64 `json:"startFailures"`
	EmulatorErrors int64 `json:"emulatorErrors"` // invokes the emulator failed
}

func sortStats(s []FunctionStats) {
	slices.SortFunc(s, func(a, b FunctionStats) int { return strings.Compare(a.Name, b.Name) })
}

func newPool(r *Runtime, fn Function) *pool {
	n := fn.Instances
	if n == 0 {
		n = r.cfg.instances
	}
	queue := r.cfg.queue
	if queue < 0 {
		queue = DefaultQueuePerInstance * n
	}
	return &pool{
		r: r, fn: fn, max: n, slots: make(chan struct{}, n+queue),
		waiters: list.New(), all: map[*instance]struct{}{},
	}
}

// invoke admits, waits for an emulator and runs the invoke on it.
func (p *pool) invoke(ctx context.Context, payload []byte) (Result, error) {
	select {
	case p.slots <- struct{}{}:
	default:
		p.count(func(c *counts) { c.throttled++ })
		return Result{}, fmt.Errorf("%w (function %s)", ErrThrottled, p.fn.Name)
	}
	inst, err := p.acquire(ctx)
	if err != nil {
		<-p.slots
		return Result{}, err
	}
	p.count(func(c *counts) { c.invokes++ })
	done := make(chan invokeResult, 1)
	if !p.r.spawn(func() {
		res, err := p.run(inst, payload)
		<-p.slots
		done <- invokeResult{res, err}
	}) {
		p.release(inst, false)
		<-p.slots
		return Result{}, ErrClosed
	}
	select {
	case out := <-done:
		return out.res, out.err
	case <-ctx.Done():
		p.count(func(c *counts) { c.abandoned++ })
		return Result{}, fmt.Errorf("lambdalocal: %s: caller gone (the invoke runs to its end): %w", p.fn.Name, ctx.Err())
	}
}

type invokeResult struct {
	res Result
	err error
}

// acquire takes an idle instance, or waits for one, starting another when
// the pool may grow.
func (p *pool) acquire(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if p.r.closed() {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	for len(p.idle) > 0 {
		inst := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !inst.dead() && !inst.killed {
			inst.busy = true
			p.mu.Unlock()
			return inst, nil
		}
	}
	if p.live < p.max && p.r.spawn(func() { p.startAsync(0) }) {
		p.live++
	}
	ch := make(chan acquired, 1)
	el := p.waiters.PushBack(ch)
	p.mu.Unlock()
	select {
	case a := <-ch:
		return a.inst, a.err
	case <-ctx.Done():
		p.mu.Lock()
		queued := el.Value != nil // handOver clears it under mu
		if queued {
			p.waiters.Remove(el)
		}
		p.mu.Unlock()
		if !queued {
			// An instance was handed over as the caller left: pass it on.
			if a := <-ch; a.inst != nil {
				p.release(a.inst, true)
			}
		}
		return nil, fmt.Errorf("lambdalocal: wait for a free %s emulator: %w", p.fn.Name, ctx.Err())
	}
}

// handOverLocked gives the oldest waiter a, if there is a waiter; call with
// mu held.
func (p *pool) handOverLocked(a acquired) bool {
	front := p.waiters.Front()
	if front == nil {
		return false
	}
	ch := front.Value.(chan acquired)
	front.Value = nil
	p.waiters.Remove(front)
	ch <- a // buffered: never blocks
	return true
}

// release gives an instance back after its invoke has ended: to the oldest
// waiter, or to the idle list. A broken one is killed instead (its
// supervisor starts the replacement).
func (p *pool) release(inst *instance, healthy bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	inst.busy = false
	if !healthy || inst.dead() || p.r.closed() {
		p.killLocked(inst)
		return
	}
	inst.busy = true
	if p.handOverLocked(acquired{inst: inst}) {
		return
	}
	inst.busy = false
	p.idle = append(p.idle, inst)
}

// run sends one invoke to an emulator, detached from the caller: it ends
// when the emulator answers or the function timeout (plus a margin) has
// passed. The instance is released, healthy or killed, before it returns.
func (p *pool) run(inst *instance, payload []byte) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.r.cfg.timeout+invokeMargin)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inst.url, bytes.NewReader(payload))
	if err != nil {
		p.release(inst, true)
		return Result{}, fmt.Errorf("lambdalocal: %w", err)
	}
	start := time.Now()
	resp, err := p.r.client.Do(req)
	if err != nil {
		return Result{}, p.emulatorFailed(inst, fmt.Errorf("invoke: %w", err))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPayload+1))
	resp.Body.Close()
	if err != nil {
		return Result{}, p.emulatorFailed(inst, fmt.Errorf("read the answer: %w", err))
	}
	p.noteCold(inst, time.Since(start))
	switch {
	case len(body) > MaxPayload:
		// The emulator is fine; the function broke Lambda's response limit.
		p.release(inst, true)
		return errorResult("Function.ResponseSizeTooLarge", fmt.Sprintf("response payload exceeds %d bytes", MaxPayload)), nil
	case resp.StatusCode != http.StatusOK:
		// Outside the invoke protocol (init failure, a reservation error):
		// the emulator's state is unknown, so it is replaced.
		p.release(inst, false)
		p.count(func(c *counts) { c.emulatorErrors++ })
		if functionError(body) != "" {
			return Result{Payload: body, FunctionError: "Unhandled"}, nil
		}
		return errorResult("Runtime.EmulatorError", fmt.Sprintf("the emulator answered HTTP %d", resp.StatusCode)), nil
	case bytes.HasPrefix(body, []byte("Task timed out")):
		// The emulator resets the function after a timeout; a fresh one is
		// the safer next host.
		p.release(inst, false)
		return errorResult("Sandbox.Timedout", string(body)), nil
	}
	p.release(inst, true)
	return Result{Payload: body, FunctionError: functionError(body)}, nil
}

func (p *pool) emulatorFailed(inst *instance, err error) error {
	p.release(inst, false)
	p.count(func(c *counts) { c.emulatorErrors++ })
	p.r.cfg.log.Warn("emulator failed an invoke; replacing it", "function", p.fn.Name, "pid", inst.cmd.Process.Pid, "err", err)
	return fmt.Errorf("%w: %s: %w", ErrEmulator, p.fn.Name, err)
}

func (p *pool) noteCold(inst *instance, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !inst.warm {
		inst.warm = true
		p.colds = append(p.colds, d)
	}
}

// errorResult is the error document Lambda returns for a failure outside
// the handler.
func errorResult(typ, msg string) Result {
	b, _ := json.Marshal(map[string]string{"errorType": typ, "errorMessage": msg}) //nolint:errchkjson // strings only
	return Result{Payload: b, FunctionError: "Unhandled"}
}

// functionError recognises the runtime's error document.
func functionError(body []byte) string {
	var doc struct {
		ErrorType    *string `json:"errorType"`
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.ErrorType != nil && doc.ErrorMessage != nil {
		return "Unhandled"
	}
	return ""
}

func (p *pool) count(f func(*counts)) {
	p.mu.Lock()
	f(&p.counts)
	p.mu.Unlock()
}

func (p *pool) stats() FunctionStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := FunctionStats{
		Name: p.fn.Name, Instances: p.live, Max: p.max, Waiting: p.waiters.Len(),
		Invokes: p.counts.invokes, Throttled: p.counts.throttled, Abandoned: p.counts.abandoned,
		Replaced: p.counts.replaced, StartFailures: p.counts.startFailures, EmulatorErrors: p.counts.emulatorErrors,
	}
	for inst := range p.all {
		if inst.busy {
			st.Busy++
		}
	}
	return st
}

func (p *pool) instances() []Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Instance, 0, len(p.all))
	for inst := range p.all {
		if !inst.dead() && !inst.killed {
			out = append(out, Instance{Pid: inst.cmd.Process.Pid, Busy: inst.busy})
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return a.Pid - b.Pid })
	return out
}

// startWarm starts one instance synchronously (at Start).
func (p *pool) startWarm(ctx context.Context) error {
	p.mu.Lock()
	p.live++
	p.mu.Unlock()
	inst, err := p.start(ctx)
	if err != nil {
		p.mu.Lock()
		p.live--
		p.mu.Unlock()
		return err
	}
	p.release(inst, true)
	return nil
}

// startAsync starts an instance the pool has already counted in live,
// after delay, and hands it to a waiter or the idle list. On failure it
// fails the waiters if no instance is left to serve them.
func (p *pool) startAsync(delay time.Duration) {
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-p.r.closing:
		}
	}
	if p.r.closed() {
		p.mu.Lock()
		p.live--
		p.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-p.r.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	inst, err := p.start(ctx)
	cancel()
	if err == nil {
		p.release(inst, true)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live--
	p.counts.startFailures++
	if p.r.closed() {
		return
	}
	p.r.cfg.log.Error("emulator did not start", "function", p.fn.Name, "err", err)
	if p.live > 0 {
		return // the others will serve the waiters
	}
	failed := acquired{err: fmt.Errorf("%w: %s: no emulator could start: %w", ErrEmulator, p.fn.Name, err)}
	for p.handOverLocked(failed) {
	}
}

// start runs an emulator and waits until it listens. Its supervisor
// replaces it if it dies before the runtime closes.
func (p *pool) start(ctx context.Context) (*instance, error) {
	var lastErr error
	for range 3 { // a port taken between picking and binding: pick again
		inst, err := p.startOnce(ctx)
		if err == nil {
			return inst, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func (p *pool) startOnce(ctx context.Context) (*instance, error) {
	cfg := p.r.cfg
	apiAddr, err := cfg.pickAddr()
	if err != nil {
		return nil, err
	}
	rieAddr, err := cfg.pickAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p.r.emulator,
		"--runtime-interface-emulator-address", rieAddr,
		"--runtime-api-address", apiAddr,
		"--log-level", "error",
		p.fn.Bootstrap)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_FUNCTION_NAME=" + p.fn.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(cfg.timeout.Seconds())),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
	}, p.fn.Env...)
	// Its own process group keeps a terminal's Ctrl-C from reaching it
	// before the stack has stopped what depends on it; Pdeathsig still ends
	// it if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("lambdalocal: %w", err)
	}
	cmd.Stderr = cfg.output
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lambdalocal: start emulator for %s: %w", p.fn.Name, err)
	}
	inst := &instance{
		cmd: cmd, started: time.Now(), exited: make(chan struct{}),
		url: "http://" + rieAddr + "/2015-03-31/functions/function/invocations",
	}
	p.mu.Lock()
	p.all[inst] = struct{}{}
	p.mu.Unlock()
	if !p.r.spawn(func() { p.supervise(inst, out) }) {
		// Closed meanwhile: nobody else will reap it.
		killTree(cmd.Process.Pid)
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		p.mu.Lock()
		delete(p.all, inst)
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if err := waitListening(ctx, rieAddr, inst.exited); err != nil {
		p.mu.Lock()
		p.killLocked(inst)
		p.mu.Unlock()
		<-inst.exited
		return nil, fmt.Errorf("lambdalocal: emulator for %s: %w", p.fn.Name, err)
	}
	p.mu.Lock()
	inst.ready = true
	p.mu.Unlock()
	return inst, nil
}

// supervise copies the emulator's output until it exits, then replaces it
// unless the pool killed it on purpose before (a failed start) or the
// runtime is closing.
func (p *pool) supervise(inst *instance, out io.Reader) {
	_, _ = io.Copy(p.r.cfg.output, out)
	// A function process that outlives its emulator exits by itself: its
	// runtime API connection breaks.
	inst.err = inst.cmd.Wait()
	close(inst.exited)

	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.all, inst)
	if p.r.closed() || !inst.ready {
		return // closing, or a failed start that start's caller accounts for
	}
	p.live--
	p.counts.replaced++
	// A function that dies at once every time must not spin: back off
	// after quick deaths, up to 5 s.
	delay := time.Duration(0)
	if time.Since(inst.started) < 10*time.Second || time.Since(p.lastDied) < time.Second {
		p.backoff = min(max(2*p.backoff, 100*time.Millisecond), 5*time.Second)
		delay = p.backoff
	} else {
		p.backoff = 0
	}
	p.lastDied = time.Now()
	how := "exited"
	if inst.killed {
		how = "was killed after a failed invoke"
	}
	p.r.cfg.log.Warn("emulator "+how+"; starting a replacement", "function", p.fn.Name,
		"pid", inst.cmd.Process.Pid, "exit", inst.err, "replacement_in", delay)
	if p.r.spawn(func() { p.startAsync(delay) }) {
		p.live++
	}
}

// killLocked kills an instance's process tree; its supervisor sees the
// exit. Call with mu held.
func (p *pool) killLocked(inst *instance) {
	if inst.killed {
		return
	}
	inst.killed = true
	p.idle = slices.DeleteFunc(p.idle, func(i *instance) bool { return i == inst })
	killTree(inst.cmd.Process.Pid)
}

// close signals every emulator to stop and fails the waiters.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.handOverLocked(acquired{err: ErrClosed}) {
	}
	for inst := range p.all {
		signalTree(inst.cmd.Process.Pid, syscall.SIGTERM)
	}
}

// waitStopped waits for every emulator to exit, killing the slow ones.
func (p *pool) waitStopped() {
	p.mu.Lock()
	all := make([]*instance, 0, len(p.all))
	for inst := range p.all {
		all = append(all, inst)
	}
	p.mu.Unlock()
	deadline := time.After(stopTimeout)
	for _, inst := range all {
		select {
		case <-inst.exited:
		case <-deadline:
			killTree(inst.cmd.Process.Pid)
			<-inst.exited
		}
	}
}

func waitListening(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("not listening on %s: %w", addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
