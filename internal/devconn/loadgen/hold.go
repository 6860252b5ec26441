package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// hold keeps the sessions for the hold time, each sending STATUS on its
// interval and reading what the edge sends, then logs them all out. It
// returns how many the edge ended meanwhile.
func (r *run) hold(ctx context.Context) int {
	// A cancel, not a deadline: devconn keeps a session open when its
	// context is cancelled between frames, but a socket deadline that
	// fires first closes it, and the LOGOUT below needs it open.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := time.AfterFunc(r.cfg.Hold, cancel)
	defer stop.Stop()
	var dropped atomic.Int64
	var wg sync.WaitGroup
	for _, s := range r.held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !holdOne(hctx, s, r.cfg.StatusEvery) {
				dropped.Add(1)
			}
			lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultLogoutTimeout) // the hold ended hctx
			_ = s.Send(lctx, &devproto.Logout{})
			lcancel()
			s.Close()
		}()
	}
	wg.Wait()
	return int(dropped.Load())
}

// holdOne reads s until ctx ends, sending STATUS every interval; false if
// the session ended first.
func holdOne(ctx context.Context, s *devconn.Session, every time.Duration) bool {
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.Done():
				return
			case <-t.C:
				// Not ctx: a write cut short by the end of the hold
				// would close the session before its LOGOUT.
				_ = s.Send(context.WithoutCancel(ctx), &devproto.Status{Presence: devproto.PresenceOnline})
			}
		}
	}()
	for {
		m, err := s.Receive(ctx)
		if err != nil {
			return ctx.Err() != nil
		}
		if st, ok := m.(*devproto.ServerStatus); ok && st.Code != status.Accepted {
			return false
		}
	}
}
