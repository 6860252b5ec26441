package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
	"github.com/collabgw/collabgw/internal/dynamotest"
	"github.com/collabgw/collabgw/internal/manifest"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

// TestRawMeasuresAndCleansUp runs the raw phase against DynamoDB Local:
// every transaction commits (the conditions hold: devices are never
// shared between workers, the counter's limit is never reached), each
// concurrency gets its point, and the phase's table is gone after.
func TestRawMeasuresAndCleansUp(t *testing.T) {
	db := NewDynamoClient(dynamotest.Endpoint(t))
	table := dynamotest.TableName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := &raw{db: db, table: table}
	rep, err := r.run(ctx, []int{1, 3}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Points) != 2 || rep.Points[0].Concurrency != 1 || rep.Points[1].Concurrency != 3 {
		t.Fatalf("points %+v", rep.Points)
	}
	for _, p := range rep.Points {
		if p.TxPerSecond <= 0 || p.Latency.N == 0 || len(p.Errors) != 0 {
			t.Errorf("point %+v: want committed transactions and no errors", p)
		}
		if rep.Best < p.TxPerSecond {
			t.Errorf("best %v below a point's %v", rep.Best, p.TxPerSecond)
		}
	}
	_, err = db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var missing *types.ResourceNotFoundException
	if !errors.As(err, &missing) {
		t.Fatalf("the raw table is still there after the phase: %v", err)
	}
}

// TestRawSessionIsShapedLikeAnAdmission: the raw transaction has the
// admission's four items, and its session item the attributes that put a
// new session in the owner index and not in the sparse activity index, as
// the collabgw table's schema keys them.
func TestRawSessionIsShapedLikeAnAdmission(t *testing.T) {
	r := &raw{table: "t"}
	in, err := r.transaction(3)
	if err != nil {
		t.Fatal(err)
	}
	var put *types.Put
	kinds := map[string]int{}
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			put = it.Put
			kinds["put"]++
		case it.Update != nil:
			kinds["update"]++
		case it.ConditionCheck != nil:
			kinds["check"]++
		}
	}
	if kinds["put"] != 1 || kinds["update"] != 2 || kinds["check"] != 1 {
		t.Fatalf("transaction items %v: want a put, two updates (counter, device), a check (user)", kinds)
	}
	indexed := map[string]bool{}
	for _, g := range admission.TableSchema("t").GlobalSecondaryIndexes {
		for _, k := range g.KeySchema {
			indexed[aws.ToString(k.AttributeName)] = true
		}
	}
	for _, attr := range []string{manifest.AttrOwner, manifest.AttrPool} {
		if _, ok := put.Item[attr]; !ok || !indexed[attr] {
			t.Errorf("session item: %s present %v, an index key %v; want both", attr, ok, indexed[attr])
		}
	}
	if _, ok := put.Item[manifest.AttrActivity]; ok {
		t.Errorf("a new session has no %s: it is not in the activity index", manifest.AttrActivity)
	}
	if pk := put.Item[manifest.AttrPartitionKey].(*types.AttributeValueMemberS).Value; !strings.HasPrefix(pk, manifest.SessionKeyPrefix) {
		t.Errorf("session partition %q", pk)
	}
}

func TestStatTicks(t *testing.T) {
	tests := []struct {
		name, stat string
		want       int64
		err        bool
	}{
		{"plain", "1234 (edge) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 9 0 100 0 0", 320, false},
		{"name with spaces and parens", "99 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 11 12 0 0 20 0", 23, false},
		{"no name", "99 R 1 2 3", 0, true},
		{"too short", "99 (x) R 1 2 3", 0, true},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 ab 1 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := statTicks([]byte(tt.stat))
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("statTicks = %d, %v; want %d, error %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestProcCPU(t *testing.T) {
	root := t.TempDir()
	for pid, stat := range map[string]string{
		"10": "10 (edge) S 1 10 10 0 -1 0 0 0 0 0 300 100 0 0 20 0 9 0 1 0 0",
		"11": "11 (edge) S 1 11 11 0 -1 0 0 0 0 0 5 5 0 0 20 0 9 0 1 0 0",
	} {
		if err := os.MkdirAll(filepath.Join(root, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, pid, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ProcCPU{PIDs: []int{10, 11}, Root: root}.CPUTime()
	if err != nil || got != 4100*time.Millisecond {
		t.Fatalf("CPUTime = %v, %v; want 4.1s (410 ticks)", got, err)
	}
	if _, err := (ProcCPU{PIDs: []int{12}, Root: root}).CPUTime(); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("missing pid: %v, want ErrNoProcess", err)
	}
	if _, err := (ProcCPU{}).CPUTime(); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("no pid: %v, want ErrNoProcess", err)
	}
	// The real /proc: this process's own CPU time only grows.
	self := ProcCPU{PIDs: []int{os.Getpid()}}
	before, err := self.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); { //nolint:revive // spin on purpose: CPU time to read
	}
	if after, err := self.CPUTime(); err != nil || after < before {
		t.Fatalf("own CPU went from %v to %v (%v)", before, after, err)
	}
}

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	got := summarize(lat)
	want := Latency{N: 100, P50ms: 50, P90ms: 90, P99ms: 99, MaxMs: 100}
	if got != want {
		t.Fatalf("summarize = %+v, want %+v", got, want)
	}
	if (summarize(nil) != Latency{}) {
		t.Fatal("no latencies must give a zero summary")
	}
}

func TestPairGroupWise(t *testing.T) {
	device := map[string]time.Duration{"a": 30 * time.Millisecond, "b": 10 * time.Millisecond, "c": 5 * time.Millisecond}
	gw := map[string]time.Duration{"a": 10 * time.Millisecond, "b": 12 * time.Millisecond} // c not timed; b's clock skew clamps at 0
	own, without := pairGroupWise(device, gw)
	if own.N != 2 || own.MaxMs != 12 || without.N != 2 || without.MaxMs != 20 || without.P50ms != 0 {
		t.Fatalf("own %+v, without %+v", own, without)
	}
}

func TestNewValidates(t *testing.T) {
	good := Target{
		DB: NewDynamoClient("http://127.0.0.1:1"), Table: "t", Sessions: noSessions{}, Pool: "p",
		Edges: []Edge{{Name: "edge", Addr: "127.0.0.1:1"}}, Gateway: devprototest.PublicKey("gw"), KeyDir: "k", Users: 2000,
	}
	if _, err := New(good); err != nil {
		t.Fatalf("New with a good target: %v", err)
	}
	tests := []struct {
		name string
		t    func(Target) Target
		opt  Option
	}{
		{"no table", func(t Target) Target { t.Table = ""; return t }, nil},
		{"no counter", func(t Target) Target { t.Sessions = nil; return t }, nil},
		{"no edge", func(t Target) Target { t.Edges = nil; return t }, nil},
		{"edge without address", func(t Target) Target { t.Edges = []Edge{{Name: "a"}}; return t }, nil},
		{"two edges of one name", func(t Target) Target {
			t.Edges = []Edge{{Name: "a", Addr: "x:1"}, {Name: "a", Addr: "x:2"}}
			return t
		}, nil},
		{"too few users", func(t Target) Target { t.Users = 10; return t }, nil},
		{"raw concurrency 0", nil, WithRaw([]int{0}, time.Second)},
		{"raw concurrency above the devices", nil, WithRaw([]int{rawDevices + 1}, time.Second)},
		{"no sweep", nil, WithSweep(nil, 10)},
		{"sweep concurrency too high", nil, WithSweep([]int{MaxConcurrency + 1}, 10)},
		{"open rate 0", nil, WithOpen(0, time.Second)},
		{"open under one login", nil, WithOpen(0.5, time.Second)},
		{"negative warm-up", nil, WithWarmup(-1)},
		{"zero settle", nil, WithSettleTimeout(0)},
		{"nil logger", nil, WithLogger(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := good
			if tt.t != nil {
				target = tt.t(good)
			}
			var opts []Option
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			if _, err := New(target, opts...); !errors.Is(err, ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
}

type noSessions struct{}

func (noSessions) Counter(context.Context, string) (int, error) { return 0, nil }

func TestReplaceSection(t *testing.T) {
	section := DocBegin + "\nnew\n" + DocEnd + "\n"
	tests := []struct {
		name, doc, want string
		err             error
	}{
		{"middle", "# T\n\n" + DocBegin + "\nold\n" + DocEnd + "\n\n## After\n", "# T\n\n" + section + "\n## After\n", nil},
		{"at the end without newline", "x\n" + DocBegin + "old" + DocEnd, "x\n" + section, nil},
		{"no markers", "# T\n", "", ErrNoMarkers},
		{"no end", DocBegin + "\nold\n", "", ErrNoMarkers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplaceSection([]byte(tt.doc), section)
			if !errors.Is(err, tt.err) || (err == nil && string(got) != tt.want) {
				t.Fatalf("ReplaceSection = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }

// TestGoals evaluates the four goals on made-up figures, both sides of
// each threshold.
func TestGoals(t *testing.T) {
	sweep := func(tput ...float64) []Phase {
		var out []Phase
		for i, c := range []int{1, 4, 16, 64} {
			out = append(out, Phase{Mode: "closed", Concurrency: c, LoginsPerSecond: tput[i]})
		}
		return out
	}
	open := func(exP99, cpu float64) Phase {
		return Phase{Mode: "open", OfferedPerSecond: 100, Accepted: 1000, EdgeCPUms: ptr(cpu * 1000), EdgeCPUPerLoginMs: ptr(cpu),
			GroupWise: &Latency{N: 1000, P99ms: 5}, ExGroupWise: &Latency{N: 1000, P99ms: exP99}}
	}
	tests := []struct {
		name string
		rep  EdgeReport
		want [4]string
	}{
		{"all met", EdgeReport{Sweep: sweep(50, 85, 90, 88), Open: open(40, 0.5)},
			[4]string{"met", "met", "met", "met"}},
		{"none met", EdgeReport{Sweep: sweep(50, 79, 60, 30), Open: open(60, 0.7)},
			[4]string{"NOT met", "NOT met", "NOT met", "NOT met"}},
		{"nothing to measure with", EdgeReport{Sweep: sweep(50, 85, 90, 88)[:2], Open: Phase{OfferedPerSecond: 100}},
			[4]string{"met", "not measured", "not measured", "not measured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rep.evaluate(100)
			if len(tt.rep.Goals) != 4 {
				t.Fatalf("%d goals", len(tt.rep.Goals))
			}
			for i, g := range tt.rep.Goals {
				if got := yesNo(g.Met); got != tt.want[i] {
					t.Errorf("goal %q: %s (%s), want %s", g.Name, got, g.Measured, tt.want[i])
				}
			}
		})
	}
}

// TestRendering: one edge gets no edge column; compared edges get one,
// phase by phase in the order they ran, and goals for each.
func TestRendering(t *testing.T) {
	edge := func(name string) EdgeReport {
		e := EdgeReport{Name: name, Sweep: []Phase{
			{Edge: name, Mode: "closed", Concurrency: 1, Logins: 10, Accepted: 10, LoginsPerSecond: 10},
			{Edge: name, Mode: "closed", Concurrency: 4, Logins: 10, Accepted: 9, LoginsPerSecond: 20},
		}, Open: Phase{Edge: name, Mode: "open", OfferedPerSecond: 100, Logins: 10, Accepted: 10, EdgeCPUms: ptr(5), EdgeCPUPerLoginMs: ptr(0.5),
			GroupWise: &Latency{N: 10, P99ms: 4}, ExGroupWise: &Latency{N: 10, P99ms: 9},
			CPUPerLoginMs: map[string]float64{"edge": 0.5, "DynamoDB Local": 2, "zsh": 0.25}}}
		e.evaluate(40)
		return e
	}
	one := Report{Raw: RawReport{Best: 40, Points: []RawPoint{{Concurrency: 4, TxPerSecond: 40}}}, Edges: []EdgeReport{edge("edge")}}
	md := one.Markdown()
	for _, want := range []string{"| phase | load |", "| whole path | 4 in flight | 20 logins/s (9 of 10 accepted) |", "| whole path | 100/s offered |", "0.50 ms", "= 50 %",
		"| phase | load | edge | DynamoDB Local | zsh | total | cores busy |", "| whole path, per login | 100/s offered | 0.50 | 2.00 | 0.25 | 2.75 | 0.00 |",
		"|---|---|---:|---:|---:|---:|---:|"} {
		if !strings.Contains(md, want) {
			t.Errorf("one edge: markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.HasPrefix(md, DocBegin) || !strings.HasSuffix(md, DocEnd+"\n") {
		t.Errorf("markdown section not between its markers:\n%s", md)
	}
	two := Report{Raw: one.Raw, Edges: []EdgeReport{edge("now"), edge("main")}}
	md = two.Markdown()
	i1 := strings.Index(md, "| whole path | now | 1 in flight")
	i2 := strings.Index(md, "| whole path | main | 1 in flight")
	i3 := strings.Index(md, "| whole path | now | 4 in flight")
	if i1 < 0 || i2 < i1 || i3 < i2 || !strings.Contains(md, "| main | edge CPU per login |") {
		t.Errorf("two edges: phases not interleaved by edge, or goals without the edge:\n%s", md)
	}
	var text strings.Builder
	if err := two.WriteText(&text); err != nil || !strings.Contains(text.String(), "whole path / raw (main)") {
		t.Errorf("text (%v):\n%s", err, text.String())
	}
}

func TestParseVariant(t *testing.T) {
	tests := []struct {
		spec string
		want EdgeVariant
		err  bool
	}{
		{"edge", EdgeVariant{Name: "edge"}, false},
		{"lean:GOMAXPROCS=1,GOGC=200", EdgeVariant{Name: "lean", Env: []string{"GOMAXPROCS=1", "GOGC=200"}}, false},
		{"main@/tmp/edge-main", EdgeVariant{Name: "main", Binary: "/tmp/edge-main"}, false},
		{"main@/tmp/edge:COLLABGW_LOG_LEVEL=warn", EdgeVariant{Name: "main", Binary: "/tmp/edge", Env: []string{"COLLABGW_LOG_LEVEL=warn"}}, false},
		{"", EdgeVariant{}, true},
		{"@/tmp/edge", EdgeVariant{}, true},
		{"x@", EdgeVariant{}, true},
		{"x:GOGC", EdgeVariant{}, true},
		{"x:=1", EdgeVariant{}, true},
		{"a b", EdgeVariant{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseVariant(tt.spec)
			if (err != nil) != tt.err {
				t.Fatalf("ParseVariant(%q) error %v, want error %v", tt.spec, err, tt.err)
			}
			if err == nil && (got.Name != tt.want.Name || got.Binary != tt.want.Binary || strings.Join(got.Env, ";") != strings.Join(tt.want.Env, ";")) {
				t.Fatalf("ParseVariant(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestTreeCPU(t *testing.T) {
	root := t.TempDir()
	write := func(pid, stat string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, pid, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// pid (comm) state ppid … utime(14) stime(15)
	write("100", "100 (collabgw) S 1 100 100 0 -1 0 0 0 0 0 50 10 0 0 20 0 9 0 1 0 0")
	write("101", "101 (java) S 100 101 101 0 -1 0 0 0 0 0 300 100 0 0 20 0 9 0 1 0 0")
	write("102", "102 (aws-lambda-rie) S 100 102 102 0 -1 0 0 0 0 0 5 5 0 0 20 0 9 0 1 0 0")
	write("103", "103 (bootstrap) S 102 103 103 0 -1 0 0 0 0 0 20 0 0 0 20 0 9 0 1 0 0")
	write("104", "104 (aws-lambda-rie) S 100 104 104 0 -1 0 0 0 0 0 1 1 0 0 20 0 9 0 1 0 0")
	write("200", "200 (java) S 1 200 200 0 -1 0 0 0 0 0 999 999 0 0 20 0 9 0 1 0 0") // not ours
	write("self", "not a pid")
	got, err := TreeCPU{Root: 100, Proc: root}.CPUByCommand()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{RootCommand: 600 * time.Millisecond, "java": 4 * time.Second, "aws-lambda-rie": 120 * time.Millisecond, "bootstrap": 200 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("CPUByCommand = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
	if _, err := (TreeCPU{Root: 999, Proc: root}).CPUByCommand(); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("missing root: %v, want ErrNoProcess", err)
	}
	delta := cpuDelta(map[string]time.Duration{"java": time.Second}, got, 10)
	if delta["DynamoDB Local"] != 300 || delta["bench process"] != 60 || delta["functions"] != 20 || delta["emulators"] != 12 {
		t.Fatalf("cpuDelta = %v", delta)
	}
	// The real /proc: this test binary is its own tree's root.
	self, err := TreeCPU{Root: os.Getpid()}.CPUByCommand()
	if _, ok := self[RootCommand]; err != nil || !ok {
		t.Fatalf("own tree: %v, %v", self, err)
	}
}

// counterSeq answers the pool's counter from a script, then its last value.
type counterSeq struct {
	mu   sync.Mutex
	vals []int
}

func (c *counterSeq) Counter(context.Context, string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.vals[0]
	if len(c.vals) > 1 {
		c.vals = c.vals[1:]
	}
	return v, nil
}

func TestWaitReleased(t *testing.T) {
	tests := []struct {
		name     string
		vals     []int
		baseline int
		want     int
	}{
		{"back to zero", []int{5, 3, 0}, 0, 0},
		{"back to what was left before", []int{7, 4, 2}, 2, 0},
		{"below the baseline (swept)", []int{1}, 2, 0},
		{"stuck above it", []int{6, 4}, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &whole{t: Target{Sessions: &counterSeq{vals: tt.vals}, Pool: "p"}, settle: 300 * time.Millisecond}
			got, err := w.waitReleased(context.Background(), tt.baseline)
			if err != nil || got != tt.want {
				t.Fatalf("waitReleased = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
