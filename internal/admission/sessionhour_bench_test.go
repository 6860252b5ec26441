package admission

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkHeldSessionWrites holds sessions through the real store on
// DynamoDB Local for a simulated hour per iteration (an accelerated fake
// clock) and does what edge tasks do with the defaults (heldSim). It
// reports write requests and write units per held session-hour, index
// units included as DynamoDB Local reports them (it reports them per
// index), and the reads the reconciliation costs.
//
// The heartbeats are per task, so their share per session-hour is
// (3600 s / heartbeat) x tasks / sessions: the variants show a pool at the
// protocol limit on two tasks, the same with a coverage loss per device and
// hour, and one small task.
func BenchmarkHeldSessionWrites(b *testing.B) {
	for _, c := range []heldSim{{sessions: 5120, tasks: 2}, {sessions: 5120, tasks: 2, dropsPerHour: 1}, {sessions: 100, tasks: 1}} {
		b.Run(fmt.Sprintf("sessions=%d/tasks=%d/drops=%d", c.sessions, c.tasks, c.dropsPerHour), func(b *testing.B) {
			m := &meter{}
			e := newEnvWithDB(b, func(db DynamoDB) DynamoDB { m.DynamoDB = db; return m })
			e.pool(PoolConfig{})
			sim := c
			sim.start(e)
			m.reset()
			b.ResetTimer()
			for range b.N {
				sim.run(time.Hour)
			}
			b.StopTimer()
			u := m.snapshot()
			sh := float64(c.sessions * b.N)
			b.ReportMetric(u.WriteRequests/sh, "writes/session-hour")
			b.ReportMetric(u.WriteUnits/sh, "WCU/session-hour")
			b.ReportMetric(u.IndexUnits/sh, "indexWCU/session-hour")
			b.ReportMetric(u.ReadRequests/sh, "reads/session-hour")
			b.ReportMetric(u.ReadUnits/sh, "RCU/session-hour")
		})
	}
}

// heldSim simulates edge tasks holding sessions of the main pool against
// the real store, as the edge does it: each task renews its lease and
// reconciles its sessions every heartbeat; each device sends STATUS at the
// interval StatusTiming gives its pool, which costs no write; a device that
// stops (silentFrom) is marked silent once, after silentAfter; with
// dropsPerHour, each device loses coverage that often for dropFor and
// resumes (two activity writes).
type heldSim struct {
	sessions, tasks, dropsPerHour int
	idle, inactivity              time.Duration
	// silentFrom, when set, is when every device stops sending STATUS.
	silentFrom time.Time

	e           *env
	owners      []string
	devs        []*heldDevice
	refs        [][]SessionRef // by task
	interval    time.Duration
	silentAfter time.Duration
	nextBeat    time.Time
	seq         uint64
}

// heldDevice is the simulated edge's view of one held session.
type heldDevice struct {
	s          Session
	nextStatus time.Time
	lastStatus time.Time
	silent     bool
	dropAt     time.Time // next coverage loss (zero: never)
	backAt     time.Time // end of the current coverage loss (zero: in coverage)
}

const (
	simStep    = time.Second
	simDropFor = 30 * time.Second
)

// start registers the tasks and admits the sessions.
func (h *heldSim) start(e *env) {
	e.t.Helper()
	h.e = e
	h.interval, h.silentAfter = StatusTiming(h.idle, h.inactivity)
	h.owners = make([]string, h.tasks)
	for i := range h.owners {
		h.owners[i] = fmt.Sprintf("edge-%d", i+1)
		e.heartbeat(h.owners[i])
	}
	h.refs = make([][]SessionRef, h.tasks)
	for i, u := range e.users("h", h.sessions, "main") {
		l := e.login(u)
		l.Owner = h.owners[i%h.tasks]
		d := e.admit(l)
		if d.Session == nil {
			e.t.Fatalf("admit %s: %v (%s)", u, d.Status, d.Reason)
		}
		h.devs = append(h.devs, &heldDevice{s: *d.Session, lastStatus: e.clock.Now()})
		h.refs[i%h.tasks] = append(h.refs[i%h.tasks], d.Session.SessionRef)
	}
	// Devices' STATUS phases, and their coverage losses, are spread out.
	start := e.clock.Now()
	for i, d := range h.devs {
		d.nextStatus = start.Add(h.interval * time.Duration(i) / time.Duration(h.sessions))
		if h.dropsPerHour > 0 {
			d.dropAt = start.Add(time.Hour / time.Duration(h.dropsPerHour) * time.Duration(i) / time.Duration(h.sessions))
		}
	}
	h.nextBeat = start
}

func (h *heldSim) write(d *heldDevice, a Activity) {
	h.e.t.Helper()
	h.seq++
	a.Seq = h.seq
	if err := h.e.store.SetActivity(h.e.ctx, d.s.Owner, d.s.SessionRef, a); err != nil {
		h.e.t.Fatal(err)
	}
}

// run simulates d of holding.
func (h *heldSim) run(d time.Duration) {
	e := h.e
	e.t.Helper()
	end := e.clock.Now().Add(d)
	for now := e.clock.Now(); now.Before(end); now = e.clock.Now() {
		if !now.Before(h.nextBeat) {
			for i, task := range h.owners {
				if _, err := e.store.RenewTaskLease(e.ctx, task, task+".internal:3102"); err != nil {
					e.t.Fatal(err)
				}
				if gone, _, err := e.store.Reconcile(e.ctx, task, h.refs[i]); err != nil || len(gone) != 0 {
					e.t.Fatalf("reconcile: gone %v, %v", gone, err)
				}
			}
			h.nextBeat = h.nextBeat.Add(e.store.HeartbeatInterval())
		}
		for _, d := range h.devs {
			h.device(d, now)
		}
		e.clock.Advance(simStep)
	}
}

func (h *heldSim) device(d *heldDevice, now time.Time) {
	stopped := !h.silentFrom.IsZero() && !now.Before(h.silentFrom)
	switch {
	case !d.dropAt.IsZero() && !now.Before(d.dropAt):
		d.dropAt, d.backAt = d.dropAt.Add(time.Hour/time.Duration(h.dropsPerHour)), now.Add(simDropFor)
		h.write(d, Activity{Coverage: CoverageOut, CoverageSince: now, LastStatus: d.lastStatus})
	case !d.backAt.IsZero():
		if !now.Before(d.backAt) { // RESUME
			d.backAt, d.lastStatus, d.silent, d.nextStatus = time.Time{}, now, false, now.Add(h.interval)
			h.write(d, Activity{Coverage: CoverageIn, CoverageSince: now, LastStatus: now})
		}
	case !stopped && !now.Before(d.nextStatus): // STATUS: no write unless it ends a silence
		d.nextStatus = d.nextStatus.Add(h.interval)
		d.lastStatus = now
		if d.silent {
			d.silent = false
			h.write(d, Activity{Coverage: CoverageIn, LastStatus: now})
		}
	case !d.silent && now.Sub(d.lastStatus) >= h.silentAfter:
		d.silent = true
		h.write(d, Activity{Coverage: CoverageIn, LastStatus: d.lastStatus, Silent: true})
	}
}
