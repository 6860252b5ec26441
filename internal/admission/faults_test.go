package admission

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/status"
)

// fault says what happens to one call of the real client.
type fault int

const (
	pass       fault = iota
	failBefore       // the call fails without reaching DynamoDB
	failAfter        // the call is applied, then the answer is lost
	cancelTxn        // a transaction is cancelled (conflict) without applying
)

var (
	errThrottled = &types.ProvisionedThroughputExceededException{Message: aws.String("injected throttling")}
	errTimeout   = context.DeadlineExceeded
)

// faultyDB wraps the real DynamoDB Local client and injects faults chosen
// by decide for each call.
type faultyDB struct {
	DynamoDB
	decide func(op string) fault
	hits   atomic.Int64
}

func (f *faultyDB) apply(op string, call func() error) error {
	switch f.decide(op) {
	case failBefore:
		f.hits.Add(1)
		return errThrottled
	case failAfter:
		f.hits.Add(1)
		if err := call(); err != nil {
			return err
		}
		return errTimeout
	case cancelTxn:
		if op == "TransactWriteItems" {
			f.hits.Add(1)
			return &types.TransactionCanceledException{
				Message:             aws.String("injected conflict"),
				CancellationReasons: []types.CancellationReason{{Code: aws.String("TransactionConflict")}},
			}
		}
	}
	return call()
}

func (f *faultyDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.GetItemOutput, err error) {
	err = f.apply("GetItem", func() (e error) { out, e = f.DynamoDB.GetItem(ctx, in, o...); return e })
	return out, err
}

func (f *faultyDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.BatchGetItemOutput, err error) {
	err = f.apply("GetItem", func() (e error) { out, e = f.DynamoDB.BatchGetItem(ctx, in, o...); return e })
	return out, err
}

func (f *faultyDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (out *dynamodb.QueryOutput, err error) {
	err = f.apply("Query", func() (e error) { out, e = f.DynamoDB.Query(ctx, in, o...); return e })
	return out, err
}

func (f *faultyDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (out *dynamodb.UpdateItemOutput, err error) {
	err = f.apply("UpdateItem", func() (e error) { out, e = f.DynamoDB.UpdateItem(ctx, in, o...); return e })
	return out, err
}

func (f *faultyDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (out *dynamodb.TransactWriteItemsOutput, err error) {
	err = f.apply("TransactWriteItems", func() (e error) { out, e = f.DynamoDB.TransactWriteItems(ctx, in, o...); return e })
	return out, err
}

// faultEnv is an env whose store goes through a faultyDB, with a clean
// store on the same table to set up and check.
type faultEnv struct {
	*env
	faulty *faultyDB
	clean  *env
}

func newFaultEnv(t *testing.T, decide func(op string) fault) *faultEnv {
	t.Helper()
	fe := &faultEnv{}
	fe.env = newEnvWithDB(t, func(db DynamoDB) DynamoDB {
		fe.faulty = &faultyDB{DynamoDB: db, decide: func(string) fault { return pass }}
		return fe.faulty
	}, WithMaxAttempts(4))
	clean, err := New(fe.faulty.DynamoDB, fe.store.Table(), WithClock(fe.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	fe.clean = &env{t: t, ctx: fe.ctx, store: clean, clock: fe.clock, keys: fe.keys, seq: fe.seq}
	fe.clean.pool(PoolConfig{MaxSessions: 10})
	fe.clean.users("u", 3, "main")
	fe.faulty.decide = decide
	return fe
}

func always(target string, f fault) func(string) fault {
	return func(op string) fault {
		if op == target {
			return f
		}
		return pass
	}
}

func once(target string, f fault) func(string) fault {
	var done atomic.Bool
	return func(op string) fault {
		if op == target && done.CompareAndSwap(false, true) {
			return f
		}
		return pass
	}
}

func TestAdmitUnderStoreFaults(t *testing.T) {
	tests := []struct {
		name       string
		decide     func(string) fault
		wantErr    bool // a retryable error, and nothing admitted
		wantStatus status.Code
		wantLive   int
	}{
		{"throttled reads give a retryable error", always("GetItem", failBefore), true, 0, 0},
		{"queries are not needed below the maximum", always("Query", failBefore), false, status.Accepted, 1},
		{"every transaction throttled gives a retryable error", always("TransactWriteItems", failBefore), true, 0, 0},
		{"every transaction cancelled gives a retryable error", always("TransactWriteItems", cancelTxn), true, 0, 0},
		{"one throttled transaction is retried", once("TransactWriteItems", failBefore), false, status.Accepted, 1},
		{"a transaction applied but answered with a timeout admits once", once("TransactWriteItems", failAfter), false, status.Accepted, 1},
		{"one conflict is retried", once("TransactWriteItems", cancelTxn), false, status.Accepted, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := newFaultEnv(t, tt.decide)
			d, err := fe.store.Admit(fe.ctx, fe.login("u0000"))
			switch {
			case tt.wantErr && !Retryable(err):
				t.Fatalf("Admit = %v, %v; want a retryable error", d.Status, err)
			case !tt.wantErr && (err != nil || d.Status != tt.wantStatus):
				t.Fatalf("Admit = %v, %v; want %v", d.Status, err, tt.wantStatus)
			}
			fe.clean.checkCounter("main", tt.wantLive)
		})
	}
}

func TestReleaseUnderStoreFaults(t *testing.T) {
	fe := newFaultEnv(t, func(string) fault { return pass })
	s := fe.mustAdmit("u0000")
	fe.faulty.decide = always("TransactWriteItems", failBefore)
	if err := fe.store.Release(fe.ctx, s.SessionRef); !Retryable(err) {
		t.Fatalf("Release = %v, want a retryable error", err)
	}
	fe.clean.checkCounter("main", 1)
	fe.faulty.decide = once("TransactWriteItems", failAfter)
	if err := fe.store.Release(fe.ctx, s.SessionRef); err != nil {
		t.Fatalf("Release after an applied-but-lost answer = %v, want nil (idempotent)", err)
	}
	fe.clean.checkCounter("main", 0)
}

// TestRandomFaultsNeverDriftTheCounter runs concurrent logins and releases
// while a third of all calls fail before or after reaching DynamoDB, and
// checks that the counter always matches the live sessions and that every
// error is retryable.
func TestRandomFaultsNeverDriftTheCounter(t *testing.T) {
	var mu sync.Mutex // guards rng
	rng := rand.New(rand.NewPCG(1, 2))
	fe := newFaultEnv(t, func(string) fault {
		mu.Lock()
		defer mu.Unlock()
		switch rng.IntN(9) {
		case 0:
			return failBefore
		case 1:
			return failAfter
		case 2:
			return cancelTxn
		}
		return pass
	})
	users := fe.clean.users("r", 30, "main")
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			for range 3 {
				d, err := fe.store.Admit(fe.ctx, fe.login(u))
				if err != nil {
					if !Retryable(err) {
						t.Errorf("Admit(%s): non-retryable %v", u, err)
					}
					continue
				}
				if d.Status == status.Accepted {
					if err := fe.store.Release(fe.ctx, d.Session.SessionRef); err != nil && !Retryable(err) {
						t.Errorf("Release: non-retryable %v", err)
					}
				} else if d.Status != status.ServerBusy && d.Status != status.ProtocolError {
					t.Errorf("Admit(%s) = %v (%s)", u, d.Status, d.Reason)
				}
			}
		})
	}
	wg.Wait()
	if fe.faulty.hits.Load() == 0 {
		t.Fatal("no fault was injected")
	}
	live, err := fe.clean.store.Counter(fe.ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	fe.clean.checkCounter("main", live)
	if live > 10 {
		t.Fatalf("%d live sessions exceed the maximum 10", live)
	}
}

// TestRandomFaultsWithADeadTaskNeverDriftTheCounter: a full pool whose
// sessions all belong to a task that died; concurrent logins evict them and
// the sweep runs, while a third of all calls fail before or after reaching
// DynamoDB. The counter always matches the live sessions, the maximum
// holds, and once a sweep completes no session of the dead task is left.
func TestRandomFaultsWithADeadTaskNeverDriftTheCounter(t *testing.T) {
	var mu sync.Mutex // guards rng
	rng := rand.New(rand.NewPCG(3, 4))
	fe := newFaultEnv(t, func(string) fault { return pass })
	fe.clean.heartbeat("edge-2")
	fe.clean.holdOn("edge-2", fe.clean.users("d", 10, "main"))
	fe.clean.advance(DefaultLeaseDuration + time.Second) // edge-2 stopped, edge-1 lives
	fe.faulty.decide = func(string) fault {
		mu.Lock()
		defer mu.Unlock()
		switch rng.IntN(9) {
		case 0:
			return failBefore
		case 1:
			return failAfter
		case 2:
			return cancelTxn
		}
		return pass
	}
	var wg sync.WaitGroup
	for _, u := range fe.clean.users("r", 20, "main") {
		wg.Go(func() {
			for range 2 {
				d, err := fe.store.Admit(fe.ctx, fe.login(u))
				switch {
				case err != nil && !Retryable(err):
					t.Errorf("Admit(%s): non-retryable %v", u, err)
				case err == nil && d.Status != status.Accepted && d.Status != status.ServerBusy && d.Status != status.ProtocolError:
					t.Errorf("Admit(%s) = %v (%s)", u, d.Status, d.Reason)
				}
			}
		})
	}
	wg.Go(func() {
		if _, err := fe.store.Sweep(fe.ctx); err != nil && !Retryable(err) {
			t.Errorf("Sweep: non-retryable %v", err)
		}
	})
	wg.Wait()
	if fe.faulty.hits.Load() == 0 {
		t.Fatal("no fault was injected")
	}
	live, err := fe.clean.store.Counter(fe.ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	fe.clean.checkCounter("main", live)
	if live > 10 {
		t.Fatalf("%d live sessions exceed the maximum 10", live)
	}
	// A sweep makes some twenty calls, so under these faults most runs
	// fail part-way (the next minute's run retries); the next one without
	// faults finishes the job.
	if _, err := fe.clean.store.Sweep(fe.ctx); err != nil {
		t.Fatal(err)
	}
	sessions, err := fe.clean.store.ListSessions(fe.ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.Owner == "edge-2" {
			t.Fatalf("session %s of the dead task survived a sweep", s.ID)
		}
	}
	live, err = fe.clean.store.Counter(fe.ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	fe.clean.checkCounter("main", live)
}
