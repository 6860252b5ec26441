package localstack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/collabgw/collabgw/internal/edge"
)

// Bounds of an edge process's supervision.
const (
	// edgeLogTail is how much of an edge's output is kept for Log.
	edgeLogTail = 256 << 10
	// edgeStopGrace is how long a stop waits after the edge's own drain
	// deadline before it kills the process.
	edgeStopGrace = 5 * time.Second
	// healthPoll is how often a wait polls a health endpoint.
	healthPoll = 50 * time.Millisecond
)

// ErrEdgeNotRunning means the edge has no running process.
var ErrEdgeNotRunning = errors.New("localstack: edge not running")

// Edge is one edge task of a fleet: the real edge binary (edge/main.go),
// configured by environment variables only, as ECS configures it. Its
// addresses stay the same across restarts; its task id changes with every
// process, as a replaced ECS task's does.
type Edge struct {
	// Name is edge1, edge2… in the fleet.
	Name string
	// DeviceAddr is its own device port (the balancer's backend).
	DeviceAddr string
	// HealthAddr serves /healthz and /stats.
	HealthAddr string
	// PeerAddr is its task-to-task listen address.
	PeerAddr string

	fleet *Fleet

	mu           sync.Mutex // guards proc and restartDelay
	proc         *edgeProc
	restartDelay time.Duration // before the next automatic restart
}

// edgeProc is one process of an edge.
type edgeProc struct {
	cmd       *exec.Cmd
	startedAt time.Time
	exited    chan struct{} // closed when the process has exited
	err       error         // why; read after exited is closed
	started   chan struct{} // closed when its "edge started" line arrived
	taskID    string        // from that line; read after started is closed
	stopped   bool          // stopped through the API: not restarted
	out       *tail
}

// HealthURL is the edge's health endpoint.
func (e *Edge) HealthURL() string { return "http://" + e.HealthAddr + "/healthz" }

// StatsURL is the edge's counters as JSON.
func (e *Edge) StatsURL() string { return "http://" + e.HealthAddr + "/stats" }

func (e *Edge) current() *edgeProc {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.proc
}

// Pid is the current process's id (0 when never started).
func (e *Edge) Pid() int {
	if p := e.current(); p != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// TaskID is the current process's task id, as it names itself in session
// leases ("" until it has started).
func (e *Edge) TaskID() string {
	p := e.current()
	if p == nil {
		return ""
	}
	select {
	case <-p.started:
		return p.taskID
	default:
		return ""
	}
}

// Running reports whether the current process runs.
func (e *Edge) Running() bool {
	p := e.current()
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Exited is closed when the current process exits.
func (e *Edge) Exited() <-chan struct{} {
	if p := e.current(); p != nil {
		return p.exited
	}
	closed := make(chan struct{})
	close(closed)
	return closed
}

// Log is the tail of the current process's output (its JSON log lines).
func (e *Edge) Log() string {
	if p := e.current(); p != nil {
		return p.out.String()
	}
	return ""
}

// Stats fetches the edge's counters from /stats.
func (e *Edge) Stats(ctx context.Context) (edge.Stats, error) {
	var st edge.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.StatsURL(), nil)
	if err != nil {
		return st, fmt.Errorf("localstack: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("localstack: %s stats: %w", e.Name, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return st, fmt.Errorf("localstack: %s stats: %w", e.Name, err)
	}
	return st, nil
}

// Signal sends sig to the current process without waiting.
func (e *Edge) Signal(sig syscall.Signal) error {
	p := e.current()
	if p == nil || !e.Running() {
		return fmt.Errorf("%w: %s", ErrEdgeNotRunning, e.Name)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		e.mu.Lock()
		p.stopped = true
		e.mu.Unlock()
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("localstack: signal %s: %w", e.Name, err)
	}
	return nil
}

// Kill ends the current process with SIGKILL (no drain, no release: a
// crashed task) and waits for it to exit.
func (e *Edge) Kill(ctx context.Context) error {
	if err := e.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	return e.Wait(ctx)
}

// Terminate sends SIGTERM (what ECS sends to stop a task: the edge stops
// accepting, tells its devices and releases their sessions) and waits for
// the process to exit. The process's exit error, if any, is returned.
func (e *Edge) Terminate(ctx context.Context) error {
	if err := e.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := e.Wait(ctx); err != nil {
		return err
	}
	return e.current().err
}

// Wait waits until the current process has exited.
func (e *Edge) Wait(ctx context.Context) error {
	select {
	case <-e.Exited():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("localstack: wait for %s to exit: %w", e.Name, ctx.Err())
	}
}

// ExitErr is why the current process exited (nil for a clean exit or while
// it runs).
func (e *Edge) ExitErr() error {
	p := e.current()
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

// WaitHealthy waits until the current process has started and its
// /healthz answers 200, and, behind a balancer, until the balancer has
// marked it up.
func (e *Edge) WaitHealthy(ctx context.Context) error {
	p := e.current()
	if p == nil {
		return fmt.Errorf("%w: %s", ErrEdgeNotRunning, e.Name)
	}
	for {
		// Started: its task id is known (the "edge started" line follows
		// the health listener).
		ok := isClosed(p.started) && e.healthy(ctx)
		if ok && e.fleet.balancer != nil {
			ok = e.fleet.balancer.serverUp(ctx, e.Name)
		}
		if ok {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("localstack: %s exited before it was healthy: %w\n%s", e.Name, errors.Join(p.err, errors.New("see its log")), p.out.String())
		case <-ctx.Done():
			return fmt.Errorf("localstack: %s not healthy: %w", e.Name, ctx.Err())
		case <-time.After(healthPoll):
		}
	}
}

func (e *Edge) healthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.HealthURL(), nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// start runs a new process of the edge. The previous one must have exited.
func (e *Edge) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc != nil {
		select {
		case <-e.proc.exited:
		default:
			return fmt.Errorf("localstack: %s still runs (pid %d)", e.Name, e.proc.cmd.Process.Pid)
		}
	}
	f := e.fleet
	cmd := exec.Command(f.binary)
	cmd.Env = f.env(e)
	// Its own process group keeps a terminal's Ctrl-C from reaching it:
	// the stack drains it with SIGTERM, then stops what it depends on.
	// Pdeathsig ends it if the stack's process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &edgeProc{cmd: cmd, startedAt: time.Now(), exited: make(chan struct{}), started: make(chan struct{}), out: &tail{max: edgeLogTail}}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	// Stdout carries the edge's EMF metrics, which have no reader locally.
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("localstack: start %s: %w", e.Name, err)
	}
	e.proc = p
	go func() {
		e.relay(p, stderr)
		p.err = cmd.Wait()
		close(p.exited)
		e.fleet.exited(e, p)
	}()
	return nil
}

// relay copies the edge's JSON log lines into the stack's log (at their
// own level, marked with the edge's name) and into its tail, and notes the
// task id from the "edge started" line.
func (e *Edge) relay(p *edgeProc, r io.Reader) {
	log := e.fleet.stack.Config.Log
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	startedOnce := sync.Once{}
	defer startedOnce.Do(func() { close(p.started) })
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = p.out.Write(append(slices.Clip(line), '\n'))
		level, msg, attrs, ok := parseLogLine(line)
		if !ok {
			log.Info(string(line), "from", e.Name)
			continue
		}
		if msg == "edge started" {
			for i := 0; i+1 < len(attrs); i += 2 {
				if attrs[i] == "owner" {
					p.taskID, _ = attrs[i+1].(string)
				}
			}
			startedOnce.Do(func() { close(p.started) })
		}
		log.Log(context.Background(), level, msg, append([]any{"from", e.Name}, attrs...)...)
	}
	_, _ = io.Copy(io.Discard, r) // a line over the limit: keep the pipe drained
}

// parseLogLine reads a slog JSON line: its level, message and other
// attributes in their order.
func parseLogLine(line []byte) (slog.Level, string, []any, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0, "", nil, false
	}
	var (
		level slog.Level
		msg   string
		attrs []any
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, "", nil, false
		}
		key, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return 0, "", nil, false
		}
		switch key {
		case slog.TimeKey:
		case slog.LevelKey:
			s, _ := v.(string)
			if level.UnmarshalText([]byte(s)) != nil {
				level = slog.LevelInfo
			}
		case slog.MessageKey:
			msg, _ = v.(string)
		default:
			attrs = append(attrs, key, v)
		}
	}
	return level, msg, attrs, true
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Clone(string(t.b))
}
