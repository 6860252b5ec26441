package admission

import (
	"sync"
	"time"
)

// Dead tasks known to own nothing in a pool. After a deployment replaced
// every edge task, the dead tasks' lease items stay for the task retention
// (ten minutes), and a login refused at the maximum would query each of
// them for sessions to evict before refusing: one query per dead task,
// on every refusal of a storm. A dead task gains no sessions (its edge is
// gone), so a query that found none in a pool is remembered for a few
// seconds. The cost of a stale entry is a session the index had not yet
// shown, evicted by a later login or the sweep rather than this one.

// deadEmptyTTL is how long a dead task found empty in a pool is skipped.
const deadEmptyTTL = 5 * time.Second

// deadEmptySize bounds the entries kept (task and pool pairs).
const deadEmptySize = 4096

type deadEmptyKey struct{ task, pool string }

type deadEmptyCache struct {
	mu      sync.Mutex
	entries map[deadEmptyKey]time.Time // when it was found empty
}

// known reports whether task was found empty in pool within the TTL.
func (c *deadEmptyCache) known(task, pool string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.entries[deadEmptyKey{task, pool}]
	return ok && !now.Before(at) && now.Sub(at) < deadEmptyTTL
}

// remember records that task owned nothing in pool at now.
func (c *deadEmptyCache) remember(task, pool string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[deadEmptyKey]time.Time{}
	}
	if len(c.entries) >= deadEmptySize {
		for k, at := range c.entries {
			if now.Sub(at) >= deadEmptyTTL || now.Before(at) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= deadEmptySize {
			return
		}
	}
	c.entries[deadEmptyKey{task, pool}] = now
}
