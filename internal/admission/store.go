// Package admission owns collabgw's session policy on DynamoDB: who may log
// in, how many sessions a GroupWise pool admits, which idle sessions are
// logged out to make room, and the leases that tie each session to the edge
// task holding its connections.
//
// Every change to the set of live sessions is one DynamoDB transaction that
// also moves the pool's counter, so the counter never drifts from the
// sessions and N concurrent logins against M free slots admit exactly M.
// docs/data-model.md describes the table and its access patterns.
package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/collabgw/collabgw/internal/manifest"
)

// DynamoDB lists the SDK methods the store calls, so tests can wrap the real
// client to inject faults.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// Defaults of the store's options.
const (
	// The lease and heartbeat defaults are the manifest's, which the edge,
	// the functions and the Terraform share.
	DefaultLeaseDuration     = manifest.DefaultLeaseSeconds * time.Second
	DefaultHeartbeatInterval = manifest.DefaultHeartbeatSeconds * time.Second
	// DefaultMaxAttempts bounds how often one call retries after losing a
	// race for a slot or a transaction conflict.
	DefaultMaxAttempts = 16
	// DefaultRenewConcurrency bounds the parallel writes of one RenewLeases
	// and of one pool's sweep.
	DefaultRenewConcurrency = 16
)

// Sentinel errors. Errors from the store wrap one of these.
var (
	// ErrInvalidRequest: the caller passed missing or malformed arguments.
	ErrInvalidRequest = errors.New("admission: invalid request")
	// ErrInvalidConfig: a pool configuration failed validation.
	ErrInvalidConfig = errors.New("admission: invalid configuration")
	// ErrUnknownPool: a user's pool has no configuration.
	ErrUnknownPool = errors.New("admission: unknown pool")
	// ErrNotFound: an admin lookup found nothing.
	ErrNotFound = errors.New("admission: not found")
	// ErrSessionGone: the session was ended (released, evicted, replaced or
	// swept) or belongs to another edge task; the caller must drop it.
	ErrSessionGone = errors.New("admission: session gone")
	// ErrUnavailable: DynamoDB failed (throttling, timeout, outage); retry.
	ErrUnavailable = errors.New("admission: store unavailable")
	// ErrContention: the call lost too many races; retry.
	ErrContention = errors.New("admission: too much contention")
)

// Retryable reports whether err is worth retrying with the same request.
func Retryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrContention)
}

// Store runs the admission rules against one DynamoDB table.
type Store struct {
	db    DynamoDB
	table string

	now              func() time.Time
	lease            time.Duration
	heartbeat        time.Duration
	maxAttempts      int
	renewConcurrency int
	log              *slog.Logger
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock (tests use a fake one).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLease sets the lease duration and the heartbeat interval edges renew
// it at. A lease shorter than two heartbeats is refused: one lost heartbeat
// must not end a session.
func WithLease(lease, heartbeat time.Duration) Option {
	return func(s *Store) { s.lease, s.heartbeat = lease, heartbeat }
}

// WithMaxAttempts bounds the retries of one call.
func WithMaxAttempts(n int) Option { return func(s *Store) { s.maxAttempts = n } }

// WithRenewConcurrency bounds the parallel writes of one RenewLeases and
// of one pool's sweep.
func WithRenewConcurrency(n int) Option { return func(s *Store) { s.renewConcurrency = n } }

// WithLogger sets the structured logger.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// New returns a Store over table.
func New(db DynamoDB, table string, opts ...Option) (*Store, error) {
	s := &Store{
		db:               db,
		table:            table,
		now:              time.Now,
		lease:            DefaultLeaseDuration,
		heartbeat:        DefaultHeartbeatInterval,
		maxAttempts:      DefaultMaxAttempts,
		renewConcurrency: DefaultRenewConcurrency,
		log:              slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(s)
	}
	switch {
	case db == nil:
		return nil, fmt.Errorf("%w: nil DynamoDB client", ErrInvalidRequest)
	case table == "":
		return nil, fmt.Errorf("%w: empty table name", ErrInvalidRequest)
	case s.heartbeat <= 0:
		return nil, fmt.Errorf("%w: heartbeat interval must be positive", ErrInvalidRequest)
	case s.lease < 2*s.heartbeat:
		return nil, fmt.Errorf("%w: lease %v is shorter than two heartbeats (%v)", ErrInvalidRequest, s.lease, s.heartbeat)
	case s.maxAttempts < 1:
		return nil, fmt.Errorf("%w: max attempts must be at least 1", ErrInvalidRequest)
	case s.renewConcurrency < 1:
		return nil, fmt.Errorf("%w: renew concurrency must be at least 1", ErrInvalidRequest)
	case s.now == nil || s.log == nil:
		return nil, fmt.Errorf("%w: nil clock or logger", ErrInvalidRequest)
	}
	return s, nil
}

// LeaseDuration is how long a session lives without a heartbeat.
func (s *Store) LeaseDuration() time.Duration { return s.lease }

// HeartbeatInterval is how often edges should renew their leases.
func (s *Store) HeartbeatInterval() time.Duration { return s.heartbeat }

// Table is the table name.
func (s *Store) Table() string { return s.table }

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

// backoff sleeps a jittered, growing pause before retry attempt n (n >= 1).
func backoff(ctx context.Context, n int) error {
	d := time.Duration(1<<min(n, 6)) * time.Millisecond
	d += time.Duration(rand.Int64N(int64(d))) //nolint:gosec // jitter, not security
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	case <-t.C:
		return nil
	}
}
