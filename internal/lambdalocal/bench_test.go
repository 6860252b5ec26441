package lambdalocal

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkInvoke measures the local endpoint's own invoke rate: each
// invoke of the test function waits 10 ms (as authorize mostly waits on
// DynamoDB) and costs almost no CPU, so the rate shows the emulator pool
// and its queue, not the machine's CPU. The callers go through the Invoke
// API over HTTP with the AWS SDK (which retries a 429). instances=0 is the
// default (2 × GOMAXPROCS).
//
//	go test -run '^$' -bench Invoke -benchtime 2000x ./internal/lambdalocal/
func BenchmarkInvoke(b *testing.B) {
	for _, instances := range []int{2, 0} {
		b.Run(fmt.Sprintf("instances=%d", instances), func(b *testing.B) {
			opts := []Option{}
			if instances > 0 {
				opts = append(opts, WithInstances(instances))
			}
			for _, inFlight := range []int{1, 4, 16, 64} {
				b.Run(fmt.Sprintf("inflight=%d", inFlight), func(b *testing.B) {
					_, endpoint, _ := start(b, opts...)
					benchInvokes(b, endpoint, inFlight)
				})
			}
		})
	}
}

func benchInvokes(b *testing.B, endpoint string, inFlight int) {
	c := sdkClient(endpoint, 10)
	// Warm the pool up to what this concurrency uses.
	var warm sync.WaitGroup
	for range inFlight {
		warm.Go(func() { _, _ = invokeOK(context.Background(), c, `{"sleepMs":10}`) })
	}
	warm.Wait()
	var (
		next, failed atomic.Int64
		mu           sync.Mutex
		latencies    []time.Duration
	)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			var own []time.Duration
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				t0 := time.Now()
				if _, err := invokeOK(context.Background(), c, `{"sleepMs":10}`); err != nil {
					failed.Add(1)
				}
				own = append(own, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "invokes/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(failed.Load()), "failed")
}
