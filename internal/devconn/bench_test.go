package devconn_test

import (
	"context"
	"math"
	"net"
	"testing"

	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
)

// BenchmarkReceive measures the gateway's read path for one PING over
// loopback TCP, with the per-link message bucket off and on (at a rate too
// high to trip), side by side: the ratio is the bucket's cost.
func BenchmarkReceive(b *testing.B) {
	for _, bc := range []struct {
		name string
		opt  devconn.Option
	}{
		{"bucket off", devconn.WithMessageRate(0, 0)},
		{"bucket on", devconn.WithMessageRate(math.MaxFloat64/4, math.MaxInt32)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			gw, dev := benchLink(b, bc.opt)
			ctx := context.Background()
			go func() {
				for i := uint64(0); dev.Send(ctx, &devproto.Ping{ID: i}) == nil; i++ {
				}
			}()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := gw.Receive(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			dev.Close()
			gw.Close()
		})
	}
}

// benchLink logs a device in over loopback and returns both sessions.
func benchLink(b *testing.B, opts ...devconn.Option) (gw, dev *devconn.Session) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	v := devprototest.NewVerifier()
	v.Register(testDevice, devprototest.PublicKey("device"))
	resp, err := devproto.NewResponder(devprototest.Key("gateway"), v)
	if err != nil {
		b.Fatal(err)
	}
	acc, err := devconn.NewAcceptor(resp, opts...)
	if err != nil {
		b.Fatal(err)
	}
	c, err := devconn.NewClient(devprototest.Key("device"), devprototest.PublicKey("gateway"))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			gw, err = acc.Accept(context.Background(), conn, admitAll)
		}
		done <- err
	}()
	conn, err := c.Dial(context.Background(), ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	if dev, err = c.Login(context.Background(), conn, devproto.Login{DeviceID: testDevice, UserID: "jsmith", Password: "pw"}); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return gw, dev
}
