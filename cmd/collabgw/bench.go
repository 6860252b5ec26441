package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/bench"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/localstack"
)

func newBenchCmd() *cobra.Command {
	var (
		use                   bool
		target                bench.Target
		gatewayKey, dynamo    string
		edgePIDs              []int
		edgeAddr              string
		variants              []string
		dataDir, markdown     string
		asJSON, verbose       bool
		rawConc, sweepConc    []int
		rawEach, openFor      time.Duration
		settle                time.Duration
		logins, warmup, users int
		rate                  float64
		instances             int
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the whole login path against DynamoDB Local's raw rate, in one run",
		Long: `Starts a local stack on free ports (or, with --use, measures a running one) and, in one run:

  1. raw: DynamoDB Local alone, committing the admission-shaped transaction (a session put, a
     conditional ADD on one hot counter, a device update, a user condition check) at each
     --raw-concurrency for --raw-duration, in a table of its own beside the stack's; the best
     rate is "raw";
  2. sweep: the whole path (devices → edge → authorize under the Lambda emulator → DynamoDB
     Local → GroupWise simulator) with the load generator's closed loop at each --concurrency,
     --logins logins each;
  3. open: logins started on schedule at --rate per second for --open-duration, each login's
     latency paired with the GroupWise simulator's own time for the same login, so latency
     excluding GroupWise is measured per login;

and the edge's CPU per accepted login in every phase (utime+stime of the edge process from
/proc/<pid>/stat over the phase). Sessions are logged out and released between phases.

--edge starts edge variants side by side, e.g. --edge now --edge main@/tmp/edge-main (a binary
built from another commit) or --edge lean:GOMAXPROCS=1: each phase runs against each in turn,
so that the machine's load falls on all of them alike.

Prints one table, the ratio whole path / raw and issue 15's goals; --json prints the report as
JSON, --markdown FILE rewrites FILE's generated section (docs/benchmarks.md has one; - prints
it). With --use, the GroupWise time is not measured (the simulator is in another process) and
edge CPU only with --edge-pid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			opts := []bench.Option{
				bench.WithRaw(rawConc, rawEach), bench.WithSweep(sweepConc, logins), bench.WithOpen(rate, openFor),
				bench.WithWarmup(warmup), bench.WithSettleTimeout(settle), bench.WithLogger(log),
			}
			ctx := cmd.Context()
			if use {
				gw, err := devproto.LoadPublicKey(gatewayKey)
				if err != nil {
					return err
				}
				if dynamo == "" || edgeAddr == "" {
					return errors.New("--use needs at least --dynamodb and --edge")
				}
				db := bench.NewDynamoClient(dynamo)
				target.DB, target.Gateway = db, gw
				if target.Sessions, err = admission.New(db, target.Table); err != nil {
					return err
				}
				e := bench.Edge{Name: "edge", Addr: edgeAddr}
				if len(edgePIDs) > 0 {
					e.CPU = bench.ProcCPU{PIDs: edgePIDs}
					e.CPUSource = fmt.Sprintf("utime+stime of the edge processes %v (/proc/<pid>/stat, 10 ms ticks)", edgePIDs)
				}
				target.Edges = []bench.Edge{e}
				return runBench(cmd, target, opts, asJSON, markdown)
			}
			if users == 0 {
				users = max(logins, int(rate*openFor.Seconds()), warmup)
			}
			if dataDir == "" {
				dir, err := os.MkdirTemp("", "collabgw-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				dataDir = dir
			}
			var edges []bench.EdgeVariant
			for _, spec := range variants {
				v, err := bench.ParseVariant(spec)
				if err != nil {
					return err
				}
				edges = append(edges, v)
			}
			cacheDir, err := ddblocal.CacheDir()
			if err != nil {
				return err
			}
			stackLog := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: max(level, slog.LevelWarn)}))
			if verbose {
				stackLog = log
			}
			log.Info("starting a local stack", "demo_users", users, "data_dir", dataDir)
			st, err := bench.StartStack(ctx, bench.StackConfig{
				DataDir: dataDir, CacheDir: cacheDir, Users: users, FunctionInstances: instances, Edges: edges, Log: stackLog,
			})
			if err != nil {
				return err
			}
			defer st.Close()
			log.Info("stack ready", "endpoints", st.Endpoints())
			return runBench(cmd, st.Target, opts, asJSON, markdown)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&use, "use", false, "measure a running stack named by --dynamodb, --table, --pool, --edge-addr, --gateway-key, --keys, --users")
	f.StringVar(&dynamo, "dynamodb", "", "with --use: the stack's DynamoDB Local endpoint, http://host:port")
	f.StringVar(&target.Table, "table", localstack.DefaultTable, "with --use: the stack's table")
	f.StringVar(&target.Pool, "pool", localstack.DefaultPool, "the demo users' pool")
	f.StringVar(&edgeAddr, "edge-addr", "", "with --use: the edge's device port, host:port")
	f.StringArrayVar(&variants, "edge", nil, "an edge process to start and measure, NAME[@BINARY][:KEY=VALUE,…] (repeat to compare variants side by side; default one, built from this module)")
	f.StringVar(&gatewayKey, "gateway-key", defaultGatewayPubKey, "with --use: the gateway's public key file")
	f.StringVar(&target.KeyDir, "keys", defaultDeviceKeyDir, "with --use: folder of the demo devices' keys (userNNNN.key)")
	f.IntSliceVar(&edgePIDs, "edge-pid", nil, "with --use: the edge processes whose CPU to read (repeat or comma-separate)")
	f.StringVar(&target.Password, "password", demo.Password, "the demo users' GroupWise password (public: the demo seed's)")
	f.IntVar(&users, "users", 0, "demo users the stack has (--use), or to seed (0: as many as the largest phase needs)")
	f.StringVar(&dataDir, "data-dir", "", "folder for the started stack's keys, binaries and edge log (default: a temporary one, removed)")
	f.IntVar(&instances, "function-instances", 0, "emulators per function in the started stack (0: the stack's default)")
	f.IntSliceVar(&rawConc, "raw-concurrency", bench.DefaultRawConcurrency, "raw phase: transactions in flight, each measured in turn")
	f.DurationVar(&rawEach, "raw-duration", bench.DefaultRawDuration, "raw phase: how long each concurrency runs")
	f.IntSliceVar(&sweepConc, "concurrency", bench.DefaultSweepConcurrency, "sweep: logins in flight (closed loop), each measured in turn")
	f.IntVar(&logins, "logins", bench.DefaultSweepLogins, "sweep: logins at each concurrency")
	f.Float64Var(&rate, "rate", bench.DefaultRate, "open loop: logins offered per second")
	f.DurationVar(&openFor, "open-duration", bench.DefaultOpenDuration, "open loop: how long logins are offered")
	f.IntVar(&warmup, "warmup", bench.DefaultWarmupLogins, "logins before anything is measured")
	f.DurationVar(&settle, "settle-timeout", bench.DefaultSettleTimeout, "most time to wait for a phase's sessions to be released")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.StringVar(&markdown, "markdown", "", "rewrite this file's generated section with the report (- prints the section)")
	f.BoolVar(&verbose, "verbose", false, "debug logs, the stack's included")
	return cmd
}

// runBench runs and prints: the table, or JSON, and the markdown section.
func runBench(cmd *cobra.Command, t bench.Target, opts []bench.Option, asJSON bool, markdown string) error {
	b, err := bench.New(t, opts...)
	if err != nil {
		return err
	}
	rep, err := b.Run(cmd.Context())
	if err != nil {
		return err
	}
	rep.Command = commandLine(cmd)
	out := cmd.OutOrStdout()
	switch {
	case markdown == "-":
		_, err = io.WriteString(out, rep.Markdown())
	case markdown != "":
		err = rewriteSection(markdown, rep.Markdown())
	}
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if markdown == "-" {
		return nil
	}
	return rep.WriteText(out)
}

// rewriteSection replaces the generated section of the document at path,
// keeping the file's mode.
func rewriteSection(path, section string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := bench.ReplaceSection(doc, section)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, st.Mode().Perm()) //nolint:gosec // the document the operator named
}

// commandLine is the command as it would be typed to reproduce the run:
// the flags that were set, in the order cobra lists them.
func commandLine(cmd *cobra.Command) string {
	parts := []string{"go run ./cmd/" + cmd.CommandPath()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "markdown" || f.Name == "json" || f.Name == "verbose" {
			return // output only
		}
		sv, ok := f.Value.(pflag.SliceValue)
		switch {
		case ok && f.Value.Type() == "stringArray": // repeated, one value each
			for _, v := range sv.GetSlice() {
				parts = append(parts, "--"+f.Name+"="+shellQuote(v))
			}
		case ok:
			parts = append(parts, "--"+f.Name+"="+strings.Join(sv.GetSlice(), ","))
		default:
			parts = append(parts, "--"+f.Name+"="+shellQuote(f.Value.String()))
		}
	})
	return strings.Join(parts, " ")
}

// shellQuote quotes v for a POSIX shell when it holds anything but plain
// characters.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:=/@+%") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}
