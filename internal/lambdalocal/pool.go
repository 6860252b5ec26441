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
	"slices"
	"strings"
	"sync"
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
		res, err := p.runRetryingUnsent(inst, payload)
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

// errEmulatorDied marks an invoke whose emulator was found dead (killed or
// crashed under it, or before it reached it) or refused the connection.
var errEmulatorDied = errors.New("lambdalocal: the emulator died")

// runRetryingUnsent runs the invoke, and again on another emulator (a few
// times at most) when the one it had died. The AWS SDK retries the 502 the
// caller would get anyway, and collabgw's functions are idempotent
// (authorize per request id, release per session); retrying here spares
// the caller a failure that was the local stack's own.
func (p *pool) runRetryingUnsent(inst *instance, payload []byte) (Result, error) {
	res, err := p.run(inst, payload)
	for range maxUnsentRetries {
		if !errors.Is(err, errEmulatorDied) {
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		inst, err = p.acquire(ctx)
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("%w: %s: %w", ErrEmulator, p.fn.Name, err)
		}
		res, err = p.run(inst, payload)
	}
	return res, err
}

// maxUnsentRetries bounds the emulators one invoke tries after the first
// died under it.
const maxUnsentRetries = 3

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
		// Not sent (the connection was refused), or the emulator died: in
		// neither case does another emulator's answer repeat a finished
		// invoke. The check comes before the pool kills it itself.
		var opErr *net.OpError
		retry := (errors.As(err, &opErr) && opErr.Op == "dial") || inst.diedWithin(deathGrace)
		err = p.emulatorFailed(inst, fmt.Errorf("invoke: %w", err))
		if retry {
			err = errors.Join(errEmulatorDied, err)
		}
		return Result{}, err
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
