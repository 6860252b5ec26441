package lambdalocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// An instance's life: start (pick two ports, exec the emulator, wait until
// it listens), serve invokes one at a time, and at its death, unless the
// runtime is closing, a replacement started by its supervisor.

// instance is one emulator process and the function process it runs.
type instance struct {
	cmd     *exec.Cmd
	url     string
	addrs   []string // its runtime API and invoke addresses
	started time.Time
	exited  chan struct{} // closed when the emulator process has exited
	err     error         // why it exited; read after exited is closed

	// Guarded by the pool's mu.
	ready  bool // listened: from now on its death is replaced
	busy   bool
	warm   bool // has served an invoke
	killed bool // killed by the pool
}

// deathGrace is how long a failed invoke waits to see whether its
// emulator's process is gone (a SIGKILL is not instant).
const deathGrace = 500 * time.Millisecond

// diedWithin reports whether the emulator exits within d.
func (i *instance) diedWithin(d time.Duration) bool {
	select {
	case <-i.exited:
		return true
	case <-time.After(d):
		return false
	}
}

func (i *instance) dead() bool {
	select {
	case <-i.exited:
		return true
	default:
		return false
	}
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
	apiAddr, err := p.r.pickUnused()
	if err != nil {
		return nil, err
	}
	rieAddr, err := p.r.pickUnused()
	if err != nil {
		p.r.releaseAddrs(apiAddr)
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
		p.r.releaseAddrs(apiAddr, rieAddr)
		return nil, fmt.Errorf("lambdalocal: %w", err)
	}
	cmd.Stderr = cfg.output
	if err := cmd.Start(); err != nil {
		p.r.releaseAddrs(apiAddr, rieAddr)
		return nil, fmt.Errorf("lambdalocal: start emulator for %s: %w", p.fn.Name, err)
	}
	inst := &instance{
		cmd: cmd, started: time.Now(), exited: make(chan struct{}), addrs: []string{apiAddr, rieAddr},
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
		p.r.releaseAddrs(inst.addrs...)
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
	p.r.releaseAddrs(inst.addrs...)
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
