package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/lambdalocal"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/manifest"
)

// defaultHealthAddr is the first edge's health and /stats address: the
// edge's own default port (manifest.HealthPort) on loopback; edge i uses
// the port after edge i-1's.
var defaultHealthAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(manifest.HealthPort))

func newLocalCmd() *cobra.Command {
	cfg := localstack.Config{}
	var (
		groupwise, groupwiseCA, groupwisePin string
		verbose                              bool
	)
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the whole local stack until Ctrl-C (what `make run` does)",
		Long: `Runs, in one supervised process: DynamoDB Local (data under --data-dir) with the
collabgw table and a demo seed, the GroupWise Messenger simulator (or --groupwise to use an
existing server), the Lambda functions under the Runtime Interface Emulator behind a local
Lambda Invoke endpoint, the sweep every minute, and --edges edge processes (the real edge
binary, configured by environment variables as ECS configures it).

With one edge, devices connect to it directly on --edge-addr. With more, HAProxy listens
on --edge-addr and balances them (round-robin, or --balance leastconn) with health checks
on each edge's /healthz; each edge's own device port is printed in the ready line. Edge i
serves /healthz and /stats on --health-addr's port + i - 1.

Ctrl-C drains every edge (devices told, sessions released) and stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.ExternalGroupWise = groupwise != ""
			if cfg.ExternalGroupWise {
				host, port, err := net.SplitHostPort(groupwise)
				if err != nil {
					return fmt.Errorf("--groupwise: %w", err)
				}
				cfg.Pool.GroupWise.Host = host
				if cfg.Pool.GroupWise.Port, err = strconv.Atoi(port); err != nil {
					return fmt.Errorf("--groupwise: bad port %q", port)
				}
			}
			if cfg.Edges < 1 || cfg.Edges > localstack.MaxEdges {
				return fmt.Errorf("--edges %d: want 1–%d", cfg.Edges, localstack.MaxEdges)
			}
			cfg.Pool.GroupWise.CARef, cfg.Pool.GroupWise.PinSHA256 = groupwiseCA, strings.ReplaceAll(groupwisePin, ":", "")
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
				cfg.FunctionOutput = os.Stderr
			}
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			var err error
			if cfg.CacheDir, err = ddblocal.CacheDir(); err != nil {
				return err
			}
			stack, err := localstack.Start(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer stack.Close()
			printReady(cmd.OutOrStdout(), stack)
			return stack.Wait(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", localstack.DefaultDataDir, "folder for the stack's data and keys")
	f.BoolVar(&cfg.InMemory, "in-memory", false, "keep no DynamoDB data: a throwaway stack")
	f.StringVar(&cfg.DynamoAddr, "dynamodb-addr", localstack.DefaultDynamoAddr, "DynamoDB Local listen address")
	f.IntVar(&cfg.Edges, "edges", 1, "number of edge processes (more than one: behind HAProxy)")
	f.StringVar(&cfg.EdgeAddr, "edge-addr", localstack.DefaultEdgeAddr, "device port: the edge's, or HAProxy's with --edges > 1")
	f.StringVar(&cfg.HealthAddr, "health-addr", defaultHealthAddr, "first edge's /healthz and /stats address; the next edges use the following ports (port 0: free ports)")
	f.StringVar(&cfg.Balance, "balance", localstack.BalanceRoundRobin, "HAProxy's balancing with --edges > 1: roundrobin or leastconn")
	f.StringVar(&cfg.LambdaAddr, "lambda-addr", localstack.DefaultLambdaAddr, "local Lambda Invoke endpoint listen address")
	f.IntVar(&cfg.FunctionInstances, "function-instances", lambdalocal.DefaultInstances(),
		"most emulators per function (started on demand); invokes beyond them and a bounded queue get 429")
	f.StringVar(&cfg.Table, "table", localstack.DefaultTable, "DynamoDB table name")
	f.StringVar(&cfg.Pool.Name, "pool", localstack.DefaultPool, "name of the demo pool")
	f.IntVar(&cfg.DemoUsers, "demo-users", localstack.DefaultDemoUsers, "number of demo users (user0001…, GroupWise password \"demo\")")
	f.IntVar(&cfg.Pool.MaxSessions, "max-sessions", 0, "pool maximum sessions (0: none; the protocol limit applies)")
	f.DurationVar(&cfg.Pool.IdleTimeout, "idle-timeout", 0, "at the maximum, evict sessions idle this long (0: never)")
	f.DurationVar(&cfg.Pool.InactivityTimeout, "inactivity-timeout", 0, "log out sessions silent this long (0: never)")
	f.IntVar(&cfg.Pool.ProtocolLimit, "protocol-limit", admission.DefaultProtocolLimit, "sessions the GroupWise protocol supports (FAILED_300 beyond)")
	f.StringVar(&cfg.SimulatorAddr, "gwsim-addr", localstack.DefaultGroupWise, "GroupWise simulator listen address")
	f.StringVar(&groupwise, "groupwise", "", "an existing GroupWise Messenger server (host:port) to use instead of the simulator")
	f.StringVar(&groupwiseCA, "groupwise-ca", "", "CA bundle (PEM file) the edge trusts for --groupwise")
	f.StringVar(&groupwisePin, "groupwise-pin", "", "SHA-256 fingerprint (hex) of --groupwise's certificate")
	f.DurationVar(&cfg.SweepEvery, "sweep-every", localstack.DefaultSweepEvery, "how often the sweep function runs")
	f.BoolVar(&verbose, "verbose", false, "debug logs, with DynamoDB Local's and the functions' own output")
	return cmd
}

// printReady prints the one line that says the stack serves, with every
// endpoint: devices, each edge (device port, health and stats, task id),
// the balancer, and the parts behind them.
func printReady(w io.Writer, s *localstack.Stack) {
	gw := "simulator"
	if s.Simulator == nil {
		gw = "external"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ready dynamodb=%s table=%s lambda=%s groupwise=%s (%s) groupwise_ca=%s pool=%s demo_users=%d device_keys=%s gateway_key=%s",
		s.DynamoEndpoint, s.Config.Table, s.LambdaEndpoint, s.GroupWiseAddr, gw, s.GroupWiseCAFile,
		s.Config.Pool.Name, s.Config.DemoUsers, s.DeviceKeyDir, s.GatewayPubFile)
	if f := s.Fleet; f != nil {
		fmt.Fprintf(&b, " devices=%s", f.Addr())
		if f.Balanced() {
			fmt.Fprintf(&b, " balancer=haproxy(%s,stats=%s)", f.Balance(), f.BalancerStatsURL())
		}
		for _, e := range f.Edges() {
			fmt.Fprintf(&b, " %s=%s(stats=%s,task=%s)", e.Name, e.DeviceAddr, e.StatsURL(), e.TaskID())
		}
	}
	fmt.Fprintln(w, b.String())
}
