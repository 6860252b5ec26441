package devconn_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/devconn"
	"github.com/collabgw/collabgw/internal/devconn/devconntest"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
	"github.com/collabgw/collabgw/internal/status"
)

// rawLogin logs a hostile device in to g and returns both ends.
func rawLogin(t *testing.T, g *gateway) (*devconntest.RawDevice, *devconn.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dev, err := devconntest.Login(ctx, g.ln.Addr().String(), devprototest.Key("device"), devprototest.PublicKey("gateway"), testDevice, "jsmith", "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	if dev.Status != status.Accepted {
		t.Fatalf("raw device told %v", dev.Status)
	}
	r := g.next(t)
	if r.err != nil {
		t.Fatal(r.err)
	}
	return dev, r.s
}

// zstdBomb is a compressed body that inflates far past the payload cap.
func zstdBomb(t *testing.T) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	z := enc.EncodeAll(make([]byte, 1<<20), nil)
	return append([]byte{1}, z[4:]...) // flags: compressed; magic stripped
}

// TestProtocolErrorsAfterHandshake sends, after a good PING, what a broken
// or hostile device might: each must end the link with a *ProtocolError of
// the right reason, answered PROTOCOL_ERROR unless the tag failed.
func TestProtocolErrorsAfterHandshake(t *testing.T) {
	tests := []struct {
		name     string
		send     func(t *testing.T, d *devconntest.RawDevice) error
		reason   devconn.Reason
		answered bool
		is       error
	}{
		{"unknown message type", func(_ *testing.T, d *devconntest.RawDevice) error {
			return d.SendPayload(devconntest.Payload(42, devconntest.Uvarint(1)))
		}, devconn.ReasonUnknownMessage, true, devproto.ErrUnknownMessageType},
		{"RECEIVE_IM from a device", func(_ *testing.T, d *devconntest.RawDevice) error {
			return d.SendPayload(devconntest.Payload(devconntest.TypeReceiveIM, devconntest.Str("jdoe"), devconntest.Str("hi"), []byte{0x10, 0, 0, 0, 0, 0, 0, 1}))
		}, devconn.ReasonUnexpectedMessage, true, devproto.ErrUnexpectedMessage},
		{"LOGIN after the handshake", func(_ *testing.T, d *devconntest.RawDevice) error {
			return d.SendPayload(devconntest.LoginPayload(testDevice, "jsmith", "pw", time.Now()))
		}, devconn.ReasonUnexpectedMessage, true, devproto.ErrUnexpectedMessage},
		{"malformed PING", func(_ *testing.T, d *devconntest.RawDevice) error {
			return d.SendPayload(devconntest.Payload(devconntest.TypePing, []byte{0x80, 0x00}))
		}, devconn.ReasonMalformedMessage, true, devproto.ErrMalformed},
		{"zstd bomb", func(t *testing.T, d *devconntest.RawDevice) error {
			return d.SendPayload(zstdBomb(t))
		}, devconn.ReasonMalformedMessage, true, devproto.ErrMalformed},
		{"oversized frame", func(_ *testing.T, d *devconntest.RawDevice) error {
			return d.Write([]byte{0xff, 0xff, devproto.KindDeviceData})
		}, devconn.ReasonFrameTooLarge, true, devproto.ErrFrameTooLarge},
		{"empty frame", func(_ *testing.T, d *devconntest.RawDevice) error {
			return d.Write([]byte{0, 0})
		}, devconn.ReasonBadFrame, true, devproto.ErrMalformed},
		{"HELLO after the handshake", func(_ *testing.T, d *devconntest.RawDevice) error {
			return d.Write(append([]byte{0, 40, devproto.KindHello}, make([]byte, 39)...))
		}, devconn.ReasonBadFrame, true, devproto.ErrUnexpectedFrame},
		{"ciphertext shorter than a tag", func(_ *testing.T, d *devconntest.RawDevice) error {
			return d.Write([]byte{0, 5, devproto.KindDeviceData, 1, 2, 3, 4})
		}, devconn.ReasonBadFrame, true, devproto.ErrTruncated},
		{"bad tag", func(_ *testing.T, d *devconntest.RawDevice) error {
			frame, err := d.Seal(devconntest.Payload(devconntest.TypePing, devconntest.Uvarint(2)))
			if err != nil {
				return err
			}
			frame[len(frame)-1] ^= 1
			return d.Write(frame)
		}, devconn.ReasonFrameAuth, false, devproto.ErrFrameAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, admitAll)
			dev, gw := rawLogin(t, g)
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			// The hostile device speaks the protocol until it does not.
			if err := dev.SendPayload(devconntest.Payload(devconntest.TypePing, devconntest.Uvarint(7))); err != nil {
				t.Fatal(err)
			}
			if m, err := gw.Receive(ctx); err != nil || m.(*devproto.Ping).ID != 7 {
				t.Fatalf("good PING: %#v, %v", m, err)
			}
			if err := tt.send(t, dev); err != nil {
				t.Fatal(err)
			}
			_, err := gw.Receive(ctx)
			var pe *devconn.ProtocolError
			if !errors.As(err, &pe) || !errors.Is(err, devconn.ErrProtocol) || !errors.Is(err, tt.is) {
				t.Fatalf("Receive error = %v, want a ProtocolError matching %v", err, tt.is)
			}
			if pe.Reason != tt.reason || pe.Answered != tt.answered {
				t.Fatalf("reason %v answered %v, want %v %v", pe.Reason, pe.Answered, tt.reason, tt.answered)
			}
			select {
			case <-gw.Done():
			default:
				t.Fatal("the session survived a protocol error")
			}
			code, err := dev.ReceiveStatus(ctx)
			switch {
			case tt.answered && (err != nil || code != status.ProtocolError):
				t.Fatalf("device heard %v, %v; want PROTOCOL_ERROR", code, err)
			case !tt.answered && !errors.Is(err, devconntest.ErrNoStatus):
				t.Fatalf("device heard %v, %v after a bad tag; want the link closed unanswered", code, err)
			}
		})
	}
}

// TestStalledFrameClosesTheLink: once a frame has begun, the rest must come
// within the frame timeout, whatever part of it stalls. An idle link (no
// frame begun) is not a stall.
func TestStalledFrameClosesTheLink(t *testing.T) {
	const frameTimeout = 100 * time.Millisecond
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"one byte of the length", []byte{0x40}},
		{"the header of a 16 KiB frame", []byte{0x40, 0x00, devproto.KindDeviceData}},
		{"part of a 16 KiB frame", append([]byte{0x40, 0x00, devproto.KindDeviceData}, make([]byte, 1000)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, admitAll, devconn.WithFrameTimeout(frameTimeout))
			dev, gw := rawLogin(t, g)
			// Idle for several frame timeouts: the caller's deadline
			// ends the wait, and the link carries on.
			ctx, cancel := context.WithTimeout(context.Background(), 3*frameTimeout)
			_, err := gw.Receive(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("idle Receive: %v, want the context's deadline", err)
			}
			if err := dev.Write(tt.bytes); err != nil {
				t.Fatal(err)
			}
			ctx, cancel = context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			if _, err := gw.Receive(ctx); !errors.Is(err, devconn.ErrFrameTimeout) {
				t.Fatalf("stalled frame: Receive error = %v, want ErrFrameTimeout", err)
			}
			if _, err := dev.ReceiveStatus(ctx); !errors.Is(err, devconntest.ErrNoStatus) {
				t.Fatalf("device: %v, want the link closed", err)
			}
		})
	}
}

// TestMessageRate runs the per-link token bucket on a fake clock: the burst
// passes, the next message ends the link with PROTOCOL_ERROR, and time
// refills the bucket.
func TestMessageRate(t *testing.T) {
	const burst = 5
	tests := []struct {
		name    string
		advance time.Duration // after the burst
		extra   int           // messages that pass after it
	}{
		{"burst then one over", 0, 0},
		{"a tenth of a second refills one", 100 * time.Millisecond, 1},
		{"a long pause refills only the burst", time.Hour, burst},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New()
			g := startGateway(t, admitAll, devconn.WithMessageRate(10, burst), devconn.WithClock(clock.Now))
			dev, err := login(t, newClient(t, "device", "gateway"), g.ln.Addr().String(), testDevice)
			if err != nil {
				t.Fatal(err)
			}
			gw := g.next(t).s
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			pass := func(n int) {
				t.Helper()
				for i := range n {
					if err := dev.Send(ctx, &devproto.Ping{ID: uint64(i)}); err != nil {
						t.Fatal(err)
					}
					if _, err := gw.Receive(ctx); err != nil {
						t.Fatalf("message %d within the rate: %v", i, err)
					}
				}
			}
			pass(burst)
			clock.Advance(tt.advance)
			pass(tt.extra)
			if err := dev.Send(ctx, &devproto.Ping{ID: 99}); err != nil {
				t.Fatal(err)
			}
			_, err = gw.Receive(ctx)
			var pe *devconn.ProtocolError
			if !errors.As(err, &pe) || pe.Reason != devconn.ReasonMessageRate || !pe.Answered {
				t.Fatalf("message over the rate: %v, want an answered message_rate ProtocolError", err)
			}
			m, err := dev.Receive(ctx)
			if st, ok := m.(*devproto.ServerStatus); !ok || st.Code != status.ProtocolError {
				t.Fatalf("device told %#v, %v; want PROTOCOL_ERROR", m, err)
			}
		})
	}
}

// TestFloodWithoutReadingIsCutOff: a device that floods PINGs and never
// reads is cut off once past its burst, while the gateway's answering
// writes are stuck behind a write deadline far away: the PROTOCOL_ERROR
// answer gives up after the answer timeout and the link closes.
func TestFloodWithoutReadingIsCutOff(t *testing.T) {
	const burst = 50
	g := startGateway(t, admitAll, devconn.WithMessageRate(0.001, burst),
		devconn.WithWriteTimeout(time.Hour), devconn.WithAnswerTimeout(100*time.Millisecond))
	dev, gw := rawLogin(t, g)
	big := incompressible(8000)
	flooded := make(chan error, 1)
	go func() {
		for i := uint64(0); ; i++ {
			if err := dev.SendPayload(devconntest.Payload(devconntest.TypePing, devconntest.Uvarint(i))); err != nil {
				flooded <- err
				return
			}
		}
	}()
	// The gateway answers each PING with a large message, as a busy
	// session would, until the device's unread buffers fill.
	var received atomic.Int64
	var rerr error
	for {
		_, err := gw.Receive(context.Background())
		if err != nil {
			rerr = err
			break
		}
		received.Add(1)
		go func() {
			_ = gw.Send(context.Background(), &devproto.ReceiveIM{From: "x", Text: big, ServerTime: time.Now()})
		}()
	}
	var pe *devconn.ProtocolError
	if !errors.As(rerr, &pe) || pe.Reason != devconn.ReasonMessageRate {
		t.Fatalf("flood ended with %v, want message_rate", rerr)
	}
	if n := received.Load(); n != burst {
		t.Fatalf("the gateway read %d messages of the flood, want its burst %d", n, burst)
	}
	select {
	case err := <-flooded:
		t.Logf("flooding device stopped: %v", err)
	case <-time.After(testTimeout):
		t.Fatal("the flooding device is still connected")
	}
}

// TestSendWaitingForAStuckWriteHonoursItsContext: a second Send behind a
// write blocked on a device that does not read gives up at its context's
// deadline rather than the first write's (an hour).
func TestSendWaitingForAStuckWriteHonoursItsContext(t *testing.T) {
	g := startGateway(t, admitAll, devconn.WithWriteTimeout(time.Hour))
	_, gw := rawLogin(t, g)
	im := &devproto.ReceiveIM{From: "x", Text: incompressible(8000), ServerTime: time.Now()}
	stuck := make(chan struct{})
	go func() {
		defer close(stuck)
		for gw.Send(context.Background(), im) == nil {
		}
	}()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := gw.Send(ctx, im)
		cancel()
		// The buffers are full: either the other Send holds the link and
		// this one gave up waiting, or this one held it and its own write
		// ran into the same deadline. Both honour the context.
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	gw.Close()
	select {
	case <-stuck:
	case <-time.After(testTimeout):
		t.Fatal("Close did not end the stuck write")
	}
}

// incompressible returns n bytes of text zstd cannot shrink much, so that
// socket buffers fill in a few hundred frames.
func incompressible(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestHelloHook: the hook runs once per HELLO that arrived, before
// admission; its error ends the handshake without one.
func TestHelloHook(t *testing.T) {
	errFull := errors.New("test: shed")
	tests := []struct {
		name      string
		hookErr   error
		wantLogin bool
	}{
		{"hook allows", nil, true},
		{"hook refuses", errFull, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls, admits atomic.Int32
			hook := func(net.Conn) error { calls.Add(1); return tt.hookErr }
			admit := func(ctx context.Context, h *devproto.Hello) *devproto.ServerStatus {
				admits.Add(1)
				return admitAll(ctx, h)
			}
			g := startGateway(t, admit, devconn.WithHelloHook(hook))
			// A silent connection never reaches the hook.
			silent, err := net.Dial("tcp", g.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer silent.Close()
			_, err = login(t, newClient(t, "device", "gateway"), g.ln.Addr().String(), testDevice)
			if (err == nil) != tt.wantLogin {
				t.Fatalf("Login error %v", err)
			}
			r := g.next(t)
			if tt.hookErr != nil && !errors.Is(r.err, tt.hookErr) {
				t.Fatalf("Accept error = %v, want the hook's", r.err)
			}
			wantAdmits := int32(0)
			if tt.wantLogin {
				wantAdmits = 1
			}
			if calls.Load() != 1 || admits.Load() != wantAdmits {
				t.Fatalf("hook called %d times, admission %d times; want 1 and %d", calls.Load(), admits.Load(), wantAdmits)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	resp, err := devproto.NewResponder(devprototest.Key("gateway"), devprototest.NewVerifier())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opt  devconn.Option
	}{
		{"zero frame timeout", devconn.WithFrameTimeout(0)},
		{"negative rate", devconn.WithMessageRate(-1, 1)},
		{"rate without burst", devconn.WithMessageRate(1, 0)},
		{"zero answer timeout", devconn.WithAnswerTimeout(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := devconn.NewAcceptor(resp, tt.opt); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := devconn.NewAcceptor(resp, devconn.WithMessageRate(0, 0)); err != nil {
		t.Fatalf("rate 0 (off): %v", err)
	}
}
