package fleet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/status"
)

// recoveryWithin bounds every wait for a killed edge's devices: many
// leases, so a loaded machine never fails the test; the time it took is
// logged, not asserted.
const recoveryWithin = 90 * time.Second

// newcomerPause is how often a device waiting for room at the maximum
// tries again: the resolution of the recovery time measured there. The
// edge's per-device rate (burst 5, then one login in 2 s, per edge) lets
// it try this often for about a 5 s lease; past it, RATE_LIMITED paces it.
const newcomerPause = 400 * time.Millisecond

// TestKillRecovery: devices logged in across the three edges; one edge is
// killed with SIGKILL (no drain, no release: its sessions stay counted).
// The killed edge's devices see their links end; their RESUME through the
// balancer is LOGGED_OUT (the owner's peer port refuses, or its lease
// lapsed). Below the pool's maximum they log in again through the other
// edges at once, each login replacing the device's own dead session. At
// the maximum, other devices wait for room: a login evicts the dead
// task's sessions only once its lease has lapsed. Either way, a sweep then
// finds the counter equal to the live sessions. The recovery times are
// logged (and recorded in docs/benchmarks.md).
func TestKillRecovery(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pool      string
		first     int // demo user of the first device
		max       int // the pool's maximum
		devices   int // logged in before the kill
		newcomers int // other devices that log in after it
	}{
		{name: "below the maximum", pool: "kill-below", first: 21, max: 12, devices: 9},
		{name: "at the maximum", pool: "kill-at", first: 41, max: 9, devices: 9, newcomers: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			putPool(t, stack, tc.pool, admission.PoolConfig{MaxSessions: tc.max}, tc.first, tc.first+tc.devices+tc.newcomers-1)
			f := startFleet(t, stack, localstack.FleetConfig{Edges: edges})
			ctx := t.Context()

			devs := make([]*device, tc.devices)
			for i := range devs {
				devs[i] = newDevice(t, stack, tc.first+i)
				devs[i].mustLogin(t, f.Addr(), "")
			}
			// The victim is edge2, provided round-robin gave it sessions
			// and left some to the others.
			victim := f.Edge(1)
			var killed, survivors []*device
			owners := ownersBySession(t, tc.pool)
			for _, d := range devs {
				_, st := d.session()
				switch owners[st.SessionID] {
				case "":
					t.Fatalf("device %d: session %s is not stored", d.i, st.SessionID)
				case victim.TaskID():
					killed = append(killed, d)
				default:
					survivors = append(survivors, d)
				}
			}
			if len(killed) == 0 || len(survivors) == 0 {
				t.Fatalf("%d sessions on %s and %d elsewhere: want some of each", len(killed), victim.Name, len(survivors))
			}
			t.Logf("%d sessions on %s (killed), %d on the other edges; lease %v, heartbeat %v", len(killed), victim.Name, len(survivors), lease, heartbeat)

			ctx, cancel := context.WithTimeout(ctx, recoveryWithin)
			defer cancel()
			killedAt := time.Now()
			if err := victim.Kill(ctx); err != nil {
				t.Fatal(err)
			}
			for _, d := range killed {
				wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				_, err := d.waitEnded(wctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}

			if tc.newcomers == 0 {
				// Below the maximum: RESUME, LOGGED_OUT, LOGIN again.
				forEach(t, killed, func(d *device) error {
					return resumeThenLogin(ctx, d, f.Addr())
				})
				t.Logf("below the maximum: %d devices of the killed edge logged in again %v after the kill",
					len(killed), time.Since(killedAt).Round(time.Millisecond))
			} else {
				// At the maximum: other devices keep trying until the dead
				// task's sessions are evictable.
				comers := make([]*device, tc.newcomers)
				for i := range comers {
					comers[i] = newDevice(t, stack, tc.first+tc.devices+i)
				}
				var mu sync.Mutex
				busy := 0
				forEach(t, comers, func(d *device) error {
					_, seen, err := d.loginUntilAcceptedEvery(ctx, f.Addr(), newcomerPause, status.ServerBusy, status.RateLimited)
					mu.Lock()
					busy += seen[status.ServerBusy.String()]
					mu.Unlock()
					return err
				})
				t.Logf("at the maximum: %d other devices logged in %v after the kill (%d SERVER_BUSY before; lease %v)",
					len(comers), time.Since(killedAt).Round(time.Millisecond), busy, lease)
				if busy == 0 {
					t.Error("no newcomer was refused before the lease lapsed: the pool was not full")
				}
				// The killed edge's devices were evicted: their RESUME is
				// LOGGED_OUT, and the pool is full again.
				forEach(t, killed, func(d *device) error {
					st, err := d.resume(ctx, f.Addr(), "")
					if err != nil {
						return err
					}
					if st.Code != status.LoggedOut {
						return fmt.Errorf("device %d: resume %v, want LOGGED_OUT", d.i, st.Code)
					}
					return nil
				})
				if st, err := killed[0].login(ctx, f.Addr(), ""); err != nil || st.Code != status.ServerBusy {
					t.Fatalf("a killed edge's device logging in to the full pool: %v %v, want SERVER_BUSY", st, err)
				}
			}

			want := tc.devices + tc.newcomers - len(killed)*min(tc.newcomers, 1)
			ps := sweep(t, stack, tc.pool)
			if ps.Drift != 0 || ps.Live != want || len(ps.Ended) != 0 {
				t.Errorf("sweep after the recovery: %+v, want %d live, no drift, nothing left to end", ps, want)
			}
			if n, live := counter(t, stack, tc.pool), len(sessions(t, stack, tc.pool)); n != want || live != want {
				t.Errorf("counter %d, %d sessions stored; want %d", n, live, want)
			}
			for _, s := range sessions(t, stack, tc.pool) {
				if s.Owner == victim.TaskID() {
					t.Errorf("session %s still belongs to the killed %s", s.ID, victim.Name)
				}
			}
		})
	}
}

// resumeThenLogin is a killed edge's device coming back: its RESUME must
// be LOGGED_OUT, and its LOGIN then ACCEPTED, with a new session.
func resumeThenLogin(ctx context.Context, d *device, addr string) error {
	_, old := d.session()
	st, err := d.resume(ctx, addr, "")
	if err != nil {
		return err
	}
	if st.Code != status.LoggedOut {
		return fmt.Errorf("device %d: resume %v, want LOGGED_OUT", d.i, st.Code)
	}
	st, err = d.login(ctx, addr, "")
	if err != nil {
		return err
	}
	if st.Code != status.Accepted {
		return fmt.Errorf("device %d: login %v, want ACCEPTED", d.i, st.Code)
	}
	if st.SessionID == old.SessionID {
		return fmt.Errorf("device %d: the login kept the dead session %s", d.i, old.SessionID)
	}
	return nil
}

// ownersBySession maps the pool's stored sessions to their owner tasks.
func ownersBySession(t *testing.T, pool string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, s := range sessions(t, stack, pool) {
		m[s.ID] = s.Owner
	}
	return m
}

// forEach runs fn for every device at once and fails the test with every
// error.
func forEach(t *testing.T, devs []*device, fn func(*device) error) {
	t.Helper()
	errs := make([]error, len(devs))
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Go(func() { errs[i] = fn(d) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
