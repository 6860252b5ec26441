package devproto_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
)

// benchLogin runs one complete login (both sides) at clock tick i.
func benchLogin(b *testing.B, f *fixture, i int) (hello []byte, p *devproto.PendingHello) {
	l := f.login()
	l.Timestamp = l.Timestamp.Add(time.Duration(i))
	hello, p, err := f.dev.Hello(l)
	if err != nil {
		b.Fatal(err)
	}
	return hello, p
}

func gatewaySide(b *testing.B, f *fixture, hello []byte) []byte {
	h, err := f.resp.ReadHello(hello)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Verify(context.Background()); err != nil {
		b.Fatal(err)
	}
	reply, _, err := h.Reply(accepted())
	if err != nil {
		b.Fatal(err)
	}
	return reply
}

// BenchmarkLoginDevice is the device's cost of a login: build and encrypt
// the HELLO, then authenticate the WELCOME and derive the transport keys.
func BenchmarkLoginDevice(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	runtime.LockOSThread() // threadCPU times this goroutine's thread
	defer runtime.UnlockOSThread()
	var cpu int64 // the device side's only: the gateway side runs with the timer stopped
	for i := 0; i < b.N; i++ {
		start := threadCPU()
		hello, p := benchLogin(b, f, i+1)
		cpu += threadCPU() - start
		b.StopTimer()
		reply := gatewaySide(b, f, hello)
		b.StartTimer()
		start = threadCPU()
		if _, _, err := p.Finish(reply); err != nil {
			b.Fatal(err)
		}
		cpu += threadCPU() - start
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/login")
	b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-µs/login")
}

// BenchmarkLoginGateway is the gateway's cost of a login: authenticate the
// HELLO, decode it, check skew and the (in-memory) verifier, then build the
// WELCOME and the transport keys. Admission is not included.
func BenchmarkLoginGateway(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		hello, _ := benchLogin(b, f, i+1)
		b.StartTimer()
		start := threadCPU()
		gatewaySide(b, f, hello)
		cpu += threadCPU() - start
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/login")
	b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-µs/login")
}

var benchIM = &devproto.SendIM{To: "jdoe", Text: "Can you send me the report before the meeting tomorrow?", ClientMsgID: 17}

func BenchmarkSealIM(b *testing.B) {
	dev, _ := pair(b)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dev.Seal(buf[:0], benchIM); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenIM(b *testing.B) {
	dev, gw := pair(b)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		frame, err := dev.Seal(buf[:0], benchIM)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := gw.Open(frame); err != nil {
			b.Fatal(err)
		}
	}
}
