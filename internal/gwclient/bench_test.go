package gwclient

import (
	"context"
	"testing"
)

// BenchmarkLoginRoundTrip measures dial (TCP + TLS 1.3) plus login plus close
// against an in-process simulator.
func BenchmarkLoginRoundTrip(b *testing.B) {
	srv := startSim(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := Dial(ctx, srv.Addr(), WithRootCAs(srv.CertPool()))
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
// connection.
func BenchmarkPingRoundTrip(b *testing.B) {
	srv := startSim(b)
	ctx := context.Background()
	c, err := Dial(ctx, srv.Addr(), WithRootCAs(srv.CertPool()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "alice", "alice-pw", "bench", ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
