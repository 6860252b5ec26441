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
	return &env{t: t, ctx: ctx, store: store, clock: clock, db: db, keys: map[string][]byte{}, seq: new(atomic.Int64)}
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
		DeviceTime:      clocktest.Now().Add(time.Duration(seq) * time.Microsecond),
		UserID:          user,
		ClientVersion:   "test/1",
		Owner:           "edge-1",
		SourceAddr:      "127.0.0.1:5000",
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
