package edge

import (
	"context"
	"sync"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/status"
)

// heartbeatLoop runs a heartbeat at once (so the task's lease exists
// before its first session) and then every heartbeat interval, and the
// silence scan beside it; when ctx ends (after the drain) it ends the
// task's lease, so any session the drain could not release is evictable at
// once rather than one lease later.
func (s *Server) heartbeatLoop(ctx context.Context) {
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		s.silenceLoop(ctx)
	}()
	var retries sync.WaitGroup
	defer func() {
		<-scanDone
		retries.Wait()
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWriteTimeout)
		defer cancel()
		if err := s.leases.ExpireTaskLease(ectx, s.owner); err != nil {
			s.met.inc(evStoreWriteFailed)
			s.cfg.log.Warn("task lease not ended; it lapses on its own", "task", s.owner, "err", err)
		}
	}()
	s.heartbeat(ctx)
	t := time.NewTicker(s.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.heartbeat(ctx)
			s.retryReleases(ctx, &retries)
		}
	}
}

// heartbeat is one round: sessions whose GroupWise connection ended are
// ended (and released); the task's lease is renewed (one write, whatever
// the task holds); then the held sessions are reconciled with the store,
// and those it no longer has are ended and their devices told LOGGED_OUT.
// Gone is all a reconciliation can say: an eviction at the maximum, an
// inactivity logout, the task's own lease lapsing, a revoked device and a
// replacement by a newer login of the same device elsewhere all look alike
// here, so the device hears LOGGED_OUT. (A replacement or eviction decided
// through this edge's own authorize call is told at once; see
// endReported.)
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
				s.background(func() { ss.end(s.life, e) })
				continue
			default:
			}
		}
		refs = append(refs, ss.ref)
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.heartbeat)
	defer cancel()
	if _, err := s.leases.RenewTaskLease(rctx, s.owner, s.cfg.taskAddr); err != nil {
		s.met.inc(evStoreWriteFailed)
		s.cfg.log.Warn("task lease not renewed; retried next heartbeat", "task", s.owner, "sessions", len(refs), "err", err)
	}
	if len(refs) == 0 {
		return
	}
	gone, err := s.leases.Reconcile(rctx, s.owner, refs)
	if err != nil {
		s.met.inc(evStoreWriteFailed)
		s.cfg.log.Warn("reconciliation failed; retried next heartbeat", "sessions", len(refs), "err", err)
		return
	}
	for _, ref := range gone {
		ss := s.lookup(ref.ID)
		if ss == nil {
			continue
		}
		s.met.inc(evGone)
		s.background(func() {
			ss.end(s.life, ending{reason: "gone-on-reconcile", notify: status.LoggedOut})
		})
	}
}

// silenceWriteConcurrency bounds the parallel writes of one silence scan
// (many devices can go quiet at once when a cell drops them).
const silenceWriteConcurrency = 16

// silenceLoop marks held sessions silent once their device sent no STATUS
// for their silence threshold: one write per session, the time idle
// eviction and the inactivity sweep compare.
func (s *Server) silenceLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.silenceScanInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.cfg.now()
		var due []func()
		for _, ss := range s.all() {
			if w := ss.silentWrite(now); w != nil {
				due = append(due, w)
			}
		}
		var wg sync.WaitGroup
		sem := make(chan struct{}, silenceWriteConcurrency)
		for _, w := range due {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				w()
			})
		}
		wg.Wait()
	}
}
