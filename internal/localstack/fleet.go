package localstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/collabgw/collabgw/internal/lambdabuild"
	"github.com/collabgw/collabgw/internal/manifest"
)

// Balancing algorithms HAProxy may use. Never by source address: a device
// that comes back from a coverage loss has a new one, and carrier NAT puts
// whole carriers behind one.
const (
	BalanceRoundRobin = "roundrobin"
	BalanceLeastConn  = "leastconn"
)

// MaxEdges bounds a fleet.
const MaxEdges = 32

// FleetConfig describes a fleet of edges.
type FleetConfig struct {
	// Edges is the number of edge processes (1 to MaxEdges).
	Edges int
	// Addr is where devices connect: HAProxy's listen address, or with one
	// edge and no Balancer the edge's own device port. "127.0.0.1:0" picks
	// a free port.
	Addr string
	// Balancer puts HAProxy in front even of a single edge (it always is
	// with more than one).
	Balancer bool
	// Balance is BalanceRoundRobin (default) or BalanceLeastConn.
	Balance string
	// HealthAddr is the first edge's health and /stats address; edge i
	// uses the port after edge i-1's. Empty or port 0: free ports.
	HealthAddr string
	// Env is added to every edge's environment, overriding the stack's
	// (e.g. COLLABGW_DRAIN_SECONDS=10).
	Env []string
	// Restart restarts an edge whose process exits unasked (a crash), as
	// ECS replaces a task; edges stopped through the API stay down.
	Restart bool
}

// Fleet is N edge processes behind HAProxy: the local stand-in for the ECS
// service behind its Network Load Balancer.
type Fleet struct {
	stack    *Stack
	cfg      FleetConfig
	binary   string
	addr     string
	peerKey  string
	edges    []*Edge
	balancer *balancer // nil when devices reach a single edge directly

	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex     // guards closed and restarts.Add
	closed   bool           // no restart starts once set
	restarts sync.WaitGroup // automatic restarts in progress
}

// StartFleet starts a fleet of edges against the stack and waits until
// every edge is healthy (and, behind HAProxy, marked up). The stack's Close
// stops it too.
func (s *Stack) StartFleet(ctx context.Context, cfg FleetConfig) (*Fleet, error) {
	if cfg.Edges < 1 || cfg.Edges > MaxEdges {
		return nil, fmt.Errorf("localstack: %d edges, want 1–%d", cfg.Edges, MaxEdges)
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	switch cfg.Balance {
	case "":
		cfg.Balance = BalanceRoundRobin
	case BalanceRoundRobin, BalanceLeastConn:
	default:
		return nil, fmt.Errorf("localstack: balance %q, want %s or %s", cfg.Balance, BalanceRoundRobin, BalanceLeastConn)
	}
	if cfg.Edges > 1 {
		cfg.Balancer = true
	}
	binary, err := s.edgeBinary(ctx)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	f := &Fleet{stack: s, cfg: cfg, binary: binary, peerKey: base64.StdEncoding.EncodeToString(key), closing: make(chan struct{})}
	if err := f.assignAddrs(); err != nil {
		return nil, err
	}
	s.addFleet(f)
	if err := f.start(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// assignAddrs gives every edge its device, health and peer addresses.
func (f *Fleet) assignAddrs() error {
	pick := f.stack.ports.pick
	healthHost, healthPort := "127.0.0.1", 0
	if f.cfg.HealthAddr != "" {
		host, port, err := net.SplitHostPort(f.cfg.HealthAddr)
		if err != nil {
			return fmt.Errorf("localstack: health address: %w", err)
		}
		if healthPort, err = strconv.Atoi(port); err != nil {
			return fmt.Errorf("localstack: health address %q: bad port", f.cfg.HealthAddr)
		}
		healthHost = host
	}
	for i := range f.cfg.Edges {
		e := &Edge{Name: "edge" + strconv.Itoa(i+1), fleet: f}
		var err error
		if healthPort != 0 {
			e.HealthAddr = net.JoinHostPort(healthHost, strconv.Itoa(healthPort+i))
		} else if e.HealthAddr, err = pick(); err != nil {
			return err
		}
		if e.PeerAddr, err = pick(); err != nil {
			return err
		}
		if !f.cfg.Balancer {
			e.DeviceAddr = f.cfg.Addr
			if strings.HasSuffix(f.cfg.Addr, ":0") {
				// The edge must know its port before it starts: its address
				// is fixed across restarts.
				if e.DeviceAddr, err = pick(); err != nil {
					return err
				}
			}
		} else if e.DeviceAddr, err = pick(); err != nil {
			return err
		}
		f.edges = append(f.edges, e)
	}
	f.addr = f.edges[0].DeviceAddr
	return nil
}

func (f *Fleet) start(ctx context.Context) error {
	for _, e := range f.edges {
		if err := e.start(); err != nil {
			return err
		}
	}
	if f.cfg.Balancer {
		b, err := startBalancer(ctx, f)
		if err != nil {
			return err
		}
		f.balancer = b
		f.addr = b.addr
	}
	return f.WaitHealthy(ctx)
}

// Addr is where devices connect.
func (f *Fleet) Addr() string { return f.addr }

// Balanced reports whether HAProxy is in front of the edges.
func (f *Fleet) Balanced() bool { return f.balancer != nil }

// BalancerStatsURL is HAProxy's stats page ("" without a balancer).
func (f *Fleet) BalancerStatsURL() string {
	if f.balancer == nil {
		return ""
	}
	return "http://" + f.balancer.statsAddr + "/"
}

// BalancerStates maps each edge's name to HAProxy's view of it ("UP",
// "DOWN", "UP 1/2" while a check is failing, "NOLB"…), for tests that wait
// until the balancer has seen a kill or a drain.
func (f *Fleet) BalancerStates(ctx context.Context) (map[string]string, error) {
	if f.balancer == nil {
		return nil, errors.New("localstack: the fleet has no balancer")
	}
	return f.balancer.serverStates(ctx)
}

// Balance is the balancing algorithm.
func (f *Fleet) Balance() string { return f.cfg.Balance }

// Edges are the fleet's edges, edge1 first.
func (f *Fleet) Edges() []*Edge { return append([]*Edge(nil), f.edges...) }

// Edge is the i-th edge, from 0.
func (f *Fleet) Edge(i int) *Edge { return f.edges[i] }

// WaitHealthy waits until every edge is healthy.
func (f *Fleet) WaitHealthy(ctx context.Context) error {
	for _, e := range f.edges {
		if err := e.WaitHealthy(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Restart starts a new process for an edge whose process has exited (after
// Kill or Terminate), on the same addresses, and waits until it is healthy.
func (f *Fleet) Restart(ctx context.Context, e *Edge) error {
	if err := e.start(); err != nil {
		return err
	}
	return e.WaitHealthy(ctx)
}

// exited is called when an edge's process has exited.
func (f *Fleet) exited(e *Edge, p *edgeProc) {
	e.mu.Lock()
	asked := p.stopped
	e.mu.Unlock()
	if asked {
		f.stack.Config.Log.Debug("edge process exited", "edge", e.Name, "exit", p.err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return // stopped by Close
	}
	f.stack.Config.Log.Error("edge exited unasked", "edge", e.Name, "exit", p.err)
	if !f.cfg.Restart {
		return
	}
	// A crash loop must not spin: the delay doubles from 1 s to 30 s while
	// the edge keeps dying within a minute of its start.
	e.mu.Lock()
	if time.Since(p.startedAt) > time.Minute {
		e.restartDelay = 0
	}
	e.restartDelay = min(max(2*e.restartDelay, time.Second), 30*time.Second)
	delay := e.restartDelay
	e.mu.Unlock()
	f.restarts.Go(func() {
		select {
		case <-f.closing:
			return
		case <-time.After(delay):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() {
			select {
			case <-f.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := f.Restart(ctx, e); err != nil {
			f.stack.Config.Log.Error("edge restart failed", "edge", e.Name, "err", err)
			return
		}
		f.stack.Config.Log.Info("edge restarted", "edge", e.Name, "task", e.TaskID())
	})
}

// Close drains every edge at once (SIGTERM: they tell their devices and
// release their sessions), waits for them, then stops HAProxy.
func (f *Fleet) Close() error {
	var errs []error
	f.closeOnce.Do(func() {
		close(f.closing)
		f.mu.Lock()
		f.closed = true
		f.mu.Unlock()
		f.restarts.Wait()
		// The edge refuses a drain deadline as long as the ECS stop timeout.
		drain := manifest.DefaultStopTimeout*time.Second + edgeStopGrace
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, e := range f.edges {
			if !e.Running() {
				continue
			}
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), drain)
				defer cancel()
				err := e.Terminate(ctx)
				if err != nil && e.Running() {
					_ = e.Signal(syscall.SIGKILL)
					<-e.Exited()
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", e.Name, err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if f.balancer != nil {
			f.balancer.stop()
		}
	})
	return errors.Join(errs...)
}

// env is an edge's environment: the names internal/manifest gives the
// edge's ECS task definition, aimed at the stack's local endpoints.
func (f *Fleet) env(e *Edge) []string {
	s := f.stack
	level := "info"
	if s.Config.Log.Enabled(context.Background(), -4) {
		level = "debug"
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		manifest.EnvListenAddr + "=" + e.DeviceAddr,
		manifest.EnvHealthAddr + "=" + e.HealthAddr,
		manifest.EnvAuthorizeFunction + "=" + manifest.FunctionAuthorize,
		manifest.EnvReleaseFunction + "=" + manifest.FunctionRelease,
		manifest.EnvGatewayKey + "=" + s.gatewayKey,
		manifest.EnvTable + "=" + s.Config.Table,
		manifest.EnvLeaseSeconds + "=" + strconv.Itoa(int(s.Config.Lease.Seconds())),
		manifest.EnvHeartbeatSeconds + "=" + strconv.Itoa(int(s.Config.Heartbeat.Seconds())),
		manifest.EnvLogLevel + "=" + level,
		// The load generator runs from one address.
		manifest.EnvAddrLoginRate + "=0",
		manifest.EnvGroupWiseCADir + "=" + s.Config.DataDir,
		// The task-to-task link, so a RESUME reaches its session on any
		// edge: loopback is where the other edges reach this one.
		manifest.EnvPeerAddr + "=" + e.PeerAddr,
		manifest.EnvPeerAdvertiseAddr + "=" + e.PeerAddr,
		manifest.EnvPeerKey + "=" + f.peerKey,
		// The SDK's standard variables: region, static credentials for the
		// local endpoints, and nothing from the developer's own profile.
		"AWS_REGION=" + LocalRegion,
		"AWS_ACCESS_KEY_ID=" + localKeyID,
		"AWS_SECRET_ACCESS_KEY=" + localKeyID,
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_LAMBDA=" + s.LambdaEndpoint,
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.DynamoEndpoint,
	}
	env = append(env, s.Config.EdgeEnv...)
	return append(env, f.cfg.Env...) // later entries win
}

// edgeBinary builds the edge once per stack (go build's cache makes it
// quick after the first time).
func (s *Stack) edgeBinary(ctx context.Context) (string, error) {
	s.edgeBuild.Do(func() {
		root, err := lambdabuild.ModuleRoot(".")
		if err != nil {
			s.edgeBuildErr = err
			return
		}
		out, err := filepath.Abs(filepath.Join(s.Config.DataDir, "bin", "edge"))
		if err != nil {
			s.edgeBuildErr = fmt.Errorf("localstack: %w", err)
			return
		}
		s.Config.Log.Info("building the edge", "out", out)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./edge")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			s.edgeBuildErr = fmt.Errorf("localstack: go build ./edge: %w\n%s", err, b)
			return
		}
		s.edgeBin = out
	})
	return s.edgeBin, s.edgeBuildErr
}
