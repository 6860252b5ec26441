package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/localstack"
)

// StackConfig is the local stack `collabgw bench` starts for itself:
// everything on free loopback ports (never the stack's defaults, so it can
// run beside `make run` and other benches), DynamoDB Local in memory.
type StackConfig struct {
	// DataDir holds the keys, the built binaries and the edge's log.
	DataDir  string
	CacheDir string // DynamoDB Local's install
	Users    int    // demo users to seed
	// FunctionInstances is the emulators per function (0: the stack's
	// default).
	FunctionInstances int
	// Edges are the edge variants to start, one process each (none: one
	// edge named "edge", built from this module).
	Edges []EdgeVariant
	Log   *slog.Logger
}

// EdgeVariant is one edge process to measure.
type EdgeVariant struct {
	Name string
	// Binary is a prebuilt edge (e.g. from another commit); "" builds
	// this module's ./edge.
	Binary string
	// Env is added to the edge's environment after the stack's own
	// (e.g. GOMAXPROCS=1, or COLLABGW_LOG_LEVEL=warn: the edge logs at
	// info by default, as ECS runs it, and its logging is part of its CPU
	// per login).
	Env []string
}

// Stack is a local stack started for a run, and the Target to measure it.
type Stack struct {
	Target Target
	stack  *localstack.Stack
	edges  []*edgeProcess
}

// StartStack starts the stack and one edge process, and returns them
// with the Target that measures them: the simulator times GroupWise, and
// /proc/<pid>/stat times the edge.
func StartStack(ctx context.Context, cfg StackConfig) (*Stack, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	st, err := localstack.Start(ctx, localstack.Config{
		DataDir: cfg.DataDir, InMemory: true, CacheDir: cfg.CacheDir,
		LambdaAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		Pool:      admission.PoolConfig{Name: localstack.DefaultPool, ProtocolLimit: admission.DefaultProtocolLimit},
		DemoUsers: cfg.Users, FunctionInstances: cfg.FunctionInstances,
		// The sweep would run in the middle of a phase: once an hour is
		// never, for a run of minutes.
		SweepEvery: 3600e9,
		Log:        cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	s := &Stack{stack: st}
	gw, err := devproto.LoadPublicKey(st.GatewayPubFile)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Target = Target{
		DB: NewDynamoClient(st.DynamoEndpoint), Table: st.Config.Table,
		Sessions: st.Store, Pool: st.Config.Pool.Name,
		Gateway: gw, KeyDir: st.DeviceKeyDir, Users: cfg.Users, Password: demo.Password,
		GroupWise: st.Simulator,
		Stack:     TreeCPU{Root: os.Getpid()},
	}
	variants := cfg.Edges
	if len(variants) == 0 {
		variants = []EdgeVariant{{Name: "edge"}}
	}
	var built string
	for _, v := range variants {
		bin := v.Binary
		if bin == "" {
			if built == "" {
				if built, err = buildEdge(ctx, cfg); err != nil {
					s.Close()
					return nil, err
				}
			}
			bin = built
		}
		e, err := startEdge(ctx, st, cfg, v, bin)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.edges = append(s.edges, e)
		pid := e.cmd.Process.Pid
		s.Target.Edges = append(s.Target.Edges, Edge{
			Name: v.Name, Addr: e.addr, CPU: ProcCPU{PIDs: []int{pid}},
			CPUSource: "utime+stime of one edge process (/proc/<pid>/stat, 10 ms ticks), the real edge binary configured by environment",
		})
	}
	return s, nil
}

// Endpoints describes the stack for a log line.
func (s *Stack) Endpoints() string {
	out := fmt.Sprintf("dynamodb=%s lambda=%s groupwise=%s", s.stack.DynamoEndpoint, s.stack.LambdaEndpoint, s.stack.GroupWiseAddr)
	for i, e := range s.edges {
		out += fmt.Sprintf(" edge[%s]=%s pid=%d", s.Target.Edges[i].Name, e.addr, e.cmd.Process.Pid)
	}
	return out
}

// Close drains the edges, then stops the stack.
func (s *Stack) Close() {
	for _, e := range s.edges {
		if err := e.stop(); err != nil {
			s.stack.Config.Log.Warn("edge stop", "err", err)
		}
	}
	s.stack.Close()
}

// NewDynamoClient is a DynamoDB Local client whose connection pool keeps
// as many idle connections as the raw phase has transactions in flight
// (the SDK's default keeps 10, and reopening the others would be measured
// as the database's time).
func NewDynamoClient(endpoint string) *dynamodb.Client {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = rawDevices
	})
	return ddblocal.NewClient(endpoint, func(o *dynamodb.Options) { o.HTTPClient = httpClient })
}

// freeAddr picks a free loopback port. Another process could take it
// before the edge binds it; the edge then fails to start, and says so.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// keyText reads a key file as the edge's environment carries it.
func keyText(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func absJoin(elem ...string) (string, error) {
	p, err := filepath.Abs(filepath.Join(elem...))
	if err != nil {
		return "", errors.Join(errors.New("bench: path"), err)
	}
	return p, nil
}

// ParseVariant reads an edge variant as `collabgw bench --edge` takes it:
// NAME, then optionally @BINARY, then optionally :KEY=VALUE,KEY=VALUE…
// ("lean:GOMAXPROCS=1,GOGC=200", "main@/tmp/edge-main").
func ParseVariant(spec string) (EdgeVariant, error) {
	var v EdgeVariant
	head, env, hasEnv := strings.Cut(spec, ":")
	v.Name, v.Binary, _ = strings.Cut(head, "@")
	if v.Name == "" || strings.ContainsAny(v.Name, " /\t") || (strings.Contains(head, "@") && v.Binary == "") {
		return v, fmt.Errorf("%w: edge %q: want NAME[@BINARY][:KEY=VALUE,…]", ErrConfig, spec)
	}
	if hasEnv {
		for kv := range strings.SplitSeq(env, ",") {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return v, fmt.Errorf("%w: edge %q: %q is not KEY=VALUE", ErrConfig, spec, kv)
			}
			v.Env = append(v.Env, kv)
		}
	}
	return v, nil
}
