// Package localstack runs collabgw's whole local stack in one supervised
// process, for `make run` and for end-to-end tests: DynamoDB Local with the
// collabgw table and a demo seed (a pool, users, device keys, a gateway
// key), the GroupWise Messenger simulator (or an existing server), the
// function binaries under the Lambda Runtime Interface Emulator behind a
// local Lambda Invoke endpoint, the sweep on its schedule, and fleets of
// edges: the real edge binary, configured by environment variables only as
// ECS configures it, N processes behind HAProxy (fleet.go). Close drains
// the edges, then stops every other part.
//
// The stack's internal listeners (emulators, DynamoDB Local or an edge on a
// free port, the edges' own ports) never take a port the caller configured
// for another listener (ports.go).
package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/gwsim"
	"github.com/collabgw/collabgw/internal/lambdabuild"
	"github.com/collabgw/collabgw/internal/lambdalocal"
	"github.com/collabgw/collabgw/internal/manifest"
)

// Defaults of the local stack.
const (
	DefaultDataDir    = ".local"
	DefaultDynamoAddr = "127.0.0.1:8000"
	DefaultLambdaAddr = "127.0.0.1:3001" // where `sam local start-lambda` listens
	DefaultEdgeAddr   = "127.0.0.1:3101"
	DefaultTable      = "collabgw"
	DefaultPool       = "demo"
	DefaultDemoUsers  = 10
	DefaultSweepEvery = time.Minute
	// LocalRegion and the static credentials below are what the local
	// functions and clients use; DynamoDB Local accepts any.
	LocalRegion = "us-east-1"
	localKeyID  = "local"
)

// DefaultGroupWise is where the GroupWise simulator listens: GroupWise
// Messenger's own client port, on loopback.
var DefaultGroupWise = net.JoinHostPort("127.0.0.1", strconv.Itoa(manifest.GroupWisePort))

// Config describes the stack to run.
type Config struct {
	// DataDir holds DynamoDB Local's data, the keys, the simulator's CA and
	// the built binaries.
	DataDir string
	// InMemory keeps no DynamoDB data (keys are still written to DataDir).
	InMemory   bool
	DynamoAddr string
	LambdaAddr string
	Table      string
	// CacheDir holds the DynamoDB Local install.
	CacheDir string
	Pool     admission.PoolConfig
	// ExternalGroupWise, when true, uses the server Pool.GroupWise names;
	// otherwise the simulator runs on SimulatorAddr and the pool points at it.
	ExternalGroupWise bool
	SimulatorAddr     string
	DemoUsers         int
	// Lease and Heartbeat override the session lease (0: defaults).
	Lease, Heartbeat time.Duration
	// SweepEvery is how often the sweep function runs (0: every minute).
	SweepEvery time.Duration
	// FunctionInstances bounds the emulators per function (0:
	// lambdalocal.DefaultInstances, from GOMAXPROCS).
	FunctionInstances int
	// FunctionQueue bounds the invokes of one function waiting for an
	// emulator; more get 429 (0: lambdalocal.DefaultQueuePerInstance per
	// instance).
	FunctionQueue int
	// Edges is the number of edge processes started with the stack (0:
	// none; tests start fleets with StartFleet). With more than one,
	// HAProxy balances them on EdgeAddr.
	Edges int
	// EdgeAddr is where devices connect (the balancer's, or a single
	// edge's device port); HealthAddr is the first edge's health and
	// /stats address, the next edges' on the following ports. Port 0:
	// free ports.
	EdgeAddr, HealthAddr string
	// Balance is HAProxy's algorithm (BalanceRoundRobin by default).
	Balance string
	// EdgeEnv is added to every edge's environment.
	EdgeEnv []string
	Log     *slog.Logger
	// FunctionOutput receives the functions' own log lines (nil: discard).
	FunctionOutput io.Writer
}

// Stack is a running local stack.
type Stack struct {
	Config         Config
	DynamoEndpoint string
	LambdaEndpoint string
	// GroupWiseAddr is the pool's GroupWise server; GroupWiseCAFile its CA
	// (the simulator's, when it runs).
	GroupWiseAddr   string
	GroupWiseCAFile string
	// GatewayKeyFile and GatewayPubFile are the edge's Noise key pair.
	GatewayKeyFile, GatewayPubFile string
	// DeviceKeyDir holds each demo user's device key pair, <user>.key/.pub.
	DeviceKeyDir string
	Store        *admission.Store
	Functions    *lambdalocal.Runtime
	Simulator    *gwsim.Server
	// Fleet is the stack's own edges (nil when Config.Edges is 0).
	Fleet *Fleet

	ports      *portPicker
	gatewayKey string // the gateway's private key, as the edge's environment carries it
	ddb        *ddblocal.Process
	lambdaSrv  *http.Server
	stopSweep  context.CancelFunc
	sweepDone  chan struct{}
	// stopSummary ends the periodic summary (summary.go).
	stopSummary context.CancelFunc
	summaryDone chan struct{}
	failed      chan error // a part that died
	closeOnce   sync.Once

	edgeBuild    sync.Once
	edgeBin      string
	edgeBuildErr error

	fleetsMu sync.Mutex // guards fleets and fleets started
	fleets   []*Fleet
	nFleets  int
}

// Start starts the stack. On error everything started is stopped.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	cfg = withDefaults(cfg)
	if cfg.DemoUsers < 0 || cfg.DemoUsers > demo.MaxUsers {
		return nil, errors.New("localstack: demo users must be between 0 and 100000")
	}
	if cfg.ExternalGroupWise {
		if _, err := cfg.Pool.Normalized(); err != nil {
			return nil, err
		}
	}
	if cfg.Edges < 0 || cfg.Edges > MaxEdges {
		return nil, fmt.Errorf("localstack: %d edges, want 0–%d", cfg.Edges, MaxEdges)
	}
	ports, err := newPortPicker(configuredAddrs(cfg)...)
	if err != nil {
		return nil, err
	}
	s := &Stack{Config: cfg, ports: ports, failed: make(chan error, 8)}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// configuredAddrs are the listen addresses the caller chose, which no
// internal listener may take: every edge's health port included.
func configuredAddrs(cfg Config) []string {
	addrs := []string{cfg.DynamoAddr, cfg.LambdaAddr, cfg.SimulatorAddr, cfg.EdgeAddr}
	if host, port, err := net.SplitHostPort(cfg.HealthAddr); err == nil {
		if n, err := strconv.Atoi(port); err == nil && n != 0 {
			for i := range max(cfg.Edges, 1) {
				addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(n+i)))
			}
		}
	}
	return addrs
}

func withDefaults(cfg Config) Config {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.SweepEvery == 0 {
		cfg.SweepEvery = DefaultSweepEvery
	}
	if cfg.Lease == 0 {
		cfg.Lease, cfg.Heartbeat = admission.DefaultLeaseDuration, admission.DefaultHeartbeatInterval
	}
	if cfg.LambdaAddr == "" {
		cfg.LambdaAddr = DefaultLambdaAddr
	}
	if cfg.SimulatorAddr == "" {
		cfg.SimulatorAddr = DefaultGroupWise
	}
	if cfg.EdgeAddr == "" {
		cfg.EdgeAddr = DefaultEdgeAddr
	}
	return cfg
}

func (s *Stack) start(ctx context.Context) error {
	cfg := s.Config
	log := cfg.Log
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("localstack: data dir: %w", err)
	}

	// DynamoDB Local, the table and the store.
	ddbAddr := cfg.DynamoAddr
	if ddbAddr == "" || strings.HasSuffix(ddbAddr, ":0") {
		var err error
		if ddbAddr, err = s.ports.pick(); err != nil {
			return err
		}
	}
	ddbCfg := ddblocal.Config{CacheDir: cfg.CacheDir, Addr: ddbAddr, Log: logWriter{log, "dynamodb"}}
	if !cfg.InMemory {
		ddbCfg.DataDir = filepath.Join(cfg.DataDir, "dynamodb")
	}
	log.Info("starting DynamoDB Local", "addr", ddbAddr, "in_memory", cfg.InMemory)
	ddb, err := ddblocal.Start(ctx, ddbCfg)
	if err != nil {
		return err
	}
	s.ddb, s.DynamoEndpoint = ddb, ddb.Endpoint()
	s.watch("DynamoDB Local", ddb.Exited(), ddb.Err)
	client := ddblocal.NewClient(s.DynamoEndpoint)
	if err := admission.CreateTable(ctx, client, cfg.Table); err != nil {
		return err
	}
	if s.Store, err = admission.New(client, cfg.Table, admission.WithLease(cfg.Lease, cfg.Heartbeat), admission.WithLogger(log)); err != nil {
		return err
	}

	// GroupWise: the simulator, unless an existing server was named.
	pool := cfg.Pool
	if pool.GroupWise.Host == "" {
		pool.GroupWise.Host = "127.0.0.1" // replaced by the simulator's address below
	}
	if !cfg.ExternalGroupWise {
		if err := s.startSimulator(ctx, &pool); err != nil {
			return err
		}
	}
	s.GroupWiseAddr = net.JoinHostPort(pool.GroupWise.Host, strconv.Itoa(pool.GroupWise.Port))
	if s.GroupWiseCAFile == "" {
		s.GroupWiseCAFile = pool.GroupWise.CARef
	}

	// Seed: pool, users, device keys, the gateway key.
	if s.Config.Pool, err = s.seed(ctx, pool); err != nil {
		return err
	}
	key, err := os.ReadFile(s.GatewayKeyFile)
	if err != nil {
		return fmt.Errorf("localstack: gateway key: %w", err)
	}
	s.gatewayKey = strings.TrimSpace(string(key))

	// Functions behind the local Invoke endpoint, and the sweep schedule.
	if err := s.startFunctions(ctx); err != nil {
		return err
	}
	s.startSweep()

	if cfg.Edges > 0 {
		s.Fleet, err = s.StartFleet(ctx, FleetConfig{
			Edges: cfg.Edges, Addr: cfg.EdgeAddr, HealthAddr: cfg.HealthAddr, Balance: cfg.Balance, Restart: true,
		})
		if err != nil {
			return err
		}
	}
	s.startSummary()
	return nil
}

func (s *Stack) startSimulator(ctx context.Context, pool *admission.PoolConfig) error {
	addr := s.Config.SimulatorAddr
	if strings.HasSuffix(addr, ":0") {
		var err error
		if addr, err = s.ports.pick(); err != nil {
			return err
		}
	}
	sim, err := gwsim.New(gwsim.WithDemoUsers(max(s.Config.DemoUsers, 1)), gwsim.WithLogger(s.Config.Log.With("from", "gwsim")))
	if err != nil {
		return err
	}
	if err := sim.Start(ctx, addr); err != nil {
		return fmt.Errorf("localstack: GroupWise simulator on %s: %w", addr, err)
	}
	s.Simulator = sim
	caFile := filepath.Join(s.Config.DataDir, "groupwise-ca.pem")
	if err := sim.WriteCA(caFile); err != nil {
		return err
	}
	abs, err := filepath.Abs(caFile)
	if err != nil {
		return fmt.Errorf("localstack: %w", err)
	}
	pool.GroupWise.CARef, s.GroupWiseCAFile = abs, abs
	// The simulator may have been given port 0: point the pool at the real one.
	host, port, err := net.SplitHostPort(sim.Addr())
	if err != nil {
		return fmt.Errorf("localstack: simulator address: %w", err)
	}
	pool.GroupWise.Host = host
	pool.GroupWise.Port, _ = strconv.Atoi(port)
	return nil
}

func (s *Stack) startFunctions(ctx context.Context) error {
	cfg := s.Config
	root, err := lambdabuild.ModuleRoot(".")
	if err != nil {
		return err
	}
	binDir := filepath.Join(cfg.DataDir, "bin")
	cfg.Log.Info("building the functions and the Lambda emulator", "dir", binDir)
	bins, err := lambdabuild.BuildFunctions(ctx, root, lambdabuild.Target{}, binDir)
	if err != nil {
		return err
	}
	emulator := filepath.Join(binDir, "aws-lambda-rie")
	if err := lambdabuild.BuildEmulator(ctx, root, emulator); err != nil {
		return err
	}
	env := s.FunctionEnv()
	var fns []lambdalocal.Function
	for _, b := range bins {
		fn := lambdalocal.Function{Name: b.Function, Bootstrap: b.Path, Env: env}
		if b.Function == manifest.FunctionSweep {
			fn.Instances = 1 // scheduled once a minute: one emulator is plenty
		}
		fns = append(fns, fn)
	}
	opts := []lambdalocal.Option{lambdalocal.WithLogger(cfg.Log), lambdalocal.WithAddrPicker(s.ports.pick)}
	if cfg.FunctionOutput != nil {
		opts = append(opts, lambdalocal.WithOutput(cfg.FunctionOutput))
	}
	if cfg.FunctionInstances > 0 {
		opts = append(opts, lambdalocal.WithInstances(cfg.FunctionInstances))
	}
	if cfg.FunctionQueue > 0 {
		opts = append(opts, lambdalocal.WithQueue(cfg.FunctionQueue))
	}
	rt, err := lambdalocal.Start(ctx, emulator, fns, opts...)
	if err != nil {
		return err
	}
	s.Functions = rt
	addr := cfg.LambdaAddr
	if strings.HasSuffix(addr, ":0") {
		if addr, err = s.ports.pick(); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("localstack: Lambda endpoint on %s: %w", addr, err)
	}
	s.LambdaEndpoint = "http://" + ln.Addr().String()
	s.lambdaSrv = &http.Server{Handler: rt.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.lambdaSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("localstack: Lambda endpoint: %w", err))
		}
	}()
	return nil
}

// NewLambdaClient returns a Lambda client for the local Invoke endpoint at
// endpoint (the stack's LambdaEndpoint), with the stack's region and
// static credentials.
func NewLambdaClient(endpoint string) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:       LocalRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(localKeyID, localKeyID, ""),
		BaseEndpoint: aws.String(endpoint),
	})
}

// FunctionEnv is the environment the functions run with locally.
func (s *Stack) FunctionEnv() []string {
	return []string{
		manifest.EnvTable + "=" + s.Config.Table,
		manifest.EnvLeaseSeconds + "=" + strconv.Itoa(int(s.Config.Lease.Seconds())),
		manifest.EnvHeartbeatSeconds + "=" + strconv.Itoa(int(s.Config.Heartbeat.Seconds())),
		manifest.EnvLogLevel + "=info",
		"AWS_REGION=" + LocalRegion,
		"AWS_ACCESS_KEY_ID=" + localKeyID,
		"AWS_SECRET_ACCESS_KEY=" + localKeyID,
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.DynamoEndpoint,
	}
}

// startSweep invokes the sweep function on its schedule, as EventBridge does.
func (s *Stack) startSweep() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSweep, s.sweepDone = cancel, make(chan struct{})
	go func() {
		defer close(s.sweepDone)
		t := time.NewTicker(s.Config.SweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if _, err := s.Sweep(ctx, now); err != nil && ctx.Err() == nil {
					s.Config.Log.Warn("scheduled sweep failed", "err", err)
				}
			}
		}
	}()
}

// Sweep invokes the sweep function once with a scheduled event for now.
func (s *Stack) Sweep(ctx context.Context, now time.Time) (lambdalocal.Result, error) {
	event := fmt.Sprintf(`{"version":"0","id":"local-%d","detail-type":"Scheduled Event","source":"aws.events","account":"000000000000","time":%q,"region":%q,"resources":[],"detail":{}}`,
		now.UnixNano(), now.UTC().Format(time.RFC3339), LocalRegion)
	res, err := s.Functions.Invoke(ctx, manifest.FunctionSweep, []byte(event))
	if err == nil && res.FunctionError != "" {
		err = fmt.Errorf("localstack: sweep failed: %s", res.Payload)
	}
	return res, err
}

// Wait runs until ctx ends or a part of the stack dies.
func (s *Stack) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.failed:
		return err
	}
}

// watch reports a child process that exits before Close.
func (s *Stack) watch(name string, exited <-chan struct{}, why func() error) {
	go func() {
		<-exited
		s.fail(fmt.Errorf("localstack: %s exited: %w", name, errors.Join(why(), errors.New("see its log lines"))))
	}()
}

// fail reports a part that died to Wait (the first few; Wait needs one).
func (s *Stack) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

func (s *Stack) addFleet(f *Fleet) {
	s.fleetsMu.Lock()
	defer s.fleetsMu.Unlock()
	s.fleets = append(s.fleets, f)
}

// fleetSeq numbers the fleets' generated files.
func (s *Stack) fleetSeq() int {
	s.fleetsMu.Lock()
	defer s.fleetsMu.Unlock()
	s.nFleets++
	return s.nFleets
}

// Close drains every edge of every fleet (they release their sessions
// through the functions), then stops the other parts.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		log := s.Config.Log
		s.fleetsMu.Lock()
		fleets := s.fleets
		s.fleetsMu.Unlock()
		if len(fleets) > 0 {
			log.Info("draining the edges")
		}
		var wg sync.WaitGroup
		for _, f := range fleets {
			wg.Go(func() {
				if err := f.Close(); err != nil {
					log.Warn("edge stop", "err", err)
				}
			})
		}
		wg.Wait()
		if s.stopSummary != nil {
			s.stopSummary()
			<-s.summaryDone
		}
		if s.stopSweep != nil {
			s.stopSweep()
			<-s.sweepDone
		}
		if s.lambdaSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.lambdaSrv.Shutdown(ctx)
			cancel()
		}
		if s.Functions != nil {
			log.Info("stopping the functions")
			s.Functions.Close()
		}
		if s.Simulator != nil {
			log.Info("stopping the GroupWise simulator")
			_ = s.Simulator.Close()
		}
		if s.ddb != nil {
			log.Info("stopping DynamoDB Local")
			_ = s.ddb.Stop()
		}
	})
}

// logWriter turns a child process's output into debug log lines.
type logWriter struct {
	log  *slog.Logger
	from string
}

func (w logWriter) Write(p []byte) (int, error) {
	line := p
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	w.log.Debug(string(line), "from", w.from)
	return len(p), nil
}
