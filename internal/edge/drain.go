package edge

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/status"
)

// drain ends every session after Run's context ended: admissions in flight
// finish (each refuses or adds its session), then every session is told,
// logged out of GroupWise and released, a bounded number at a time.
func (s *Server) drain(ctx context.Context) error {
	start := time.Now()
	if err := waitCtx(ctx, &s.logins); err != nil {
		return fmt.Errorf("edge: drain: admissions still in flight: %w", err)
	}
	held := s.all()
	s.cfg.log.Info("draining", "sessions", len(held))
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.cfg.releaseConcurrency)
	for _, ss := range held {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("edge: drain: %d sessions not ended: %w", len(s.all()), ctx.Err())
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.met.inc(evDrained)
			ss.end(ctx, ending{reason: "drain", notify: status.ServerBusy, retryAfter: DefaultDrainRetryAfter, release: true})
		}()
	}
	if err := waitCtx(ctx, &wg); err != nil {
		return fmt.Errorf("edge: drain: %d sessions not ended: %w", len(s.all()), err)
	}
	if err := waitCtx(ctx, &s.workers); err != nil {
		return fmt.Errorf("edge: drain: background work unfinished: %w", err)
	}
	if err := waitCtx(ctx, &s.conns); err != nil {
		return fmt.Errorf("edge: drain: connections still open: %w", err)
	}
	s.cfg.log.Info("drained", "sessions", len(held), "ms", msSince(start))
	return nil
}

// abandon closes, once the server's life ended, the sessions the drain
// did not end before its deadline: their device links and GroupWise
// connections close, with no word to the device and no release (the
// task's lease, ended next, makes their slots evictable at once, and the
// sweep frees them). Their readers end with their links.
func (s *Server) abandon() {
	left := s.all()
	if len(left) == 0 {
		return
	}
	s.cfg.log.Warn("drain deadline passed: closing the sessions left without a release", "sessions", len(left))
	for _, ss := range left {
		s.met.inc(evAbandoned)
		ss.end(s.life, ending{reason: "drain-deadline"})
	}
}

// waitCtx waits for wg, or until ctx ends.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
