// Package ratelimit is a token-bucket limiter per key (a source address, a
// device id) over golang.org/x/time/rate, holding at most a fixed number of
// keys: the least recently used key is forgotten when a new one arrives, so
// a flood of distinct keys costs bounded memory instead of an unbounded map.
package ratelimit

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys bounds the keys remembered when New is given none.
const DefaultMaxKeys = 65536

// ErrBadConfig reports an invalid rate, burst or key bound.
var ErrBadConfig = errors.New("ratelimit: invalid configuration")

// Keyed limits events per key. It is safe for concurrent use.
type Keyed struct {
	limit   rate.Limit
	burst   int
	maxKeys int

	mu      sync.Mutex               // guards entries, lru and evicted
	entries map[string]*list.Element // key → element of lru holding *entry
	lru     *list.List               // front: most recently used
	evicted uint64
}

type entry struct {
	key string
	lim *rate.Limiter
}

// New returns a limiter allowing perSecond events per key on average, with
// bursts of burst, remembering at most maxKeys keys (DefaultMaxKeys when 0).
func New(perSecond float64, burst, maxKeys int) (*Keyed, error) {
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	if perSecond <= 0 || burst < 1 || maxKeys < 1 {
		return nil, fmt.Errorf("%w: rate %v/s, burst %d, keys %d", ErrBadConfig, perSecond, burst, maxKeys)
	}
	return &Keyed{
		limit: rate.Limit(perSecond), burst: burst, maxKeys: maxKeys,
		entries: make(map[string]*list.Element), lru: list.New(),
	}, nil
}

// Allow reports whether an event for key may happen at now and, when not,
// how long until it could.
func (k *Keyed) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	lim := k.limiterLocked(key)
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// limiterLocked returns key's limiter, creating it (and forgetting the
// least recently used key when full).
func (k *Keyed) limiterLocked(key string) *rate.Limiter {
	if el, ok := k.entries[key]; ok {
		k.lru.MoveToFront(el)
		return el.Value.(*entry).lim
	}
	if k.lru.Len() >= k.maxKeys {
		old := k.lru.Back()
		k.lru.Remove(old)
		delete(k.entries, old.Value.(*entry).key)
		k.evicted++
	}
	e := &entry{key: key, lim: rate.NewLimiter(k.limit, k.burst)}
	k.entries[key] = k.lru.PushFront(e)
	return e.lim
}

// Len returns the number of keys remembered.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lru.Len()
}

// Evicted returns how many keys were forgotten to make room: a steadily
// growing figure means maxKeys is too small for the traffic (or a flood).
func (k *Keyed) Evicted() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.evicted
}
