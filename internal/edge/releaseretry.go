package edge

import (
	"context"
	"sync"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/lambdaapi"
)

// Releases that failed are retried here. A session's slot is held in the
// store for as long as its task's lease is renewed (one lease per task:
// the sweep ends a live task's sessions only for inactivity), so a
// release the function did not confirm — throttled (429), timed out, the
// store unavailable — would leak its slot for the task's whole life. The
// edge keeps such releases and retries them after every heartbeat until
// the function confirms them; a release is idempotent and guarded by the
// session's id, so a retry of one that did happen, or of a session
// already replaced or evicted, changes nothing. When the task stops, its
// lease ends and its sessions become evictable and swept, so nothing is
// kept past Run.

// maxPendingReleases bounds the releases kept for a retry. It is far above
// the sessions a task holds (about 50,000 per GiB); past it a failed
// release is counted (ReleaseDropped) and its slot waits for the task's
// end.
const maxPendingReleases = 1 << 17

// releaseRetryConcurrency bounds the releases one retry round runs at
// once: a retry round follows an outage, when the function is least able
// to take a burst.
const releaseRetryConcurrency = 4

// pendingRelease is a release to retry.
type pendingRelease struct {
	ref           admission.SessionRef
	reqID, reason string
}

// pendingReleases is the set of releases to retry, by session id.
type pendingReleases struct {
	mu       sync.Mutex
	m        map[string]pendingRelease
	retrying bool // a retry round is running
}

// add keeps r for a retry; false when the set is full.
func (p *pendingReleases) add(r pendingRelease) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]pendingRelease{}
	}
	if _, ok := p.m[r.ref.ID]; !ok && len(p.m) >= maxPendingReleases {
		return false
	}
	p.m[r.ref.ID] = r
	return true
}

// begin starts a retry round: the releases to retry, or nil when there
// are none or a round is running.
func (p *pendingReleases) begin() []pendingRelease {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.retrying || len(p.m) == 0 {
		return nil
	}
	p.retrying = true
	out := make([]pendingRelease, 0, len(p.m))
	for _, r := range p.m {
		out = append(out, r)
	}
	return out
}

func (p *pendingReleases) done(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, id)
}

func (p *pendingReleases) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retrying = false
}

func (p *pendingReleases) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// release ends a session's slot in the store. One the function does not
// confirm is kept and retried after the next heartbeats, unless the
// server's life has ended (the task's lease, ended next, makes the slot
// evictable at once).
func (s *Server) release(ctx context.Context, ref admission.SessionRef, reqID, reason string) {
	ctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	err := s.rel.Release(ctx, lambdaapi.ReleaseRequest{Session: ref, Reason: reason})
	if err == nil {
		return
	}
	s.met.inc(evReleaseFailed)
	if s.life.Err() != nil {
		s.cfg.log.Warn("release failed at shutdown; the task's lease ends next and the sweep frees the slot",
			"request", reqID, "session", ref.ID, "pool", ref.Pool, "reason", reason, "err", err)
		return
	}
	if !s.pending.add(pendingRelease{ref: ref, reqID: reqID, reason: reason}) {
		s.met.inc(evReleaseDropped)
		s.cfg.log.Error("release failed and too many are waiting for a retry; the slot stays taken until this task stops",
			"request", reqID, "session", ref.ID, "pool", ref.Pool, "reason", reason, "err", err)
		return
	}
	s.cfg.log.Warn("release failed; retried after the next heartbeat",
		"request", reqID, "session", ref.ID, "pool", ref.Pool, "reason", reason, "err", err)
}

// retryReleases starts a round of the kept releases in the background
// (one round at a time; wg is the heartbeat loop's, which waits for it).
// ctx is the heartbeat's: a round still running when the heartbeat stops
// is cancelled, and what it did not release stays for the task's end.
func (s *Server) retryReleases(ctx context.Context, wg *sync.WaitGroup) {
	todo := s.pending.begin()
	if todo == nil {
		return
	}
	wg.Go(func() {
		defer s.pending.end()
		sem := make(chan struct{}, releaseRetryConcurrency)
		var round sync.WaitGroup
		for _, r := range todo {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			round.Go(func() {
				defer func() { <-sem }()
				rctx, cancel := context.WithTimeout(ctx, releaseTimeout)
				defer cancel()
				if err := s.rel.Release(rctx, lambdaapi.ReleaseRequest{Session: r.ref, Reason: r.reason}); err != nil {
					s.cfg.log.Debug("release retry failed; kept", "request", r.reqID, "session", r.ref.ID, "err", err)
					return
				}
				s.pending.done(r.ref.ID)
				s.met.inc(evReleaseRetried)
				s.cfg.log.Info("release retried: done", "request", r.reqID, "session", r.ref.ID, "pool", r.ref.Pool, "reason", r.reason)
			})
		}
		round.Wait()
	})
}
