package devproto_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

func TestTransportRoundTrip(t *testing.T) {
	serverTime := time.Unix(0, 1767225600123456789)
	tests := []struct {
		name string
		from devproto.Role
		msg  devproto.Message
	}{
		{"status with presence text", devproto.RoleDevice, &devproto.Status{Presence: devproto.PresenceBusy, Text: "In a meeting"}},
		{"status without text", devproto.RoleDevice, &devproto.Status{Presence: devproto.PresenceOnline}},
		{"short IM is stored", devproto.RoleDevice, &devproto.SendIM{To: "jdoe", Text: "ok", ClientMsgID: 42}},
		{"typical IM is compressed", devproto.RoleDevice, &devproto.SendIM{To: "jdoe", Text: "Can you send me the report before the meeting tomorrow?", ClientMsgID: 43}},
		{"logout", devproto.RoleDevice, &devproto.Logout{}},
		{"ping from the device", devproto.RoleDevice, &devproto.Ping{ID: 1 << 40}},
		{"received IM", devproto.RoleGateway, &devproto.ReceiveIM{From: "jsmith", Text: "Hi, are you available? Let me know", ServerTime: serverTime}},
		{"unicode IM", devproto.RoleGateway, &devproto.ReceiveIM{From: "jsmith", Text: "Grüße aus Zürich – 你好 👋", ServerTime: serverTime}},
		{"logged out notice", devproto.RoleGateway, &devproto.ServerStatus{Code: status.LoggedOut, Message: status.LoggedOut.Text()}},
		{"pong from the gateway", devproto.RoleGateway, &devproto.Pong{ID: 7}},
	}
	dev, gw := pair(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, to := dev, gw
			if tt.from == devproto.RoleGateway {
				from, to = gw, dev
			}
			frame, err := from.Seal(nil, tt.msg)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			got, err := to.Open(frame)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			assertSameMessage(t, got, tt.msg)
		})
	}
}

func assertSameMessage(t *testing.T, got, want devproto.Message) {
	t.Helper()
	a, err := devproto.EncodePayloadForTest(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := devproto.EncodePayloadForTest(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

func TestTransportRejects(t *testing.T) {
	im := &devproto.SendIM{To: "jdoe", Text: "Can you send me the report?", ClientMsgID: 1}
	tests := []struct {
		name string
		// attack turns a frame the device sealed into what the gateway gets.
		attack func(t *testing.T, dev, gw *devproto.Transport, frame []byte) (*devproto.Transport, []byte)
		want   error
	}{
		{"tampered ciphertext", func(_ *testing.T, _, gw *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			f[len(f)/2] ^= 0x40
			return gw, f
		}, devproto.ErrFrameAuth},
		{"tampered tag", func(_ *testing.T, _, gw *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			f[len(f)-1] ^= 1
			return gw, f
		}, devproto.ErrFrameAuth},
		{"frame reflected back to its sender", func(_ *testing.T, dev, _ *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			return dev, f
		}, devproto.ErrWrongDirection},
		{"wrong direction relabelled as the right one", func(_ *testing.T, dev, _ *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			f[2] = devproto.KindGatewayData
			return dev, f
		}, devproto.ErrFrameAuth},
		{"replayed frame", func(t *testing.T, _, gw *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			if _, err := gw.Open(bytes.Clone(f)); err != nil {
				t.Fatal(err)
			}
			return gw, f
		}, devproto.ErrFrameAuth},
		{"truncated frame", func(_ *testing.T, _, gw *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			return gw, f[:len(f)-3]
		}, devproto.ErrTruncated},
		{"frame with trailing bytes", func(_ *testing.T, _, gw *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			return gw, append(f, 0)
		}, devproto.ErrMalformed},
		{"oversized frame", func(_ *testing.T, _, gw *devproto.Transport, _ []byte) (*devproto.Transport, []byte) {
			f := make([]byte, 2+devproto.DefaultMaxFrameSize+1)
			f[0], f[1], f[2] = byte((len(f)-2)>>8), byte(len(f)-2), devproto.KindDeviceData
			return gw, f
		}, devproto.ErrFrameTooLarge},
		{"handshake frame after the handshake", func(_ *testing.T, _, gw *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			f[2] = devproto.KindHello
			return gw, f
		}, devproto.ErrUnexpectedFrame},
		{"unknown message type", func(t *testing.T, dev, gw *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			deliver(t, gw, f)
			return gw, devproto.SealRawForTest(dev, []byte{0, 0x2a, 1, 2, 3})
		}, devproto.ErrUnknownMessageType},
		{"gateway message sent by the device", func(t *testing.T, dev, gw *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			deliver(t, gw, f)
			return gw, devproto.SealRawForTest(dev, []byte{0, byte(devproto.TypeReceiveIM), 1, 'a', 1, 'b', 0, 0, 0, 0, 0, 0, 0, 1})
		}, devproto.ErrUnexpectedMessage},
		{"login after the handshake", func(t *testing.T, dev, gw *devproto.Transport, f []byte) (*devproto.Transport, []byte) {
			deliver(t, gw, f)
			payload, err := devproto.EncodePayloadForTest(&devproto.Login{DeviceID: "d", UserID: "u", Password: "p", Timestamp: time.Unix(1, 0)})
			if err != nil {
				t.Fatal(err)
			}
			return gw, devproto.SealRawForTest(dev, payload)
		}, devproto.ErrUnexpectedMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, gw := pair(t)
			frame, err := dev.Seal(nil, im)
			if err != nil {
				t.Fatal(err)
			}
			to, frame := tt.attack(t, dev, gw, frame)
			m, err := to.Open(frame)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %#v, %v; want %v", m, err, tt.want)
			}
		})
	}
}

// deliver opens a frame that must be fine, to keep the nonces in step.
func deliver(t *testing.T, to *devproto.Transport, frame []byte) {
	t.Helper()
	if _, err := to.Open(frame); err != nil {
		t.Fatal(err)
	}
}

// incompressible returns n letters that zstd cannot shrink much.
func incompressible(n int) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = 'a' + byte(x%26)
	}
	return string(b)
}

func TestSealRefuses(t *testing.T) {
	tests := []struct {
		name string
		role devproto.Role
		msg  devproto.Message
		want error
	}{
		{"IM longer than the frame limit", devproto.RoleDevice, &devproto.SendIM{To: "jdoe", Text: incompressible(2 * devproto.MinFrameSize)}, devproto.ErrFrameTooLarge},
		{"IM longer than the text limit", devproto.RoleDevice, &devproto.SendIM{To: "jdoe", Text: strings.Repeat("x", devproto.MaxIMTextLen+1)}, devproto.ErrInvalidMessage},
		{"gateway message from the device", devproto.RoleDevice, &devproto.ReceiveIM{From: "a", Text: "b", ServerTime: time.Unix(1, 0)}, devproto.ErrUnexpectedMessage},
		{"device message from the gateway", devproto.RoleGateway, &devproto.Status{Presence: devproto.PresenceAway}, devproto.ErrUnexpectedMessage},
		{"presence out of range", devproto.RoleDevice, &devproto.Status{Presence: 99}, devproto.ErrInvalidMessage},
		{"text that is not UTF-8", devproto.RoleDevice, &devproto.SendIM{To: "jdoe", Text: "\xff\xfe"}, devproto.ErrInvalidMessage},
	}
	// A small limit makes "longer than the frame" reachable with a legal IM.
	dev, gw := pair(t, devproto.WithMaxFrameSize(devproto.MinFrameSize))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := dev
			if tt.role == devproto.RoleGateway {
				tr = gw
			}
			dst := []byte("keep")
			out, err := tr.Seal(dst, tt.msg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Seal error = %v, want %v", err, tt.want)
			}
			if string(out) != "keep" {
				t.Fatalf("a failed Seal left %d bytes behind", len(out)-4)
			}
		})
	}
	// A refused Seal must not burn a nonce: the link still works.
	exchange(t, dev, gw)
}

func TestReadFrame(t *testing.T) {
	dev, _ := pair(t)
	frame, err := dev.Seal(nil, &devproto.Ping{ID: 3})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"whole frame", frame, nil},
		{"clean end of stream", nil, devproto.ErrTruncated /* replaced below */},
		{"end inside the length", frame[:1], devproto.ErrTruncated},
		{"end inside the body", frame[:len(frame)-1], devproto.ErrTruncated},
		{"oversized length", []byte{0xff, 0xff, devproto.KindDeviceData}, devproto.ErrFrameTooLarge},
		{"zero length", []byte{0, 0}, devproto.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := devproto.ReadFrame(bytes.NewReader(tt.input), nil, devproto.DefaultMaxFrameSize)
			if tt.input == nil {
				if err == nil || errors.Is(err, devproto.ErrTruncated) {
					t.Fatalf("empty stream: error = %v, want io.EOF", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadFrame error = %v, want %v", err, tt.want)
			}
			if tt.want == nil && !bytes.Equal(got, frame) {
				t.Fatal("ReadFrame changed the frame")
			}
		})
	}
}

func TestSealDoesNotAllocate(t *testing.T) {
	dev, gw := pair(t)
	im := &devproto.SendIM{To: "jdoe", Text: "Can you send me the report before the meeting tomorrow?", ClientMsgID: 1}
	buf := make([]byte, 0, 512)
	// Warm the zstd pool and the scratch buffers first.
	for range 3 {
		f, err := dev.Seal(buf[:0], im)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gw.Open(f); err != nil {
			t.Fatal(err)
		}
	}
	frame := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		frame, err = dev.Seal(buf[:0], im)
		if err != nil {
			t.Fatal(err)
		}
		frame = frame[:0]
	})
	if allocs != 0 {
		t.Errorf("Seal allocates %v times per frame, want 0", allocs)
	}
	dev, gw = pair(t)
	ping := &devproto.Ping{ID: 1}
	allocs = testing.AllocsPerRun(100, func() {
		f, err := dev.Seal(buf[:0], ping)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gw.Open(f); err != nil {
			t.Fatal(err)
		}
	})
	// Open returns a new message; the frame path itself allocates nothing.
	if allocs > 1 {
		t.Errorf("Seal+Open of a PING allocates %v times, want at most 1 (the message)", allocs)
	}
}
