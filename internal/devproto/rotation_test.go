package devproto_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
	"github.com/collabgw/collabgw/internal/status"
)

// rotation is a responder and two devices: one provisioned with the old
// gateway key, one with the new.
type rotation struct {
	clock    *clocktest.Clock
	verifier *devprototest.Verifier
}

func newRotation() *rotation {
	r := &rotation{clock: clocktest.New(), verifier: devprototest.NewVerifier()}
	r.verifier.Register("old-phone", devprototest.PublicKey("old-phone"))
	r.verifier.Register("new-phone", devprototest.PublicKey("new-phone"))
	r.verifier.Register("other-phone", devprototest.PublicKey("other-phone"))
	return r
}

func (r *rotation) responder(t testing.TB, current string, next ...string) *devproto.Responder {
	t.Helper()
	opts := []devproto.Option{devproto.WithClock(r.clock.Now)}
	if len(next) > 0 {
		opts = append(opts, devproto.WithNextKey(devprototest.Key(next[0])))
	}
	resp, err := devproto.NewResponder(devprototest.Key(current), r.verifier, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// hello is the HELLO of device, provisioned with the public key of
// gateway.
func (r *rotation) hello(t testing.TB, device, gateway string) ([]byte, *devproto.PendingHello) {
	t.Helper()
	init, err := devproto.NewInitiator(devprototest.Key(device), devprototest.PublicKey(gateway))
	if err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(time.Millisecond) // each login a newer timestamp
	frame, p, err := init.Hello(&devproto.Login{DeviceID: device, UserID: "u", Password: "p", Timestamp: r.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return frame, p
}

// login runs a whole login and reports whether the device got a working
// transport, and whether the gateway saw the next key.
func (r *rotation) login(t *testing.T, resp *devproto.Responder, device, gateway string) (next bool, err error) {
	t.Helper()
	frame, p := r.hello(t, device, gateway)
	h, err := resp.ReadHello(frame)
	if err != nil {
		return false, err
	}
	if err := h.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	reply, gw, err := h.Reply(accepted())
	if err != nil {
		t.Fatal(err)
	}
	st, dev, err := p.Finish(reply)
	if err != nil || st.Code != status.Accepted {
		t.Fatalf("finish: %v, %v", st, err)
	}
	// The transport keys agree both ways.
	sealed, err := dev.Seal(nil, &devproto.Status{Presence: devproto.PresenceBusy})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Open(sealed); err != nil {
		t.Fatalf("gateway cannot open the device's frame: %v", err)
	}
	return h.NextKey, nil
}

// TestKeyRotation is the rotation procedure: during the window the edge
// holds the old key and the next one, and devices provisioned with either
// log in; after it (the old key dropped, the next one current) only the
// devices holding the new public key do.
func TestKeyRotation(t *testing.T) {
	r := newRotation()
	window := r.responder(t, "gateway-old", "gateway-new")
	after := r.responder(t, "gateway-new")
	tests := []struct {
		name     string
		resp     *devproto.Responder
		device   string
		gateway  string // the public key the device holds
		wantNext bool
		wantErr  error
	}{
		{"window: device with the old key", window, "old-phone", "gateway-old", false, nil},
		{"window: device with the new key", window, "new-phone", "gateway-new", true, nil},
		{"window: device with an unrelated key", window, "other-phone", "gateway-other", false, devproto.ErrHandshakeAuth},
		{"after: device with the new key", after, "new-phone", "gateway-new", false, nil},
		{"after: device with the old key", after, "old-phone", "gateway-old", false, devproto.ErrHandshakeAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, err := r.login(t, tt.resp, tt.device, tt.gateway)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if next != tt.wantNext {
				t.Fatalf("NextKey = %v, want %v", next, tt.wantNext)
			}
		})
	}
}

func TestNextKeyValidation(t *testing.T) {
	v := devprototest.NewVerifier()
	tests := []struct {
		name string
		next devproto.PrivateKey
	}{
		{"same as the current key", devprototest.Key("gateway")},
		{"zero key", devproto.PrivateKey{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := devproto.NewResponder(devprototest.Key("gateway"), v, devproto.WithNextKey(tt.next))
			if !errors.Is(err, devproto.ErrInvalidKey) {
				t.Fatalf("err = %v, want ErrInvalidKey", err)
			}
		})
	}
}

// TestRotationCostsNothingForCurrentKeyLogins holds the responder to its
// promise: a HELLO for the current key allocates exactly what it did
// without a next key, and a HELLO for no key of the gateway allocates a
// fixed amount, at most two attempts' worth.
func TestRotationCostsNothingForCurrentKeyLogins(t *testing.T) {
	r := newRotation()
	plain := r.responder(t, "gateway-old")
	window := r.responder(t, "gateway-old", "gateway-new")
	current, _ := r.hello(t, "old-phone", "gateway-old")
	stranger, _ := r.hello(t, "other-phone", "gateway-other")
	allocs := func(resp *devproto.Responder, frame []byte) float64 {
		return testing.AllocsPerRun(50, func() { _, _ = resp.ReadHello(frame) })
	}
	if a, b := allocs(plain, current), allocs(window, current); a != b {
		t.Errorf("a current-key HELLO allocates %v times with a next key configured, %v without", b, a)
	}
	one, two := allocs(plain, stranger), allocs(window, stranger)
	if two > 2*one || two <= one {
		t.Errorf("a HELLO for no gateway key allocates %v times with two keys, %v with one; want more, at most twice", two, one)
	}
}

// BenchmarkHandshake is the gateway's side of a login (authenticate the
// HELLO, verify, answer) with one gateway key, and during a rotation for a
// device holding the current key and one holding the next: the first two
// must cost the same; the third pays one failed attempt. cpu-µs/login is
// the CPU time of the gateway's side alone (the benchmark's OS thread),
// which a busy machine does not inflate as it does the wall time.
func BenchmarkHandshake(b *testing.B) {
	for _, c := range []struct {
		name    string
		next    bool
		gateway string
	}{
		{"one_key", false, "gateway-old"},
		{"rotation_current_key", true, "gateway-old"},
		{"rotation_next_key", true, "gateway-new"},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := newRotation()
			resp := r.responder(b, "gateway-old")
			if c.next {
				resp = r.responder(b, "gateway-old", "gateway-new")
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var cpu int64
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				frame, _ := r.hello(b, "old-phone", c.gateway)
				b.StartTimer()
				start := threadCPU()
				h, err := resp.ReadHello(frame)
				if err != nil {
					b.Fatal(err)
				}
				if err := h.Verify(context.Background()); err != nil {
					b.Fatal(err)
				}
				if _, _, err := h.Reply(accepted()); err != nil {
					b.Fatal(err)
				}
				cpu += threadCPU() - start
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/login")
			b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-µs/login")
		})
	}
}
