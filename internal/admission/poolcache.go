package admission

import (
	"context"
	"sync"
	"time"
)

// poolCache keeps pool configurations Admit read, for ttl, so that a login
// costs one read and one transaction. A cached configuration only delays a
// policy change by up to ttl: each admission is still exact against the
// limit it used, which the counter's condition carries. Bounded: when full, expired entries go first, then everything.
type poolCache struct {
	ttl  time.Duration
	size int

	mu      sync.Mutex // guards entries
	entries map[string]cachedPool
}

type cachedPool struct {
	cfg  PoolConfig
	read time.Time
}

func (c *poolCache) lookup(name string, now time.Time) (PoolConfig, bool) {
	if c.ttl == 0 {
		return PoolConfig{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok || now.Sub(e.read) >= c.ttl || now.Before(e.read) {
		return PoolConfig{}, false
	}
	return e.cfg, true
}

func (c *poolCache) store(cfg PoolConfig, now time.Time) {
	if c.ttl == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]cachedPool)
	}
	if _, ok := c.entries[cfg.Name]; !ok && len(c.entries) >= c.size {
		for name, e := range c.entries {
			if now.Sub(e.read) >= c.ttl {
				delete(c.entries, name)
			}
		}
		if len(c.entries) >= c.size {
			clear(c.entries)
		}
	}
	c.entries[cfg.Name] = cachedPool{cfg: cfg, read: now}
}

func (c *poolCache) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, name)
}

// pool returns a pool's configuration, from the cache when fresh.
func (s *Store) pool(ctx context.Context, name string) (PoolConfig, error) {
	now := s.now()
	if cfg, ok := s.pools.lookup(name, now); ok {
		return cfg, nil
	}
	cfg, err := s.GetPool(ctx, name)
	if err != nil {
		return cfg, err
	}
	s.pools.store(cfg, now)
	return cfg, nil
}
