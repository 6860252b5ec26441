package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devconn/loadgen"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/localstack"
)

func newDeviceLoadCmd() *cobra.Command {
	var (
		cfg        loadgen.Config
		gatewayKey string
		rate       string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "load --users N (--concurrency C | --rate R/s) --hold D",
		Short: "Log in N demo devices, hold their sessions, log out; report statuses and latency",
		Long: `Log in the demo devices device0001… as user0001… (keys from --keys, the local stack's demo
seed by default), hold the accepted sessions for --hold while each sends its STATUS every
--status-every, then log them all out.

Two ways to offer the logins:
  --concurrency C   closed loop: C logins in flight, each worker starting its next login when
                    the previous one answered. Measures throughput at a concurrency; a slow
                    answer delays the next login, so it hides latency under load.
  --rate R/s        open loop: logins start every 1/R s whether or not earlier ones answered
                    (as wrk2 and vegeta measure), and each latency runs from the login's
                    scheduled start. At most --max-in-flight logins are in flight; a login due
                    while the bound is reached waits for a slot, is counted as started late,
                    and its wait is part of its latency.

Prints the count of each status (ERROR: no status at all), logins/s and the login latency
p50/p90/p99/p99.9/max; with --json one JSON object whose "statuses" member maps each status
name to its count. A progress bar is shown when standard error is a terminal.

The edge limits new connections per source address (COLLABGW_ADDR_LOGIN_RATE, default 20/s):
run it with 0 for a load test from one machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			gw, err := devproto.LoadPublicKey(gatewayKey)
			if err != nil {
				return err
			}
			cfg.Gateway = gw
			if rate != "" {
				if cmd.Flags().Changed("concurrency") {
					return errors.New("--rate (open loop) and --concurrency (closed loop) exclude each other")
				}
				if cfg.Rate, err = parseRate(rate); err != nil {
					return err
				}
			}
			if isTerminal(os.Stderr) {
				bar := newProgress(os.Stderr, cfg.Users)
				cfg.Progress = bar.set
				defer bar.finish()
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			rep, err := loadgen.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			}
			return printReport(cmd.OutOrStdout(), rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Edge, "edge", localstack.DefaultEdgeAddr, "the edge's device port, host:port")
	f.StringVar(&gatewayKey, "gateway-key", defaultGatewayPubKey, "the gateway's public key file")
	f.StringVar(&cfg.KeyDir, "keys", defaultDeviceKeyDir, "folder of the demo devices' keys (userNNNN.key)")
	f.IntVar(&cfg.Users, "users", 10, "number of devices to log in")
	f.IntVar(&cfg.First, "first", 1, "number of the first demo user")
	f.IntVar(&cfg.Concurrency, "concurrency", loadgen.DefaultConcurrency, "closed loop: logins in flight at once")
	f.StringVar(&rate, "rate", "", "open loop: logins started per second, as N/s or N (e.g. 100/s)")
	f.IntVar(&cfg.MaxInFlight, "max-in-flight", loadgen.DefaultMaxInFlight, "open loop: most logins in flight at once")
	f.DurationVar(&cfg.Hold, "hold", 5*time.Second, "how long to hold the sessions after the last login")
	f.DurationVar(&cfg.StatusEvery, "status-every", loadgen.DefaultStatusEvery, "STATUS interval while holding")
	f.StringVar(&cfg.Password, "password", demo.Password, "the demo users' GroupWise password (public: the demo seed's)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// parseRate reads an open-loop rate: "100/s", "100" or "2.5/s".
func parseRate(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "/s"), 64)
	if err != nil || v <= 0 || v > loadgen.MaxRate || math.IsNaN(v) {
		return 0, fmt.Errorf("--rate %q: want logins per second in (0, %d], such as 100/s", s, loadgen.MaxRate)
	}
	return v, nil
}

func printReport(w io.Writer, r loadgen.Report) error {
	names := make([]string, 0, len(r.Statuses))
	for n := range r.Statuses {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "%-22s %d\n", n, r.Statuses[n])
	}
	if r.Mode == "open" {
		fmt.Fprintf(w, "open loop: offered %.0f/s, at most %d in flight; %d started late (bound reached), start lag up to %.2f ms\n",
			r.OfferedPS, r.MaxInFlight, r.StartedLate, r.MaxStartLagMs)
	}
	fmt.Fprintf(w, "logins/s %.0f over %.2f s; latency ms p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f; held %d, ended by the edge while held %d\n",
		r.LoginsPS, r.Seconds, r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs, r.Held, r.Dropped)
	if r.FirstErr != "" {
		fmt.Fprintln(w, "first error:", r.FirstErr)
	}
	return nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress draws a one-line bar on a terminal, at most every 100 ms. A
// library would add a dependency for one line of output.
type progress struct {
	mu    sync.Mutex // guards last and the writes: logins finish on many goroutines
	w     io.Writer
	total int
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now()}
}

func (p *progress) set(done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if done < p.total && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 40
	filled := width * done / max(p.total, 1)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '-'
		if i < filled {
			bar[i] = '#'
		}
	}
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 1e-3)
	fmt.Fprintf(p.w, "\r[%s] %d/%d logins %.0f/s", bar, done, p.total, rate)
}

func (p *progress) finish() { fmt.Fprintln(p.w) }
