package localstack

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/lambdalocal"
)

// TestInternalPortsAvoidConfiguredAddresses is issue 14.8's: an internal
// port (an emulator's, DynamoDB Local's) must never be one the user passed
// for another listener, even one not bound yet.
func TestInternalPortsAvoidConfiguredAddresses(t *testing.T) {
	lo, hi := pickRange()
	if hi-lo < 1000 {
		t.Skipf("pick range %d–%d too small to test", lo, hi)
	}
	// Configure most of the range, so that a picker ignoring the
	// configuration would hit a configured port almost every time.
	var configured []string
	want := map[int]bool{}
	for port := lo; port < hi-200; port++ {
		configured = append(configured, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		want[port] = true
	}
	p, err := newPortPicker(configured...)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for range 100 {
		a, err := p.pick()
		if err != nil {
			t.Fatal(err)
		}
		_, ps, _ := net.SplitHostPort(a)
		port, _ := strconv.Atoi(ps)
		if want[port] {
			t.Fatalf("picked configured port %d", port)
		}
		if seen[port] {
			t.Fatalf("picked port %d twice", port)
		}
		seen[port] = true
	}
}

func TestConfiguredAddrsCoverEveryEdgeHealthPort(t *testing.T) {
	got := configuredAddrs(Config{
		DynamoAddr: "127.0.0.1:8000", LambdaAddr: "127.0.0.1:3001", SimulatorAddr: "127.0.0.1:8300",
		EdgeAddr: "127.0.0.1:3101", HealthAddr: "127.0.0.1:8080", Edges: 3,
	})
	for _, want := range []string{"127.0.0.1:8000", "127.0.0.1:3001", "127.0.0.1:8300", "127.0.0.1:3101", "127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:8082"} {
		if !slices.Contains(got, want) {
			t.Errorf("configured addresses %v lack %s", got, want)
		}
	}
}

func TestBadListenAddressIsRefused(t *testing.T) {
	for _, a := range []string{"nonsense", "127.0.0.1:http", "127.0.0.1:70000"} {
		if _, err := newPortPicker(a); err == nil {
			t.Errorf("%q accepted", a)
		}
	}
}

// TestHAProxyConfig checks the generated configuration: TCP, the asked
// balancing (never by source address), a health check on each edge's
// /healthz, and that haproxy itself accepts it.
func TestHAProxyConfig(t *testing.T) {
	bin, err := findHAProxy()
	if err != nil {
		t.Fatal(err) // make deps installs it
	}
	for _, balance := range []string{BalanceRoundRobin, BalanceLeastConn} {
		t.Run(balance, func(t *testing.T) {
			f := &Fleet{cfg: FleetConfig{Balance: balance}, edges: []*Edge{
				{Name: "edge1", DeviceAddr: "127.0.0.1:20001", HealthAddr: "127.0.0.1:20002"},
				{Name: "edge2", DeviceAddr: "127.0.0.1:20003", HealthAddr: "127.0.0.1:20004"},
			}}
			var b bytes.Buffer
			if err := writeHAProxyConfig(&b, f, "127.0.0.1:20000", "127.0.0.1:20005"); err != nil {
				t.Fatal(err)
			}
			cfg := b.String()
			for _, want := range []string{
				"mode tcp", "bind 127.0.0.1:20000", "balance " + balance, "option httpchk GET /healthz",
				"server edge1 127.0.0.1:20001 check port 20002", "server edge2 127.0.0.1:20003 check port 20004",
				"bind 127.0.0.1:20005", "option redispatch",
			} {
				if !strings.Contains(cfg, want) {
					t.Errorf("no %q in:\n%s", want, cfg)
				}
			}
			if strings.Contains(cfg, "balance source") || strings.Contains(cfg, "stick") {
				t.Errorf("balanced by source address:\n%s", cfg)
			}
			path := filepath.Join(t.TempDir(), "haproxy.cfg")
			if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
				t.Fatalf("haproxy -c: %v\n%s", err, out)
			}
		})
	}
}

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		wantOK    bool
		wantLevel slog.Level
		wantMsg   string
		wantAttrs []any
	}{
		{"edge started", `{"time":"x","level":"INFO","msg":"edge started","owner":"vm-1","lease":90}`, true, slog.LevelInfo, "edge started", []any{"owner", "vm-1", "lease", "90"}},
		{"warning", `{"time":"x","level":"WARN","msg":"w"}`, true, slog.LevelWarn, "w", nil},
		{"nested", `{"level":"ERROR","msg":"e","err":{"a":1}}`, true, slog.LevelError, "e", []any{"err", map[string]any{"a": "1"}}},
		{"not JSON", `panic: boom`, false, 0, "", nil},
		{"truncated", `{"level":"INFO","msg":`, false, 0, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			level, msg, attrs, ok := parseLogLine([]byte(tt.line))
			if ok != tt.wantOK || level != tt.wantLevel || msg != tt.wantMsg || len(attrs) != len(tt.wantAttrs) {
				t.Fatalf("= %v %q %v %v, want %v %q %v %v", level, msg, attrs, ok, tt.wantLevel, tt.wantMsg, tt.wantAttrs, tt.wantOK)
			}
			for i := range attrs {
				if fmtAny(attrs[i]) != fmtAny(tt.wantAttrs[i]) {
					t.Errorf("attr %d = %v, want %v", i, attrs[i], tt.wantAttrs[i])
				}
			}
		})
	}
}

func fmtAny(v any) string { return strings.TrimSpace(slog.AnyValue(v).String()) }

func TestFunctionSummaryLogsOnlyWhatMoved(t *testing.T) {
	first := []lambdalocal.FunctionStats{{Name: "authorize", Invokes: 10}, {Name: "release", Invokes: 3, Throttled: 1}}
	prev, lines := functionSummary(nil, first)
	if len(lines) != 1 || lines[0][1] != "release" {
		t.Fatalf("first minute: %v, want one line for release", lines)
	}
	second := []lambdalocal.FunctionStats{{Name: "authorize", Invokes: 50, Throttled: 4, Replaced: 1}, {Name: "release", Invokes: 9, Throttled: 1}}
	_, lines = functionSummary(prev, second)
	if len(lines) != 1 || fmtAny(lines[0]) != fmtAny([]any{"function", "authorize", "invokes", int64(40), "instances", 0, "throttled", int64(4), "replaced", int64(1)}) {
		t.Fatalf("second minute: %v", lines)
	}
}
