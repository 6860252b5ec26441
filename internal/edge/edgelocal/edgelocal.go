// Package edgelocal plugs an in-process edge into the local stack
// (internal/localstack's Config.StartEdge hook), wired the way edge/main.go
// wires the ECS service: the Lambda client aimed at the stack's local Invoke
// endpoint, the stack's store for the edge's own session items, the stack's
// gateway key, and the pool's CA file as its caRef.
package edgelocal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/edge"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/manifest"
)

// Edge is a running in-process edge.
type Edge struct {
	addr string
	stop context.CancelFunc
	done chan error
}

var _ localstack.Edge = (*Edge)(nil)

// Addr is the device port.
func (e *Edge) Addr() string { return e.addr }

// Close drains the edge (devices told, sessions released) and waits.
func (e *Edge) Close() error {
	e.stop()
	return <-e.done
}

// Starter returns the StartEdge hook: an edge on addr (localstack
// DefaultEdgeAddr for `make run`, "127.0.0.1:0" in tests) with no
// per-address rate limit, so the load generator can run from one host.
// opts are added after the local defaults.
func Starter(addr string, log *slog.Logger, opts ...edge.Option) func(ctx context.Context, s *localstack.Stack) (localstack.Edge, error) {
	return func(ctx context.Context, s *localstack.Stack) (localstack.Edge, error) {
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		key, err := devproto.LoadPrivateKey(s.GatewayKeyFile)
		if err != nil {
			return nil, err
		}
		lc := localstack.NewLambdaClient(s.LambdaEndpoint)
		fns, err := edge.NewFunctions(lc, manifest.FunctionAuthorize, manifest.FunctionRelease, 0)
		if err != nil {
			return nil, err
		}
		base := []edge.Option{
			edge.WithLogger(log.With("from", "edge")), edge.WithHeartbeat(s.Store.HeartbeatInterval()),
			edge.WithAddrRate(0, 0), edge.WithEdgeAddr(addr),
		}
		srv, err := edge.New(key, "local-edge", fns, fns, s.Store, append(base, opts...)...)
		if err != nil {
			return nil, err
		}
		ln, err := srv.Listen(ctx, addr)
		if err != nil {
			return nil, err
		}
		// The edge outlives Start's context: it runs until Close.
		runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		e := &Edge{addr: ln.Addr().String(), stop: stop, done: make(chan error, 1)}
		go func() {
			err := srv.Run(runCtx, ln)
			if err != nil && !errors.Is(err, context.Canceled) {
				err = fmt.Errorf("edgelocal: %w", err)
			}
			e.done <- err
		}()
		return e, nil
	}
}
