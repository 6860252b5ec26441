package fleet

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/status"
)

// The storm: stormDevices devices log in at once through the balancer to
// a pool of stormMax.
const (
	stormFirst   = 161 // demo user of the first device
	stormDevices = 300
	stormMax     = 50
	// stormWithin bounds the whole storm, retries of unanswered logins
	// included.
	stormWithin = 3 * time.Minute
)

// TestStorm: 300 concurrent logins spread over the three edges against a
// pool of 50 admit exactly 50: the edges share one counter, conditionally
// written, so no edge admits past it whatever the interleaving. Every
// other device is told SERVER_BUSY. A device that got no answer at all
// (its connection shed while the machine was swamped), or a SERVER_BUSY
// with a retry delay (a local failure, counted apart), tries again, as a
// phone does; the maximum's SERVER_BUSY is final. The counter ends at 50, equal to the
// stored sessions, and a sweep finds no drift.
func TestStorm(t *testing.T) {
	const pool = "storm"
	putPool(t, stack, pool, admission.PoolConfig{MaxSessions: stormMax}, stormFirst, stormFirst+stormDevices-1)
	f := startFleet(t, stack, localstack.FleetConfig{Edges: edges})
	ctx, cancel := context.WithTimeout(t.Context(), stormWithin)
	defer cancel()

	// A refused login at the maximum looks for a dead task's sessions to
	// evict, one query per dead task: the earlier tests' stopped edges
	// (dead until the sweep deletes them, 10 minutes on) make it slower.
	dead := deadTasks(t)

	devs := make([]*device, stormDevices)
	for i := range devs {
		devs[i] = newDevice(t, stack, stormFirst+i)
	}
	var (
		mu       sync.Mutex
		answers  = map[status.Code]int{}
		retried  int
		internal int // SERVER_BUSY for a local failure, not the maximum
		errs     []error
		start    = make(chan struct{})
		wg       sync.WaitGroup
		began    = time.Now()
		accepted = map[string]bool{}
	)
	for _, d := range devs {
		wg.Go(func() {
			<-start
			for {
				st, err := d.login(ctx, f.Addr(), "")
				if err != nil {
					if ctx.Err() != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					mu.Lock()
					retried++
					mu.Unlock()
					time.Sleep(retryPause(nil))
					continue
				}
				mu.Lock()
				if st.Code == status.ServerBusy && isInternalRetry(st) {
					internal++
					mu.Unlock()
					time.Sleep(retryPause(st))
					continue
				}
				answers[st.Code]++
				if st.Code == status.Accepted {
					accepted[st.SessionID] = true
				}
				mu.Unlock()
				return
			}
		})
	}
	close(start)
	wg.Wait()
	took := time.Since(began)
	for _, err := range errs {
		t.Error(err)
	}
	perEdge := map[string]int64{}
	for i, st := range stats(t, f) {
		perEdge[f.Edge(i).Name] = st.Logins[status.Accepted.String()]
	}
	t.Logf("storm of %d logins against max %d: %v in %v (%d retried after no answer, %d SERVER_BUSY for a local failure; %d dead tasks); accepted per edge %v",
		stormDevices, stormMax, answers, took.Round(time.Millisecond), retried, internal, dead, perEdge)

	if internal > 0 {
		logFailures(t, f, "authorize failed", 3)
	}
	if answers[status.Accepted] != stormMax || len(accepted) != stormMax {
		t.Errorf("%d ACCEPTED (%d sessions), want exactly %d", answers[status.Accepted], len(accepted), stormMax)
	}
	if n := answers[status.Accepted] + answers[status.ServerBusy]; n != stormDevices {
		t.Errorf("answers %v: want every device ACCEPTED or SERVER_BUSY", answers)
	}
	spread := 0
	for _, n := range perEdge {
		if n > 0 {
			spread++
		}
	}
	if spread < 2 {
		t.Errorf("accepted per edge %v: the storm was not spread over the edges", perEdge)
	}
	if n, ss := counter(t, stack, pool), sessions(t, stack, pool); n != stormMax || len(ss) != stormMax {
		t.Errorf("counter %d, %d sessions stored; want %d", n, len(ss), stormMax)
	}
	if ps := sweep(t, stack, pool); ps.Drift != 0 || ps.Live != stormMax {
		t.Errorf("sweep after the storm: %+v, want %d live and no drift", ps, stormMax)
	}
}

// isInternalRetry tells a SERVER_BUSY the edge gave for its own failure
// (authorize failed or timed out, e.g. the local endpoint shed it with a
// 429 past the edge's retries; the edge draining) from the pool's maximum:
// the former comes with a retry delay, the maximum without one.
func isInternalRetry(st *devproto.ServerStatus) bool {
	return st.RetryAfter > 0
}

// logFailures logs up to n of each edge's log lines that contain what.
func logFailures(t *testing.T, f *localstack.Fleet, what string, n int) {
	t.Helper()
	for _, e := range f.Edges() {
		shown := 0
		for line := range strings.Lines(e.Log()) {
			if strings.Contains(line, what) && shown < n {
				t.Logf("%s: %s", e.Name, strings.TrimSpace(line))
				shown++
			}
		}
	}
}

// deadTasks counts the edge tasks whose lease has lapsed.
func deadTasks(t *testing.T) int {
	t.Helper()
	tasks, err := stack.Store.ListTasks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range tasks {
		if !l.Live(time.Now()) {
			n++
		}
	}
	return n
}
