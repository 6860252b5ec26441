package admission

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/status"
)

// TestRefusalsSkipDeadTasksFoundEmpty: a login refused at the maximum
// looks for sessions of dead tasks to evict, one query per dead task. A
// dead task found owning nothing in the pool is not queried again for
// deadEmptyTTL, and is queried again after it; a dead task that owns a
// session is never taken for empty: a login at the maximum still evicts
// its session.
func TestRefusalsSkipDeadTasksFoundEmpty(t *testing.T) {
	queries := new(atomic.Int64)
	e := newEnvWithDB(t, func(db DynamoDB) DynamoDB { return queryCounter{db, queries} })
	e.pool(PoolConfig{MaxSessions: 2})
	users := e.users("u", 4, "main")
	e.mustAdmit(users[0])
	held := e.login(users[1])
	held.Owner = "dead-owner" // a task that admitted a session, then died
	if d := e.admit(held); d.Status != status.Accepted {
		t.Fatalf("dead-owner's login: %v (%s)", d.Status, d.Reason)
	}
	e.heartbeat("dead-owner")
	e.heartbeat("dead-empty")
	e.advance(DefaultLeaseDuration + time.Second) // only the test's own task renews

	refusal := func() int64 {
		t.Helper()
		queries.Store(0)
		if d := e.admit(e.login(users[3])); d.Status != status.ServerBusy {
			t.Fatalf("Admit = %v (%s), want SERVER_BUSY", d.Status, d.Reason)
		}
		return queries.Load()
	}
	// The first login at the maximum evicts dead-owner's session; it
	// finds dead-empty owning nothing.
	if d := e.admit(e.login(users[2])); d.Status != status.Accepted || len(d.Ended) != 1 || d.Ended[0].Owner != "dead-owner" {
		t.Fatalf("login at the maximum: %v (%s), ended %+v; want ACCEPTED ending dead-owner's session", d.Status, d.Reason, d.Ended)
	}
	// A refusal queries the task list, then each dead task not known
	// empty (no idle timeout: nothing else).
	if n := refusal(); n != 2 {
		t.Fatalf("first refusal made %d queries; want 2: the task list and dead-owner (dead-empty was found empty by the login before)", n)
	}
	if n := refusal(); n != 1 {
		t.Fatalf("second refusal made %d queries; want 1: the task list, both dead tasks known empty", n)
	}
	e.clock.Advance(deadEmptyTTL)
	if n := refusal(); n != 3 {
		t.Fatalf("a refusal after the TTL made %d queries; want 3: the task list and both dead tasks again", n)
	}
	e.checkCounter("main", 2)
}
