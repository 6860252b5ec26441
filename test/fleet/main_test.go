package fleet

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/localstack"
)

// The stack's settings. The lease is short so that a killed edge's
// sessions are evictable within a test, yet five heartbeats long, so that
// a heartbeat delayed by a loaded machine never makes a live edge look
// dead. The sweep is driven by the tests (sweep), not by the schedule,
// so that each sweep's report (drift included) is seen.
//
// -fleet.defaults runs the stack at the production defaults instead (lease
// 30 s, heartbeat 10 s), to measure TestKillRecovery's bound there.
var (
	lease     = 5 * time.Second
	heartbeat = time.Second
	defaults  = flag.Bool("fleet.defaults", false, "run the edges at the default lease and heartbeat (30 s, 10 s)")
)

const (
	edges = 3
	// demoUsers covers the tests' ranges of devices (users.go).
	demoUsers = 500
	// functionQueue lets the storm's 300 concurrent authorize invokes wait
	// for an emulator rather than be refused with 429: the storm proves
	// admission, not the local endpoint's shedding.
	functionQueue = 400
)

// stack is the package's local stack; each test starts its own fleet on it.
var stack *localstack.Stack

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("fleet: skipped in -short mode")
		return 0
	}
	if *defaults {
		lease, heartbeat = admission.DefaultLeaseDuration, admission.DefaultHeartbeatInterval
	}
	dir, err := os.MkdirTemp("", "collabgw-fleet-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stack, err = startStack(ctx, dir, localstack.Config{
		DemoUsers: demoUsers, Lease: lease, Heartbeat: heartbeat, SweepEvery: time.Hour,
		FunctionQueue: functionQueue,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet: local stack:", err)
		return 1
	}
	defer stack.Close()
	return m.Run()
}

// startStack starts a local stack in dir with cfg's settings, every
// listener on a free loopback port and DynamoDB in memory.
func startStack(ctx context.Context, dir string, cfg localstack.Config) (*localstack.Stack, error) {
	cache, err := ddblocal.CacheDir()
	if err != nil {
		return nil, err
	}
	cfg.DataDir, cfg.InMemory, cfg.CacheDir = filepath.Join(dir, "stack"), true, cache
	cfg.LambdaAddr, cfg.SimulatorAddr = "127.0.0.1:0", "127.0.0.1:0" // DynamoDB Local: a free port
	cfg.Pool = admission.PoolConfig{Name: localstack.DefaultPool}
	return localstack.Start(ctx, cfg)
}
