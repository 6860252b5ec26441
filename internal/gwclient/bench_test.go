package gwclient

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/gwsim"
)

// simChildEnv makes the test binary run only a simulator, so that the memory
// benchmark measures the client's heap without the server's.
const simChildEnv = "GWCLIENT_BENCH_SIM_CA"

// idleConns is how many logged-in clients the memory benchmark holds.
const idleConns = 1000

func TestMain(m *testing.M) {
	if ca := os.Getenv(simChildEnv); ca != "" {
		os.Exit(runSimChild(ca))
	}
	os.Exit(m.Run())
}

// runSimChild serves demo users until stdin closes, printing its address.
func runSimChild(caPath string) int {
	srv, err := gwsim.New(gwsim.WithDemoUsers(idleConns))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := srv.Start(context.Background(), "127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := srv.WriteCA(caPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Close()
	return 0
}

// startSimChild runs the simulator in a child process and returns its address
// and CA.
func startSimChild(b *testing.B) (string, []byte) {
	b.Helper()
	ca := filepath.Join(b.TempDir(), "ca.pem")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), simChildEnv+"="+ca)
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
	pem, err := os.ReadFile(ca)
	if err != nil {
		b.Fatal(err)
	}
	return strings.TrimSpace(line), pem
}

// BenchmarkIdleClientMemory holds idleConns logged-in clients against a
// simulator in another process and reports what each costs this process:
// live heap and goroutine stacks after GC (kernel socket buffers excluded).
func BenchmarkIdleClientMemory(b *testing.B) {
	addr, ca := startSimChild(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		clients := make([]*Client, 0, idleConns)
		for i := 1; i <= idleConns; i++ {
			c, err := Dial(ctx, addr, WithCACertPEM(ca))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Login(ctx, demo.UserID(i), demo.Password, "bench", ""); err != nil {
				b.Fatal(err)
			}
			clients = append(clients, c)
		}
		time.Sleep(200 * time.Millisecond) // let every reader park on its idle read
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := float64(after.HeapAlloc-before.HeapAlloc) / idleConns
		stack := float64(after.StackInuse-before.StackInuse) / idleConns
		b.ReportMetric(heap, "heap-B/conn")
		b.ReportMetric(stack, "stack-B/conn")
		b.ReportMetric(heap+stack, "B/conn")
		for _, c := range clients {
			c.Close()
		}
		for _, c := range clients {
			<-c.Done()
		}
	}
}

// BenchmarkLoginRoundTrip measures dial (TCP + TLS 1.3) plus login plus close
// against an in-process simulator.
func BenchmarkLoginRoundTrip(b *testing.B) {
	srv := startSim(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := Dial(ctx, srv.Addr(), WithRootCAs(srv.CertPool()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Login(ctx, "alice", "alice-pw", "bench", ""); err != nil {
			b.Fatal(err)
		}
		c.Close()
		<-c.Done()
	}
}

// BenchmarkPingRoundTrip measures one request and response on a logged-in
// connection.
func BenchmarkPingRoundTrip(b *testing.B) {
	srv := startSim(b)
	ctx := context.Background()
	c, err := Dial(ctx, srv.Addr(), WithRootCAs(srv.CertPool()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "alice", "alice-pw", "bench", ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
