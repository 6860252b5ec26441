package fleet

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/status"
)

// The rolling restart's devices, and its bounds.
const (
	rollingFirst   = 61 // demo user of the first device
	rollingDevices = 100
	// rollingLogins bounds the initial logins in flight.
	rollingLogins = 20
	// rollingWithin bounds each wait for every device to be back.
	rollingWithin = 2 * time.Minute
	// stopWithin bounds an edge's SIGTERM drain and exit.
	stopWithin = time.Minute
)

// TestRollingRestart: 100 devices hold sessions across the three edges
// (a pool of exactly 100, so a leaked slot would refuse a device); each
// edge in turn is stopped as ECS stops a task (SIGTERM: it tells its
// devices SERVER_BUSY with a retry delay and releases their sessions) and
// started again. Every device whose link ends logs in again through the
// balancer after the delay, as a phone does. After each restart every
// device is logged in again; at the end the counter equals the stored
// sessions equals 100, the sweep finds no drift, and every session belongs
// to one of the new processes. The restart's duration is logged.
func TestRollingRestart(t *testing.T) {
	const pool = "rolling"
	putPool(t, stack, pool, admission.PoolConfig{MaxSessions: rollingDevices}, rollingFirst, rollingFirst+rollingDevices-1)
	f := startFleet(t, stack, localstack.FleetConfig{Edges: edges})

	devs := make([]*device, rollingDevices)
	for i := range devs {
		devs[i] = newDevice(t, stack, rollingFirst+i)
	}
	ctx, cancel := context.WithTimeout(t.Context(), rollingWithin)
	sem := make(chan struct{}, rollingLogins)
	forEach(t, devs, func(d *device) error {
		sem <- struct{}{}
		defer func() { <-sem }()
		_, _, err := d.loginUntilAccepted(ctx, f.Addr(), status.ServerBusy, status.RateLimited)
		return err
	})
	cancel()
	t.Logf("%d devices logged in; sessions per edge %v", rollingDevices, sessionsPerEdge(t, f))

	// Every device keeps itself logged in: when its link ends it logs in
	// again, after the retry delay it was given.
	keep, stopKeeping := context.WithCancel(t.Context())
	var (
		down     atomic.Int64 // devices between a lost link and ACCEPTED
		relogins atomic.Int64
		mu       sync.Mutex
		notices  = map[string]int{} // what the devices were told as their links ended
		keepErrs []error
		keepers  sync.WaitGroup
	)
	for _, d := range devs {
		keepers.Go(func() {
			for {
				st, err := d.waitEnded(keep)
				if keep.Err() != nil {
					return
				}
				down.Add(1)
				mu.Lock()
				if err != nil {
					keepErrs = append(keepErrs, err)
				} else if st == nil {
					notices["none"]++
				} else {
					notices[st.Code.String()]++
				}
				mu.Unlock()
				if _, _, err := d.loginUntilAccepted(keep, f.Addr(), status.ServerBusy, status.RateLimited); err != nil {
					if keep.Err() == nil {
						mu.Lock()
						keepErrs = append(keepErrs, err)
						mu.Unlock()
					}
					return
				}
				relogins.Add(1)
				down.Add(-1)
			}
		})
	}
	defer func() {
		stopKeeping()
		keepers.Wait()
	}()

	began := time.Now()
	for _, e := range f.Edges() {
		before := relogins.Load()
		stopped := time.Now()
		sctx, cancel := context.WithTimeout(t.Context(), stopWithin)
		err := e.Terminate(sctx)
		if err == nil {
			err = f.Restart(sctx, e)
		}
		cancel()
		if err != nil {
			t.Fatalf("restart %s: %v", e.Name, err)
		}
		eventually(t, "every device logged in again after "+e.Name+"'s restart", rollingWithin, func() bool {
			mu.Lock()
			failed := len(keepErrs) > 0
			mu.Unlock()
			if failed {
				return true // reported below
			}
			return down.Load() == 0 && allHeld(f, rollingDevices) && len(sessions(t, stack, pool)) == rollingDevices
		})
		mu.Lock()
		if len(keepErrs) > 0 {
			t.Fatalf("devices could not log in again: %v", keepErrs)
		}
		mu.Unlock()
		t.Logf("%s stopped and started again: %d devices logged in again, all back %v after its SIGTERM; sessions per edge %v",
			e.Name, relogins.Load()-before, time.Since(stopped).Round(time.Millisecond), sessionsPerEdge(t, f))
	}
	t.Logf("rolling restart of %d edges holding %d sessions: %v; the devices were told %v as their links ended",
		edges, rollingDevices, time.Since(began).Round(time.Millisecond), notices)
	stopKeeping()
	keepers.Wait()

	if relogins.Load() < rollingDevices {
		t.Errorf("%d logins again, want at least one per device (%d): every edge was restarted", relogins.Load(), rollingDevices)
	}
	if notices[status.ServerBusy.String()] == 0 {
		t.Errorf("no device was told SERVER_BUSY by a draining edge: %v", notices)
	}
	tasks := map[string]bool{}
	for _, e := range f.Edges() {
		tasks[e.TaskID()] = true
	}
	stored := map[string]bool{}
	for _, s := range sessions(t, stack, pool) {
		stored[s.ID] = true
		if !tasks[s.Owner] {
			t.Errorf("session %s belongs to %s, none of the fleet's current processes", s.ID, s.Owner)
		}
	}
	for _, d := range devs {
		if _, st := d.session(); !stored[st.SessionID] {
			t.Errorf("device %d: its session %s is not stored", d.i, st.SessionID)
		}
	}
	ps := sweep(t, stack, pool)
	if n := counter(t, stack, pool); n != rollingDevices || len(stored) != rollingDevices || ps.Drift != 0 || ps.Live != rollingDevices {
		t.Errorf("after the rolling restart: counter %d, %d sessions stored, sweep %+v; want %d, no drift", n, len(stored), ps, rollingDevices)
	}
}

// allHeld reports whether the fleet's edges hold n sessions between them
// (false while an edge does not answer).
func allHeld(f *localstack.Fleet, n int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var held int64
	for _, e := range f.Edges() {
		st, err := e.Stats(ctx)
		if err != nil {
			return false
		}
		held += st.Sessions
	}
	return held == int64(n)
}

// sessionsPerEdge is each edge's held sessions, for the log.
func sessionsPerEdge(t *testing.T, f *localstack.Fleet) string {
	t.Helper()
	out := ""
	for i, st := range stats(t, f) {
		out += fmt.Sprintf(" %s:%d", f.Edge(i).Name, st.Sessions)
	}
	return out[1:]
}
