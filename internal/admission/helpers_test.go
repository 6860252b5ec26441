package admission

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/dynamotest"
	"github.com/collabgw/collabgw/internal/status"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

// env is one test's store on its own fresh table.
type env struct {
	t     testing.TB
	ctx   context.Context
	store *Store
	clock *clocktest.Clock
	db    DynamoDB
	keys  map[string][]byte // device id -> public key
	seq   *atomic.Int64
}

func newEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	return newEnvWithDB(t, nil, opts...)
}

// newEnvWithDB wraps the real client with wrap (for fault injection).
func newEnvWithDB(t testing.TB, wrap func(DynamoDB) DynamoDB, opts ...Option) *env {
	t.Helper()
	ctx := context.Background()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t)
	if err := CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	var db DynamoDB = client
	if wrap != nil {
		db = wrap(client)
	}
	clock := clocktest.New()
	store, err := New(db, table, append([]Option{WithClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, store: store, clock: clock, db: db, keys: map[string][]byte{}, seq: new(atomic.Int64)}
	e.heartbeat(testTask)
	return e
}

// testTask is the edge task the tests' logins name as owner; newEnv
// registers its lease.
const testTask = "edge-1"

// heartbeat renews task's lease, as a live edge task does.
func (e *env) heartbeat(task string) TaskLease {
	e.t.Helper()
	l, err := e.store.RenewTaskLease(e.ctx, task, task+".internal:3102")
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// advance moves the clock forward in heartbeat steps, renewing the test
// task's lease as a live edge task would.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	for d > 0 {
		step := min(d, e.store.HeartbeatInterval())
		e.clock.Advance(step)
		d -= step
		e.heartbeat(testTask)
	}
}

// activity records a session's activity as its edge would.
func (e *env) activity(s Session, a Activity) {
	e.t.Helper()
	if a.Seq == 0 {
		a.Seq = uint64(e.seq.Add(1))
	}
	if err := e.store.SetActivity(e.ctx, s.Owner, s.SessionRef, a); err != nil {
		e.t.Fatal(err)
	}
}

// silent marks a session silent since lastStatus, as its edge does once no
// STATUS came for the silence threshold.
func (e *env) silent(s Session, lastStatus time.Time) {
	e.t.Helper()
	e.activity(s, Activity{Coverage: CoverageIn, LastStatus: lastStatus, Silent: true})
}

// outOfCoverage marks a session's device gone since at.
func (e *env) outOfCoverage(s Session, at time.Time) {
	e.t.Helper()
	e.activity(s, Activity{Coverage: CoverageOut, CoverageSince: at, LastStatus: at})
}

func (e *env) pool(c PoolConfig) PoolConfig {
	e.t.Helper()
	if c.Name == "" {
		c.Name = "main"
	}
	if c.GroupWise.Host == "" {
		c.GroupWise.Host = "127.0.0.1"
	}
	c, err := e.store.PutPool(e.ctx, c)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// user registers a user in pool and one device of theirs, named after the
// user unless device is given.
func (e *env) user(id, pool string, permitted bool) {
	e.t.Helper()
	if err := e.store.PutUser(e.ctx, User{ID: id, Pool: pool, Permitted: permitted}); err != nil {
		e.t.Fatal(err)
	}
	e.device("dev-"+id, id)
}

func (e *env) device(id, user string) {
	e.t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.RegisterDevice(e.ctx, Device{ID: id, UserID: user, PublicKey: key}); err != nil {
		e.t.Fatal(err)
	}
	e.keys[id] = key
}

func (e *env) users(prefix string, n int, pool string) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d", prefix, i)
		e.user(ids[i], pool, true)
	}
	return ids
}

// login is a well-formed login of user's own device with a fresh request id
// and a device time later than any before.
func (e *env) login(user string) Login {
	seq := e.seq.Add(1)
	dev := "dev-" + user
	return Login{
		RequestID:       fmt.Sprintf("req-%s-%d-%d", user, seq, time.Now().UnixNano()),
		DeviceID:        dev,
		DevicePublicKey: e.keys[dev],
		DeviceTime:      e.clock.Now().Add(time.Duration(seq) * time.Microsecond),
		UserID:          user,
		ClientVersion:   "test/1",
		Owner:           testTask,
		SourceAddr:      "127.0.0.1:5000",
		ResumeTokenHash: make([]byte, ResumeTokenHashLen),
	}
}

func (e *env) admit(l Login) Decision {
	e.t.Helper()
	d, err := e.store.Admit(e.ctx, l)
	if err != nil {
		e.t.Fatalf("Admit(%s): %v", l.UserID, err)
	}
	return d
}

func (e *env) mustAdmit(user string) Session {
	e.t.Helper()
	d := e.admit(e.login(user))
	if d.Status != status.Accepted {
		e.t.Fatalf("Admit(%s) = %v (%s), want ACCEPTED", user, d.Status, d.Reason)
	}
	return *d.Session
}

// checkCounter fails unless the pool's counter equals want and the number
// of live session items.
func (e *env) checkCounter(pool string, want int) {
	e.t.Helper()
	live, err := e.store.Counter(e.ctx, pool)
	if err != nil {
		e.t.Fatal(err)
	}
	sessions, err := e.store.ListSessions(e.ctx, pool)
	if err != nil {
		e.t.Fatal(err)
	}
	if live != want || len(sessions) != want {
		e.t.Fatalf("pool %s: counter %d, sessions %d, want both %d", pool, live, len(sessions), want)
	}
}
