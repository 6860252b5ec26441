package gwclient

import (
	"context"
	"testing"
	"time"
)

// timeVariants compare the time cost of the memory savings: "before"
// undoes them (see memoryVariants).
var timeVariants = []struct {
	name string
	opts []Option
}{
	{"before", undoSavings},
	{"now", nil},
}

// BenchmarkLoginRoundTrip measures dial (TCP + TLS 1.3) plus login plus close
// against an in-process simulator.
func BenchmarkLoginRoundTrip(b *testing.B) {
	for _, v := range timeVariants {
		b.Run(v.name, func(b *testing.B) { benchmarkLoginRoundTrip(b, v.opts) })
	}
}

func benchmarkLoginRoundTrip(b *testing.B, opts []Option) {
	srv := startSim(b)
	ctx := context.Background()
	opts = append([]Option{WithRootCAs(srv.CertPool())}, opts...)
	b.ReportAllocs()
	start := processCPU()
	defer func() { reportCPU(b, start) }()
	for b.Loop() {
		c, err := Dial(ctx, srv.Addr(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Login(ctx, "alice", "alice-pw", "bench", ""); err != nil {
			b.Fatal(err)
		}
		c.Close()
		<-c.Done()
	}
}

// BenchmarkPingRoundTrip measures one request and response on a logged-in
// connection (parked between them, now).
func BenchmarkPingRoundTrip(b *testing.B) {
	for _, v := range timeVariants {
		b.Run(v.name, func(b *testing.B) { benchmarkPingRoundTrip(b, v.opts) })
	}
}

func benchmarkPingRoundTrip(b *testing.B, opts []Option) {
	srv := startSim(b)
	ctx := context.Background()
	c, err := Dial(ctx, srv.Addr(), append([]Option{WithRootCAs(srv.CertPool())}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "alice", "alice-pw", "bench", ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := processCPU()
	defer func() { reportCPU(b, start) }()
	for b.Loop() {
		if err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports the process's CPU time per iteration since start,
// client and in-process simulator together.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
