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
	"github.com/collabgw/collabgw/internal/edge/edgelocal"
	"github.com/collabgw/collabgw/internal/localstack"
)

func newLocalCmd() *cobra.Command {
	cfg := localstack.Config{}
	var (
		groupwise, groupwiseCA, groupwisePin, gwsimAddr, edgeAddr string
		verbose                                                   bool
	)
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the whole local stack until Ctrl-C (what `make run` does)",
		Long: `Runs, in one supervised process: DynamoDB Local (data under --data-dir) with the
collabgw table and a demo seed, the GroupWise Messenger simulator (or --groupwise to use an
existing server), the Lambda functions under the Runtime Interface Emulator behind a local
Lambda Invoke endpoint, the sweep every minute, and the edge on the device port.
Ctrl-C drains the edge and stops everything.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.ExternalGroupWise, cfg.SimulatorAddr = groupwise != "", gwsimAddr
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
			cfg.StartEdge = edgelocal.Starter(edgeAddr, cfg.Log)
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
	f.StringVar(&edgeAddr, "edge-addr", localstack.DefaultEdgeAddr, "edge device port listen address")
	f.StringVar(&cfg.LambdaAddr, "lambda-addr", localstack.DefaultLambdaAddr, "local Lambda Invoke endpoint listen address")
	f.StringVar(&cfg.Table, "table", localstack.DefaultTable, "DynamoDB table name")
	f.StringVar(&cfg.Pool.Name, "pool", localstack.DefaultPool, "name of the demo pool")
	f.IntVar(&cfg.DemoUsers, "demo-users", localstack.DefaultDemoUsers, "number of demo users (user0001…, GroupWise password \"demo\")")
	f.IntVar(&cfg.Pool.MaxSessions, "max-sessions", 0, "pool maximum sessions (0: none; the protocol limit applies)")
	f.DurationVar(&cfg.Pool.IdleTimeout, "idle-timeout", 0, "at the maximum, evict sessions idle this long (0: never)")
	f.DurationVar(&cfg.Pool.InactivityTimeout, "inactivity-timeout", 0, "log out sessions silent this long (0: never)")
	f.IntVar(&cfg.Pool.ProtocolLimit, "protocol-limit", admission.DefaultProtocolLimit, "sessions the GroupWise protocol supports (FAILED_300 beyond)")
	f.StringVar(&gwsimAddr, "gwsim-addr", localstack.DefaultGroupWise, "GroupWise simulator listen address")
	f.StringVar(&groupwise, "groupwise", "", "an existing GroupWise Messenger server (host:port) to use instead of the simulator")
	f.StringVar(&groupwiseCA, "groupwise-ca", "", "CA bundle (PEM file) the edge trusts for --groupwise")
	f.StringVar(&groupwisePin, "groupwise-pin", "", "SHA-256 fingerprint (hex) of --groupwise's certificate")
	f.DurationVar(&cfg.SweepEvery, "sweep-every", localstack.DefaultSweepEvery, "how often the sweep function runs")
	f.BoolVar(&verbose, "verbose", false, "debug logs, with DynamoDB Local's and the functions' own output")
	return cmd
}

func printReady(w io.Writer, s *localstack.Stack) {
	gw := "simulator"
	if s.Simulator == nil {
		gw = "external"
	}
	edge := "not started"
	if s.Edge != nil {
		edge = s.Edge.Addr()
	}
	fmt.Fprintf(w, "ready dynamodb=%s table=%s lambda=%s groupwise=%s (%s) groupwise_ca=%s pool=%s demo_users=%d device_keys=%s gateway_key=%s edge=%s\n",
		s.DynamoEndpoint, s.Config.Table, s.LambdaEndpoint, s.GroupWiseAddr, gw, s.GroupWiseCAFile,
		s.Config.Pool.Name, s.Config.DemoUsers, s.DeviceKeyDir, s.GatewayPubFile, edge)
}
