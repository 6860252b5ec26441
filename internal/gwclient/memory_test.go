package gwclient

// The held-session memory harness. BenchmarkHeldSessionMemory holds many
// logged-in clients against the simulator and reports what each costs the
// process holding them: RSS, live heap and goroutine stacks per session.
//
// Everything measured runs in child processes of the test binary: the
// simulator, so that its memory is not counted, and each variant, so that
// every variant starts from a fresh runtime (a heap that held another
// variant's sessions would lend it pages and hide its RSS) and can have its
// own GOGC. Variants run one after another against the same simulator, so a
// before/after comparison is one command on one machine state:
//
//	go test -run '^$' -bench HeldSessionMemory -benchtime 1x ./internal/gwclient \
//	    -gwclient.sessions 9900 [-gwclient.variants a,b] [-gwclient.heapprofile DIR]

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/gwsim"
)

var (
	heldSessions = flag.Int("gwclient.sessions", 1000,
		"sessions BenchmarkHeldSessionMemory holds per variant (an edge task holds up to 9,900; each needs one file descriptor in the child)")
	heldVariants = flag.String("gwclient.variants", "",
		"comma-separated variants BenchmarkHeldSessionMemory runs (default: all)")
	heldProfileDir = flag.String("gwclient.heapprofile", "",
		"directory where BenchmarkHeldSessionMemory writes one heap profile per variant, taken while the sessions are held")
)

// Child process roles, chosen by environment variable; the value is a JSON spec.
const (
	simChildEnv  = "GWCLIENT_MEMORY_SIM"
	holdChildEnv = "GWCLIENT_MEMORY_HOLD"
)

// loginParallelism is how many logins a hold child runs at once: enough to
// be quick, few enough not to starve the other helpers on a shared machine.
const loginParallelism = 4

// memoryVariant is one configuration the harness measures.
type memoryVariant struct {
	name string
	env  []string // added to the child's environment, e.g. GOGC=50
	opts []Option // added to every Dial
}

// undoSavings undoes every saving that has a knob: how the client held a
// session before them (bar the call map an idle client now drops, ~0.2 KB).
var undoSavings = []Option{withReaderGoroutine(), withGreedyReads(), withPrivateTLSConfig()}

// memoryVariants are measured side by side, in this order.
var memoryVariants = []memoryVariant{
	{name: "before", opts: undoSavings},
	{name: "now"},
	{name: "now-reader-goroutine", opts: []Option{withReaderGoroutine()}},
	{name: "now-greedy-reads", opts: []Option{withGreedyReads()}},
	{name: "now-private-tls-config", opts: []Option{withPrivateTLSConfig()}},
	{name: "before-GOGC=50", env: []string{"GOGC=50"}, opts: undoSavings},
	{name: "now-GOGC=50", env: []string{"GOGC=50"}},
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(simChildEnv); spec != "" {
		os.Exit(runSimChild(spec))
	}
	if spec := os.Getenv(holdChildEnv); spec != "" {
		os.Exit(runHoldChild(spec))
	}
	os.Exit(m.Run())
}

type simSpec struct {
	Users  int
	CAPath string
}

// runSimChild serves demo users until stdin closes, printing its address.
func runSimChild(specJSON string) int {
	var spec simSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, err := gwsim.New(gwsim.WithDemoUsers(spec.Users))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := srv.Start(context.Background(), "127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := srv.WriteCA(spec.CAPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
	return 0
}

// startSimChild runs the simulator with users demo users in a child process
// and returns its address and the path of its CA.
func startSimChild(b *testing.B, users int) (addr, caPath string) {
	b.Helper()
	caPath = filepath.Join(b.TempDir(), "ca.pem")
	spec, _ := json.Marshal(simSpec{Users: users, CAPath: caPath})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), simChildEnv+"="+string(spec))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("simulator child: %v", err)
	}
	return strings.TrimSpace(line), caPath
}

type holdSpec struct {
	Addr, CAPath string
	Sessions     int
	Variant      string
	ProfilePath  string // "" for none
}

// holdResult is what a hold child reports, per session unless named otherwise.
type holdResult struct {
	RSS        float64 // RSS while held, as the process sits (no forced collection)
	RSSFloor   float64 // RSS after a collection that returns every free page
	Heap       float64 // live heap after a collection
	Stack      float64 // goroutine stack spans
	Unused     float64 // free slots in partly used heap spans, after a collection
	Metadata   float64 // runtime bookkeeping, after a collection
	Goroutines float64
	Sessions   int // held, for the record
}

// memSnapshot is one reading of the process's memory.
type memSnapshot struct {
	rss        uint64
	heap       uint64
	stack      uint64
	unused     uint64 // heap spans' unallocated slots: fragmentation
	metadata   uint64 // the runtime's own bookkeeping (spans, GC, pollers)
	goroutines int
}

// runtimeClasses are the runtime/metrics memory classes a snapshot reads.
var runtimeClasses = []string{
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/other:bytes",
}

func snapshot() (memSnapshot, error) {
	rss, err := readRSS()
	if err != nil {
		return memSnapshot{}, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	samples := make([]metrics.Sample, len(runtimeClasses))
	for i, name := range runtimeClasses {
		samples[i].Name = name
	}
	metrics.Read(samples)
	s := memSnapshot{rss: rss, heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
	for i, sample := range samples {
		if sample.Value.Kind() != metrics.KindUint64 {
			return memSnapshot{}, fmt.Errorf("runtime/metrics has no %s", sample.Name)
		}
		if i == 0 {
			s.unused = sample.Value.Uint64()
		} else {
			s.metadata += sample.Value.Uint64()
		}
	}
	return s, nil
}

// readRSS returns the process's resident set size from /proc/self/status.
func readRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// runHoldChild holds the sessions spec asks for and prints a holdResult.
func runHoldChild(specJSON string) int {
	var spec holdSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if spec.ProfilePath != "" {
		runtime.MemProfileRate = 512 // fine enough to attribute a few KB per session
	}
	res, err := hold(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hold child:", err)
		return 1
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

func hold(spec holdSpec) (holdResult, error) {
	i := slices.IndexFunc(memoryVariants, func(v memoryVariant) bool { return v.name == spec.Variant })
	if i < 0 {
		return holdResult{}, fmt.Errorf("unknown variant %q", spec.Variant)
	}
	ca, err := os.ReadFile(spec.CAPath)
	if err != nil {
		return holdResult{}, err
	}
	// One pool for all connections, as the edge's dialer shares one per CA bundle.
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return holdResult{}, errors.New("no CA certificate")
	}
	opts := append([]Option{WithRootCAs(pool)}, memoryVariants[i].opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	login := func(user int) (*Client, error) {
		c, err := Dial(ctx, spec.Addr, opts...)
		if err != nil {
			return nil, err
		}
		if _, err := c.Login(ctx, demo.UserID(user), demo.Password, "memory-harness", ""); err != nil {
			return nil, err
		}
		return c, nil
	}
	// Warm up what all connections share (TLS and reader pools, the
	// certificate cache) so it does not count against the sessions.
	warm, err := login(spec.Sessions + 1)
	if err != nil {
		return holdResult{}, fmt.Errorf("warm-up login: %w", err)
	}
	defer warm.Close()

	runtime.GC()
	debug.FreeOSMemory()
	before, err := snapshot()
	if err != nil {
		return holdResult{}, err
	}
	clients := make([]*Client, spec.Sessions)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := loginAll(clients, login); err != nil {
		return holdResult{}, err
	}
	time.Sleep(time.Second) // let every reader park on its idle read
	held, err := snapshot()
	if err != nil {
		return holdResult{}, err
	}
	runtime.GC()
	collected, err := snapshot()
	if err != nil {
		return holdResult{}, err
	}
	debug.FreeOSMemory()
	floor, err := snapshot()
	if err != nil {
		return holdResult{}, err
	}
	if spec.ProfilePath != "" {
		if err := writeHeapProfile(spec.ProfilePath); err != nil {
			return holdResult{}, err
		}
	}
	for i, c := range clients {
		if err := c.Err(); err != nil {
			return holdResult{}, fmt.Errorf("session %d ended while held: %w", i+1, err)
		}
	}
	n := float64(spec.Sessions)
	per := func(after, before uint64) float64 { return (float64(after) - float64(before)) / n }
	return holdResult{
		RSS:        per(held.rss, before.rss),
		RSSFloor:   per(floor.rss, before.rss),
		Heap:       per(collected.heap, before.heap),
		Stack:      per(collected.stack, before.stack),
		Unused:     per(floor.unused, before.unused),
		Metadata:   per(floor.metadata, before.metadata),
		Goroutines: float64(collected.goroutines-before.goroutines) / n,
		Sessions:   spec.Sessions,
	}, nil
}

// loginAll fills clients, user i+1 in clients[i], loginParallelism at a time.
func loginAll(clients []*Client, login func(int) (*Client, error)) error {
	var (
		wg    sync.WaitGroup
		next  = make(chan int)
		errMu sync.Mutex
		first error
	)
	for range loginParallelism {
		wg.Go(func() {
			for i := range next {
				c, err := login(i + 1)
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("login %s: %w", demo.UserID(i+1), err)
					}
					errMu.Unlock()
					continue
				}
				clients[i] = c
			}
		})
	}
	for i := range clients {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BenchmarkHeldSessionMemory reports, per variant, what one held
// logged-in session costs the process holding it (kernel socket buffers
// excluded): rss-B/session while held as the process sits,
// rss-floor-B/session once every free page went back to the OS,
// heap-B/session live after a collection, stack-B/session,
// goroutines/session, and what makes up the floor besides heap and stacks:
// unused-B/session (free slots in partly used heap spans) and
// meta-B/session (the runtime's bookkeeping).
func BenchmarkHeldSessionMemory(b *testing.B) {
	n := *heldSessions
	if n < 1 {
		b.Fatalf("-gwclient.sessions %d: want at least 1", n)
	}
	var want []string
	if *heldVariants != "" {
		want = strings.Split(*heldVariants, ",")
		for _, name := range want {
			if !slices.ContainsFunc(memoryVariants, func(v memoryVariant) bool { return v.name == name }) {
				b.Fatalf("unknown variant %q", name)
			}
		}
	}
	addr, caPath := startSimChild(b, n+1)
	for _, v := range memoryVariants {
		if want != nil && !slices.Contains(want, v.name) {
			continue
		}
		b.Run(v.name, func(b *testing.B) {
			spec := holdSpec{Addr: addr, CAPath: caPath, Sessions: n, Variant: v.name}
			if *heldProfileDir != "" {
				spec.ProfilePath = filepath.Join(*heldProfileDir, "heap-"+strings.NewReplacer("=", "", "/", "-").Replace(v.name)+".pprof")
			}
			var sum holdResult
			runs := 0
			for b.Loop() {
				r := runHold(b, spec, v.env)
				sum.RSS += r.RSS
				sum.RSSFloor += r.RSSFloor
				sum.Heap += r.Heap
				sum.Stack += r.Stack
				sum.Goroutines += r.Goroutines
				sum.Unused += r.Unused
				sum.Metadata += r.Metadata
				runs++
			}
			k := float64(runs)
			b.ReportMetric(sum.RSS/k, "rss-B/session")
			b.ReportMetric(sum.RSSFloor/k, "rss-floor-B/session")
			b.ReportMetric(sum.Heap/k, "heap-B/session")
			b.ReportMetric(sum.Stack/k, "stack-B/session")
			b.ReportMetric(sum.Goroutines/k, "goroutines/session")
			b.ReportMetric(sum.Unused/k, "unused-B/session")
			b.ReportMetric(sum.Metadata/k, "meta-B/session")
		})
	}
}

// runHold runs one hold child and returns its result.
func runHold(b *testing.B, spec holdSpec, env []string) holdResult {
	b.Helper()
	js, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), holdChildEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("hold child %s: %v", spec.Variant, err)
	}
	var r holdResult
	if err := json.Unmarshal(out, &r); err != nil {
		b.Fatalf("hold child %s printed %q: %v", spec.Variant, out, err)
	}
	return r
}
