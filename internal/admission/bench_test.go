package admission

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/status"
)

// BenchmarkAdmit measures admissions against DynamoDB Local with 1 and 32
// concurrent callers: each admits a session for its own device and releases
// it, so every admission takes a new slot of a pool with a maximum.
func BenchmarkAdmit(b *testing.B) {
	for _, callers := range []int{1, 32} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) { benchmarkAdmit(b, callers) })
	}
}

func benchmarkAdmit(b *testing.B, callers int) {
	e := newEnv(b)
	e.pool(PoolConfig{MaxSessions: 1000, IdleTimeout: time.Minute})
	users := e.users("b", callers, "main")
	var (
		next      atomic.Int64
		mu        sync.Mutex // guards latencies
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, u := range users {
		wg.Go(func() {
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				l := e.login(u)
				t0 := time.Now()
				d, err := e.store.Admit(e.ctx, l)
				mine = append(mine, time.Since(t0))
				if err != nil || d.Status != status.Accepted {
					b.Errorf("Admit = %v, %v", d.Status, err)
					return
				}
				if err := e.store.Release(e.ctx, d.Session.SessionRef); err != nil {
					b.Error(err)
					return
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "admissions/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
