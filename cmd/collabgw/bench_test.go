package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/bench"
)

// TestBenchEndToEnd runs `collabgw bench` in a tiny configuration against
// a stack it starts itself, and checks that the JSON report has every
// figure (not their values: those are benchmarks, not tests) and that the
// markdown section of a document was rewritten.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole local stack")
	}
	doc := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(doc, []byte("# B\n\n"+bench.DocBegin+"\nold figures\n"+bench.DocEnd+"\n\n## After\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"bench", "--json", "--markdown", doc, "--data-dir", t.TempDir(),
		"--raw-concurrency", "1,2", "--raw-duration", "300ms",
		"--concurrency", "1,4,8", "--logins", "12",
		"--rate", "20", "--open-duration", "600ms", "--warmup", "4"})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("collabgw bench: %v\n%s", err, errOut.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, out.String())
	}

	if rep.Machine.CPU == "" || rep.Machine.Cores < 1 || rep.Machine.Go == "" || !strings.Contains(rep.Command, "bench") {
		t.Errorf("machine %+v, command %q", rep.Machine, rep.Command)
	}
	if len(rep.Raw.Points) != 2 || rep.Raw.Best <= 0 {
		t.Errorf("raw %+v", rep.Raw)
	}
	for _, p := range rep.Raw.Points {
		if p.TxPerSecond <= 0 || p.Latency.N == 0 || p.CPUPerTxMs["DynamoDB Local"] <= 0 {
			t.Errorf("raw point %+v", p)
		}
	}
	if len(rep.Edges) != 1 {
		t.Fatalf("%d edges in the report, want 1", len(rep.Edges))
	}
	e := rep.Edges[0]
	if len(e.Sweep) != 3 {
		t.Fatalf("%d sweep phases, want 3", len(e.Sweep))
	}
	for _, p := range append(e.Sweep, e.Open) {
		if p.Accepted != p.Logins || p.Logins == 0 || p.LoginsPerSecond <= 0 || p.Latency.N != p.Accepted {
			t.Errorf("phase %q: %d of %d accepted at %v/s, latency of %d (%v)", p.Name, p.Accepted, p.Logins, p.LoginsPerSecond, p.Latency.N, p.FirstError)
		}
		if p.GroupWise == nil || p.ExGroupWise == nil || p.GroupWise.N != p.Accepted || p.ExGroupWise.N != p.Accepted {
			t.Errorf("phase %q: GroupWise %+v, excluding it %+v: want every login paired", p.Name, p.GroupWise, p.ExGroupWise)
		}
		if p.EdgeCPUms == nil || p.EdgeCPUPerLoginMs == nil {
			t.Errorf("phase %q: no edge CPU", p.Name)
		}
		for _, part := range []string{"bench process", "edge", "emulators", "functions", "DynamoDB Local"} {
			if _, ok := p.CPUPerLoginMs[part]; !ok {
				t.Errorf("phase %q: no CPU for %s in %v", p.Name, part, p.CPUPerLoginMs)
			}
		}
	}
	if e.Open.Mode != "open" || e.Open.OfferedPerSecond != 20 {
		t.Errorf("open phase %+v", e.Open)
	}
	if e.BestLoginsPerSecond <= 0 || e.RatioToRaw <= 0 || e.CPUSource == "" {
		t.Errorf("best %v, ratio %v, edge CPU source %q", e.BestLoginsPerSecond, e.RatioToRaw, e.CPUSource)
	}
	if len(e.Goals) != 4 {
		t.Fatalf("%d goals, want 4", len(e.Goals))
	}
	for _, g := range e.Goals {
		if g.Met == nil || g.Measured == "" {
			t.Errorf("goal %q not measured: %+v", g.Name, g)
		}
	}

	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); strings.Contains(s, "old figures") || !strings.Contains(s, "| whole path | 20/s offered |") ||
		!strings.HasPrefix(s, "# B\n\n"+bench.DocBegin) || !strings.HasSuffix(s, bench.DocEnd+"\n\n## After\n") {
		t.Errorf("document after the run:\n%s", s)
	}
}

func TestBenchCommandLine(t *testing.T) {
	cmd := newBenchCmd()
	if err := cmd.ParseFlags([]string{"--edge", "now", "--edge", "lean:GOMAXPROCS=1", "--concurrency", "1,4", "--markdown", "x.md", "--password", "a b"}); err != nil {
		t.Fatal(err)
	}
	got := commandLine(cmd)
	want := "go run ./cmd/bench --concurrency=1,4 --edge=now --edge=lean:GOMAXPROCS=1 --password='a b'"
	if got != want {
		t.Fatalf("commandLine = %q\nwant          %q", got, want)
	}
}
