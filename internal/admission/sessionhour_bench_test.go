package admission

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkHeldSessionWrites holds sessions through the real store on
// DynamoDB Local for simulated hours (an accelerated fake clock), doing what
// the edge does with the defaults: a heartbeat every
// DefaultHeartbeatInterval, and every device sending STATUS at the interval
// the edge gives it (80 s for a pool without an idle timeout), which the edge
// writes at most once per minute. It reports write requests and write units
// (index units included, as DynamoDB Local reports them) per held
// session-hour.
func BenchmarkHeldSessionWrites(b *testing.B) {
	for _, n := range []int{100} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) { benchmarkHeldSessionWrites(b, n) })
	}
}

func benchmarkHeldSessionWrites(b *testing.B, n int) {
	const (
		statusInterval = 80 * time.Second // edge.DefaultStatusWriteInterval * 4/3
		statusEvery    = time.Minute      // edge.DefaultStatusWriteInterval
		step           = time.Second
	)
	m := &meter{}
	e := newEnvWithDB(b, func(db DynamoDB) DynamoDB { m.DynamoDB = db; return m })
	e.pool(PoolConfig{})
	refs := make([]SessionRef, 0, n)
	for _, u := range e.users("h", n, "main") {
		refs = append(refs, e.mustAdmit(u).SessionRef)
	}
	start := e.clock.Now()
	// Devices' STATUS phases are spread over one interval.
	nextStatus := make([]time.Time, n)
	lastWrite := make([]time.Time, n)
	for i := range nextStatus {
		nextStatus[i] = start.Add(statusInterval * time.Duration(i) / time.Duration(n))
		lastWrite[i] = start
	}
	nextBeat := start.Add(e.store.HeartbeatInterval())
	m.reset()
	b.ResetTimer()
	hours := 0
	for range b.N {
		end := e.clock.Now().Add(time.Hour)
		for now := e.clock.Now(); now.Before(end); now = e.clock.Now() {
			if !now.Before(nextBeat) {
				if _, err := e.store.RenewLeases(e.ctx, "edge-1", refs); err != nil {
					b.Fatal(err)
				}
				nextBeat = nextBeat.Add(e.store.HeartbeatInterval())
			}
			for i := range refs {
				if now.Before(nextStatus[i]) {
					continue
				}
				nextStatus[i] = nextStatus[i].Add(statusInterval)
				if now.Sub(lastWrite[i]) >= statusEvery {
					lastWrite[i] = now
					if err := e.store.RecordStatus(e.ctx, "edge-1", refs[i], now); err != nil {
						b.Fatal(err)
					}
				}
			}
			e.clock.Advance(step)
		}
		hours++
	}
	b.StopTimer()
	u := m.snapshot()
	sh := float64(n * hours)
	b.ReportMetric(u.WriteRequests/sh, "writes/session-hour")
	b.ReportMetric(u.WriteUnits/sh, "WCU/session-hour")
	b.ReportMetric(u.IndexUnits/sh, "indexWCU/session-hour")
	b.ReportMetric(u.ReadRequests/sh, "reads/session-hour")
	b.ReportMetric(u.ReadUnits/sh, "RCU/session-hour")
}
