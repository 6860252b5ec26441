// Command edge is collabgw's ECS service: the device port (3101) and the
// GroupWise links of every session. It only wires: the environment
// (internal/manifest names it) → AWS SDK clients → edge.Server → Run until
// SIGTERM, then the drain. The logic lives in internal/edge.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	// CA roots compiled in, used when the system has none: the image
	// `collabgw image` builds has no files but the edge, and the edge still
	// needs roots for the AWS APIs (and GroupWise servers with public
	// certificates).
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/edge"
	"github.com/collabgw/collabgw/internal/metrics"
)

// version is stamped at build time (-ldflags "-X main.version=...") by
// `collabgw image`.
var version = "dev"

func main() {
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Printf("collabgw edge %s %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "edge:", err)
		os.Exit(1)
	}
}

func run() error {
	env, err := edge.EnvFrom(os.Getenv)
	if err != nil {
		return err
	}
	log := env.Logger(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	// The default chain reads the ECS task role, and the SDK's standard
	// AWS_ENDPOINT_URL_LAMBDA / AWS_ENDPOINT_URL_DYNAMODB /
	// AWS_ENDPOINT_URL_SECRETS_MANAGER point the clients at a local stack.
	// Retries are not rate-limited client-side: a drain releases thousands
	// of sessions at once, and the default retry quota would turn one
	// throttled burst into failed releases (which the sweep then has to
	// clean up after the lease expires).
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
	}))
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	fns, err := edge.NewFunctions(lambda.NewFromConfig(awsCfg), env.AuthorizeFunction, env.ReleaseFunction, 0)
	if err != nil {
		return err
	}
	store, err := admission.New(dynamodb.NewFromConfig(awsCfg), env.Table,
		admission.WithLease(env.Lease, env.Heartbeat), admission.WithLogger(log))
	if err != nil {
		return err
	}
	owner, err := taskID()
	if err != nil {
		return err
	}
	// Metrics go to stdout as CloudWatch EMF, logs to stderr; the awslogs
	// driver ships both.
	rec, err := metrics.New(os.Stdout, metrics.WithProperty("edgeTask", owner))
	if err != nil {
		return err
	}
	opts, err := env.Options(log, rec, secretsmanager.NewFromConfig(awsCfg))
	if err != nil {
		return err
	}
	opts = append(opts, edge.WithEdgeAddr(owner))
	if !env.PeerKey.IsZero() {
		// A RESUME for a session another task holds is relayed to it: the
		// store says which task, and its lease stores where.
		addr, err := edge.TaskAddr(ctx, env.PeerAdvertiseAddr, env.PeerAddr, os.Getenv(edge.EnvECSMetadata), http.DefaultClient)
		if err != nil {
			return err
		}
		opts = append(opts, edge.WithTaskAddr(addr), edge.WithSessionLocator(edge.StoreLocator{Store: store}))
	}
	srv, err := edge.New(env.GatewayKey, owner, fns, fns, store, opts...)
	if err != nil {
		return err
	}
	ln, err := srv.Listen(ctx, env.ListenAddr)
	if err != nil {
		return err
	}
	peerAddr := "off"
	if !env.PeerKey.IsZero() {
		pln, err := srv.ListenPeer(ctx, env.PeerAddr) // Run serves and closes it
		if err != nil {
			ln.Close()
			return err
		}
		peerAddr = pln.Addr().String()
	}
	health := &http.Server{Handler: srv.HealthHandler(), ReadHeaderTimeout: 5 * time.Second}
	hln, err := net.Listen("tcp", env.HealthAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("health endpoint: %w", err)
	}
	go func() {
		if err := health.Serve(hln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("health endpoint failed", "err", err)
		}
	}()
	log.Info("edge started", "owner", owner, "listen", ln.Addr().String(), "health", hln.Addr().String(), "peer", peerAddr,
		"lease", env.Lease, "heartbeat", env.Heartbeat, "drain", env.Drain)
	err = srv.Run(ctx, ln) // returns after the drain
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = health.Shutdown(sctx)
	if err != nil {
		return err
	}
	log.Info("edge stopped")
	return nil
}

// taskID names this process in session leases: the host (a Fargate task's
// own address) and a random suffix, so a restarted task never takes over
// the leases of its predecessor.
func taskID() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("hostname: %w", err)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return host + "-" + hex.EncodeToString(b[:]), nil
}
