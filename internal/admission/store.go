// Package admission owns collabgw's session policy on DynamoDB: who may log
// in, how many sessions a GroupWise pool admits, which idle sessions are
// logged out to make room, the edge tasks' leases (one item per task; a
// session names its task, and a task whose lease lapsed is dead), and where
// a session lives for a RESUME that reaches another task.
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
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// Defaults of the store's options.
const (
	// DefaultLeaseDuration and DefaultHeartbeatInterval are an edge task's
	// lease and how often the task renews it (the manifest's defaults, which
	// the edge, the functions and the Terraform share: 30 s and 10 s). A
	// heartbeat is one write per task whatever it holds, so it can be
	// frequent: a killed task's sessions are evictable at the maximum 30 s
	// after its last heartbeat and swept within a sweep period after that,
	// and a session ended elsewhere reaches its device within one heartbeat
	// (Reconcile). The lease survives two lost heartbeats.
	DefaultLeaseDuration     = manifest.DefaultLeaseSeconds * time.Second
	DefaultHeartbeatInterval = manifest.DefaultHeartbeatSeconds * time.Second
	// DefaultMaxAttempts bounds how often one call retries after losing a
	// race for a slot or a transaction conflict.
	DefaultMaxAttempts = 16
	// DefaultRenewConcurrency bounds the parallel writes of one pool's sweep.
	DefaultRenewConcurrency = 16
	// DefaultSweepRate bounds how many sessions per second one sweep ends:
	// each end takes two write units on the pool's counter (and, for a dead
	// task, two on the task partition), so after a task holding thousands
	// of sessions dies the sweep leaves the counter's partition room for
	// the pool's own logins and logouts (docs/data-model.md).
	DefaultSweepRate = 200
	// DefaultMaxClockSkew is how far a login's device time may be from the
	// store's clock: the edge's window (devproto.DefaultMaxClockSkew),
	// enforced again here so a forged or misrouted event cannot set a
	// device's replay counter in the future and lock it out.
	DefaultMaxClockSkew = 5 * time.Minute
	// DefaultPoolCacheTTL is how long a pool's configuration read by
	// Admit is reused: a policy change takes effect within it.
	DefaultPoolCacheTTL = 5 * time.Second
	// DefaultPoolCacheSize bounds the pool configurations cached.
	DefaultPoolCacheSize = 1024
	// DefaultTaskRetention is how long a dead task's lease item stays after
	// its last session ended, so a late RESUME still learns its owner died.
	DefaultTaskRetention = 10 * time.Minute
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
	// LocateSession returns it when the device has no such session.
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
	maxSkew          time.Duration
	taskRetention    time.Duration
	sweepRate        float64
	pools            *poolCache
	deadEmpty        deadEmptyCache // dead tasks recently found owning nothing in a pool (evict.go)
	log              *slog.Logger
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock (tests use a fake one).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithLease sets an edge task's lease duration and the heartbeat interval
// tasks renew it at. A lease shorter than two heartbeats is refused: one
// lost heartbeat must not kill a task.
func WithLease(lease, heartbeat time.Duration) Option {
	return func(s *Store) { s.lease, s.heartbeat = lease, heartbeat }
}

// WithMaxAttempts bounds the retries of one call.
func WithMaxAttempts(n int) Option { return func(s *Store) { s.maxAttempts = n } }

// WithRenewConcurrency bounds the parallel writes of one pool's sweep.
func WithRenewConcurrency(n int) Option { return func(s *Store) { s.renewConcurrency = n } }

// WithMaxClockSkew sets how far a login's device time may be from the
// store's clock (DefaultMaxClockSkew).
func WithMaxClockSkew(d time.Duration) Option { return func(s *Store) { s.maxSkew = d } }

// WithPoolCache sets how long Admit reuses a pool configuration it read
// and how many it keeps (DefaultPoolCacheTTL, DefaultPoolCacheSize); a
// ttl of 0 reads the configuration on every login.
func WithPoolCache(ttl time.Duration, size int) Option {
	return func(s *Store) { s.pools = &poolCache{ttl: ttl, size: size} }
}

// WithSweepRate bounds the sessions one sweep ends per second
// (DefaultSweepRate).
func WithSweepRate(perSecond float64) Option { return func(s *Store) { s.sweepRate = perSecond } }

// WithTaskRetention sets how long the sweep keeps a dead task's lease item
// once it owns no session (DefaultTaskRetention).
func WithTaskRetention(d time.Duration) Option { return func(s *Store) { s.taskRetention = d } }

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
		maxSkew:          DefaultMaxClockSkew,
		taskRetention:    DefaultTaskRetention,
		sweepRate:        DefaultSweepRate,
		pools:            &poolCache{ttl: DefaultPoolCacheTTL, size: DefaultPoolCacheSize},
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
	case s.maxSkew <= 0:
		return nil, fmt.Errorf("%w: max clock skew must be positive", ErrInvalidRequest)
	case s.pools.ttl < 0 || s.pools.size < 1:
		return nil, fmt.Errorf("%w: pool cache needs a ttl >= 0 and a size >= 1", ErrInvalidRequest)
	case s.sweepRate <= 0:
		return nil, fmt.Errorf("%w: sweep rate must be positive", ErrInvalidRequest)
	case s.taskRetention < 0:
		return nil, fmt.Errorf("%w: task retention must not be negative", ErrInvalidRequest)
	case s.now == nil || s.log == nil:
		return nil, fmt.Errorf("%w: nil clock or logger", ErrInvalidRequest)
	}
	return s, nil
}

// LeaseDuration is how long an edge task lives without a heartbeat.
func (s *Store) LeaseDuration() time.Duration { return s.lease }

// HeartbeatInterval is how often edge tasks should renew their leases.
func (s *Store) HeartbeatInterval() time.Duration { return s.heartbeat }

// Table is the table name.
func (s *Store) Table() string { return s.table }

// errNoChange is updateExisting's failed condition where the caller
// treats it as "nothing to do".
var errNoChange = errors.New("admission: nothing to change")

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
