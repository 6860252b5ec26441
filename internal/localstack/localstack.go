// Package localstack runs collabgw's local stack in one supervised
// process: DynamoDB Local with the collabgw table and a demo seed (a pool
// and its users), stopped together on Ctrl-C.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/dynamotest"
)

// Defaults of the local stack.
const (
	DefaultDataDir    = ".local"
	DefaultDynamoAddr = "127.0.0.1:8000"
	DefaultTable      = "collabgw"
	DefaultPool       = "demo"
	DefaultDemoUsers  = 10
	DefaultGroupWise  = "127.0.0.1:8300"
)

// Config describes the stack to run.
type Config struct {
	// DataDir holds DynamoDB Local's data; ignored when InMemory.
	DataDir    string
	InMemory   bool
	DynamoAddr string
	Table      string
	// CacheDir holds the DynamoDB Local install.
	CacheDir  string
	Pool      admission.PoolConfig
	DemoUsers int
	Log       *slog.Logger
	// Ready receives the one "ready" line.
	Ready io.Writer
}

// Run starts the stack, seeds it, prints the ready line and runs until ctx
// ends or a child process dies.
func Run(ctx context.Context, cfg Config) error {
	if cfg.DemoUsers < 0 || cfg.DemoUsers > 100000 {
		return fmt.Errorf("localstack: --demo-users must be between 0 and 100000")
	}
	if _, err := cfg.Pool.Normalized(); err != nil {
		return err
	}
	ddbCfg := ddblocal.Config{CacheDir: cfg.CacheDir, Addr: cfg.DynamoAddr, Log: logWriter{cfg.Log, "dynamodb"}}
	if !cfg.InMemory {
		ddbCfg.DataDir = filepath.Join(cfg.DataDir, "dynamodb")
	}
	cfg.Log.Info("starting DynamoDB Local", "addr", cfg.DynamoAddr, "in_memory", cfg.InMemory)
	ddb, err := ddblocal.Start(ctx, ddbCfg)
	if err != nil {
		return err
	}
	defer func() {
		cfg.Log.Info("stopping DynamoDB Local")
		_ = ddb.Stop()
	}()

	client := dynamotest.NewClient(ddb.Endpoint())
	setupCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := admission.CreateTable(setupCtx, client, cfg.Table); err != nil {
		return err
	}
	store, err := admission.New(client, cfg.Table, admission.WithLogger(cfg.Log))
	if err != nil {
		return err
	}
	pool, err := Seed(setupCtx, store, cfg.Pool, cfg.DemoUsers)
	if err != nil {
		return err
	}
	limit := "none"
	if pool.MaxSessions > 0 {
		limit = strconv.Itoa(pool.MaxSessions)
	}
	fmt.Fprintf(cfg.Ready, "ready dynamodb=%s table=%s pool=%s max_sessions=%s protocol_limit=%d groupwise=%s demo_users=%d\n",
		ddb.Endpoint(), cfg.Table, pool.Name, limit, pool.ProtocolLimit,
		net.JoinHostPort(pool.GroupWise.Host, strconv.Itoa(pool.GroupWise.Port)), cfg.DemoUsers)

	select {
	case <-ctx.Done():
		return nil
	case <-ddb.Exited():
		return fmt.Errorf("localstack: DynamoDB Local exited: %w", errors.Join(ddb.Err(), errors.New("see its log lines above")))
	}
}

// DemoUserID is the id of the i-th demo user (from 1): user0001, user0002…
func DemoUserID(i int) string { return fmt.Sprintf("user%04d", i) }

// Seed stores the pool and n permitted demo users in it. It is idempotent:
// running the stack again keeps the data and refreshes the policy.
func Seed(ctx context.Context, store *admission.Store, pool admission.PoolConfig, n int) (admission.PoolConfig, error) {
	pool, err := store.PutPool(ctx, pool)
	if err != nil {
		return pool, err
	}
	for i := 1; i <= n; i++ {
		if err := store.PutUser(ctx, admission.User{ID: DemoUserID(i), Pool: pool.Name, Permitted: true}); err != nil {
			return pool, err
		}
	}
	return pool, nil
}

// logWriter turns a child process's output into log lines.
type logWriter struct {
	log  *slog.Logger
	from string
}

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(trimNewline(p)), "from", w.from)
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
