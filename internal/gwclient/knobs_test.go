package gwclient

import "github.com/collabgw/collabgw/internal/idlepoll"

// Test-only options: each undoes one memory saving (for the memory
// harness's side-by-side variants) or injects a poller.

func withReaderGoroutine() Option {
	return func(c *config) error { c.readerGoroutine = true; return nil }
}

func withGreedyReads() Option {
	return func(c *config) error { c.greedyReads = true; return nil }
}

func withPrivateTLSConfig() Option {
	return func(c *config) error { c.privateTLSConfig = true; return nil }
}

func withPoller(p *idlepoll.Poller) Option {
	return func(c *config) error { c.poller = p; return nil }
}
