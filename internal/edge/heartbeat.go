package edge

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/status"
)

// heartbeatLoop renews every held session's lease each heartbeat interval.
func (s *Server) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.heartbeat(ctx)
		}
	}
}

// heartbeat is one round: sessions whose GroupWise connection ended are
// ended (and released), the rest are renewed in one batched call, and
// those the store reports gone are ended and their devices told LOGGED_OUT.
// Gone is all a renewal can say: an eviction at the maximum, an inactivity
// logout, a lease that expired, a revoked device and a replacement by a
// newer login of the same device all look alike here, so the device hears
// LOGGED_OUT. (A replacement decided through this edge's own authorize
// call is told SIGNED_ON_ELSEWHERE at once; see endReported.)
func (s *Server) heartbeat(ctx context.Context) {
	held := s.all()
	refs := make([]admission.SessionRef, 0, len(held))
	for _, ss := range held {
		ss.mu.Lock()
		gw := ss.gw
		ss.mu.Unlock()
		if gw != nil {
			select {
			case <-gw.Done():
				s.met.inc(evGroupWiseLost)
				e := groupWiseEnding(gw.Err())
				s.background(func() { ss.end(ctx, e) })
				continue
			default:
			}
		}
		refs = append(refs, ss.ref)
	}
	if len(refs) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.heartbeat)
	defer cancel()
	gone, err := s.leases.RenewLeases(rctx, s.owner, refs)
	if err != nil {
		s.met.inc(evStoreWriteFailed)
		s.cfg.log.Warn("lease renewal incomplete; retried next heartbeat", "sessions", len(refs), "gone", len(gone), "err", err)
	}
	for _, ref := range gone {
		ss := s.lookup(ref.ID)
		if ss == nil {
			continue
		}
		s.met.inc(evGone)
		s.background(func() {
			ss.end(ctx, ending{reason: "gone-on-renewal", notify: status.LoggedOut})
		})
	}
}

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
