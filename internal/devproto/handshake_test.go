package devproto_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flynn/noise"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
	"github.com/collabgw/collabgw/internal/status"
)

const testDevice = "android-7f3c9a2b"

type fixture struct {
	clock    *clocktest.Clock
	verifier *devprototest.Verifier
	resp     *devproto.Responder
	dev      *devproto.Initiator
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{clock: clocktest.New(), verifier: devprototest.NewVerifier()}
	f.verifier.Register(testDevice, devprototest.PublicKey("device"))
	var err error
	f.resp, err = devproto.NewResponder(devprototest.Key("gateway"), f.verifier, devproto.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	f.dev, err = devproto.NewInitiator(devprototest.Key("device"), devprototest.PublicKey("gateway"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) login() *devproto.Login {
	return &devproto.Login{
		DeviceID:      testDevice,
		UserID:        "jsmith",
		Password:      "correct horse",
		ClientVersion: "collabgw-device/1.0.0 (Android 14)",
		Timestamp:     f.clock.Now(),
	}
}

func accepted() *devproto.ServerStatus {
	return &devproto.ServerStatus{
		Code:        status.Accepted,
		SessionID:   "s-1",
		ResumeToken: devproto.ResumeToken{1, 2, 3},
		Message:     "Accepted",
	}
}

// rawHello runs the device side of Noise IK by hand so a test can put any
// payload, well-formed or not, inside an authentic HELLO.
func rawHello(t testing.TB, device devproto.PrivateKey, gateway devproto.PublicKey, payload []byte) []byte {
	t.Helper()
	pub, err := device.Public()
	if err != nil {
		t.Fatal(err)
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   devproto.CipherSuite,
		Pattern:       noise.HandshakeIK,
		Initiator:     true,
		Prologue:      devproto.Prologue,
		StaticKeypair: noise.DHKey{Private: device[:], Public: pub[:]},
		PeerStatic:    gateway[:],
	})
	if err != nil {
		t.Fatal(err)
	}
	frame, _, _, err := hs.WriteMessage([]byte{0, 0, devproto.KindHello, devproto.Version}, payload)
	if err != nil {
		t.Fatal(err)
	}
	frame[0], frame[1] = byte((len(frame)-2)>>8), byte(len(frame)-2)
	return frame
}

func TestHandshake(t *testing.T) {
	type hello struct {
		frame   []byte
		pending *devproto.PendingHello // nil when the device side is not under test
	}
	start := func(t *testing.T, f *fixture, dev *devproto.Initiator, req devproto.Request) hello {
		t.Helper()
		frame, p, err := dev.Hello(req)
		if err != nil {
			t.Fatal(err)
		}
		return hello{frame, p}
	}
	tests := []struct {
		name          string
		hello         func(t *testing.T, f *fixture) hello
		wantReadErr   error       // from Responder.ReadHello
		wantFinishErr error       // on the device, after a REJECT
		wantVerifyErr error       // from Hello.Verify
		wantStatus    status.Code // what the device is told
	}{
		{
			name:       "registered key is accepted",
			hello:      func(t *testing.T, f *fixture) hello { return start(t, f, f.dev, f.login()) },
			wantStatus: status.Accepted,
		},
		{
			name: "resume with a registered key is accepted",
			hello: func(t *testing.T, f *fixture) hello {
				return start(t, f, f.dev, &devproto.Resume{DeviceID: testDevice, SessionID: "s-1", Token: devproto.ResumeToken{9}, Timestamp: f.clock.Now()})
			},
			wantStatus: status.Accepted,
		},
		{
			name: "unknown device key is refused",
			hello: func(t *testing.T, f *fixture) hello {
				l := f.login()
				l.DeviceID = "stranger"
				return start(t, f, f.dev, l)
			},
			wantVerifyErr: devproto.ErrUnknownDevice,
			wantStatus:    status.DeviceRevoked,
		},
		{
			name: "revoked device is refused",
			hello: func(t *testing.T, f *fixture) hello {
				f.verifier.Revoke(testDevice)
				return start(t, f, f.dev, f.login())
			},
			wantVerifyErr: devproto.ErrDeviceRevoked,
			wantStatus:    status.DeviceRevoked,
		},
		{
			name: "device id with another device's key is refused",
			hello: func(t *testing.T, f *fixture) hello {
				thief, err := devproto.NewInitiator(devprototest.Key("thief"), devprototest.PublicKey("gateway"))
				if err != nil {
					t.Fatal(err)
				}
				return start(t, f, thief, f.login())
			},
			wantVerifyErr: devproto.ErrDeviceKeyMismatch,
			wantStatus:    status.DeviceRevoked,
		},
		{
			name: "wrong gateway key cannot be read",
			hello: func(t *testing.T, f *fixture) hello {
				dev, err := devproto.NewInitiator(devprototest.Key("device"), devprototest.PublicKey("impostor"))
				if err != nil {
					t.Fatal(err)
				}
				return start(t, f, dev, f.login())
			},
			wantReadErr:   devproto.ErrHandshakeAuth,
			wantFinishErr: devproto.ErrHandshakeRejected,
		},
		{
			name: "replayed hello is refused",
			hello: func(t *testing.T, f *fixture) hello {
				h := start(t, f, f.dev, f.login())
				first, err := f.resp.ReadHello(append([]byte(nil), h.frame...))
				if err != nil {
					t.Fatal(err)
				}
				if err := first.Verify(context.Background()); err != nil {
					t.Fatalf("original hello: %v", err)
				}
				f.clock.Advance(time.Second) // well inside the skew window
				return hello{h.frame, nil}
			},
			wantVerifyErr: devproto.ErrReplayed,
			wantStatus:    status.ProtocolError,
		},
		{
			name: "unknown version is refused in clear",
			hello: func(t *testing.T, f *fixture) hello {
				h := start(t, f, f.dev, f.login())
				h.frame[3] = devproto.Version + 1
				return h
			},
			wantReadErr:   devproto.ErrUnsupportedVersion,
			wantFinishErr: devproto.ErrUnsupportedVersion,
		},
		{
			name: "tampered hello cannot be read",
			hello: func(t *testing.T, f *fixture) hello {
				h := start(t, f, f.dev, f.login())
				h.frame[len(h.frame)-1] ^= 1
				return h
			},
			wantReadErr:   devproto.ErrHandshakeAuth,
			wantFinishErr: devproto.ErrHandshakeRejected,
		},
		{
			name: "truncated hello",
			hello: func(t *testing.T, f *fixture) hello {
				h := start(t, f, f.dev, f.login())
				return hello{h.frame[:len(h.frame)-5], nil}
			},
			wantReadErr: devproto.ErrTruncated,
		},
		{
			name: "unknown message type is a protocol error",
			hello: func(t *testing.T, f *fixture) hello {
				return hello{rawHello(t, devprototest.Key("device"), devprototest.PublicKey("gateway"), []byte{0, 0x2a}), nil}
			},
			wantVerifyErr: devproto.ErrUnknownMessageType,
			wantStatus:    status.ProtocolError,
		},
		{
			name: "transport message in a hello is a protocol error",
			hello: func(t *testing.T, f *fixture) hello {
				payload, err := devproto.EncodePayloadForTest(&devproto.Ping{ID: 7})
				if err != nil {
					t.Fatal(err)
				}
				return hello{rawHello(t, devprototest.Key("device"), devprototest.PublicKey("gateway"), payload), nil}
			},
			wantVerifyErr: devproto.ErrUnexpectedMessage,
			wantStatus:    status.ProtocolError,
		},
		{
			name: "timestamp too far in the future",
			hello: func(t *testing.T, f *fixture) hello {
				l := f.login()
				l.Timestamp = l.Timestamp.Add(devproto.DefaultMaxClockSkew + time.Second)
				return start(t, f, f.dev, l)
			},
			wantVerifyErr: devproto.ErrClockSkew,
			wantStatus:    status.ProtocolError,
		},
		{
			name: "timestamp too far in the past",
			hello: func(t *testing.T, f *fixture) hello {
				h := start(t, f, f.dev, f.login())
				f.clock.Advance(devproto.DefaultMaxClockSkew + time.Second)
				return h
			},
			wantVerifyErr: devproto.ErrClockSkew,
			wantStatus:    status.ProtocolError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			h := tt.hello(t, f)
			gw, err := f.resp.ReadHello(h.frame)
			if !errors.Is(err, tt.wantReadErr) {
				t.Fatalf("ReadHello error = %v, want %v", err, tt.wantReadErr)
			}
			if err != nil {
				if h.pending == nil {
					return
				}
				_, _, err := h.pending.Finish(devproto.RejectFrame(err))
				if !errors.Is(err, tt.wantFinishErr) {
					t.Fatalf("device Finish error = %v, want %v", err, tt.wantFinishErr)
				}
				return
			}
			err = gw.Verify(context.Background())
			if !errors.Is(err, tt.wantVerifyErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantVerifyErr)
			}
			st := accepted()
			if err != nil {
				st = devproto.RejectStatus(err)
				if _, _, err := gw.Reply(accepted()); !errors.Is(err, devproto.ErrNotVerified) {
					t.Fatalf("accepting an unverified hello: error = %v, want ErrNotVerified", err)
				}
			}
			reply, gwT, err := gw.Reply(st)
			if err != nil {
				t.Fatalf("Reply: %v", err)
			}
			if (gwT != nil) != (st.Code == status.Accepted) {
				t.Fatalf("gateway transport = %v for status %v", gwT, st.Code)
			}
			if _, _, err := gw.Reply(st); !errors.Is(err, devproto.ErrHelloAnswered) {
				t.Fatalf("second Reply: error = %v, want ErrHelloAnswered", err)
			}
			if h.pending == nil {
				return
			}
			got, devT, err := h.pending.Finish(reply)
			if err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if got.Code != tt.wantStatus {
				t.Fatalf("device told %v, want %v", got.Code, tt.wantStatus)
			}
			if got.Code != status.Accepted {
				if devT != nil || !got.ResumeToken.IsZero() {
					t.Fatal("a refusal carried a transport or a resume token")
				}
				return
			}
			if got.SessionID != "s-1" || got.ResumeToken != st.ResumeToken {
				t.Fatalf("ACCEPTED carried %q/%v", got.SessionID, got.ResumeToken == st.ResumeToken)
			}
			exchange(t, devT, gwT)
		})
	}
}

// exchange proves two transports from one handshake talk to each other.
func exchange(t *testing.T, dev, gw *devproto.Transport) {
	t.Helper()
	frame, err := dev.Seal(nil, &devproto.SendIM{To: "jdoe", Text: "hello", ClientMsgID: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := gw.Open(frame)
	if err != nil {
		t.Fatalf("gateway Open: %v", err)
	}
	if im, ok := m.(*devproto.SendIM); !ok || im.Text != "hello" {
		t.Fatalf("gateway got %#v", m)
	}
	frame, err = gw.Seal(nil, &devproto.Pong{ID: 5})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := dev.Open(frame); err != nil || m.(*devproto.Pong).ID != 5 {
		t.Fatalf("device Open = %#v, %v", m, err)
	}
}

// pair returns the two transports of one accepted login.
func pair(t testing.TB, opts ...devproto.Option) (dev, gw *devproto.Transport) {
	t.Helper()
	f := newFixture(t)
	resp, err := devproto.NewResponder(devprototest.Key("gateway"), f.verifier, append([]devproto.Option{devproto.WithClock(f.clock.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	init, err := devproto.NewInitiator(devprototest.Key("device"), devprototest.PublicKey("gateway"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	frame, p, err := init.Hello(f.login())
	if err != nil {
		t.Fatal(err)
	}
	h, err := resp.ReadHello(frame)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	reply, gw, err := h.Reply(accepted())
	if err != nil {
		t.Fatal(err)
	}
	_, dev, err = p.Finish(reply)
	if err != nil {
		t.Fatal(err)
	}
	return dev, gw
}

func TestConstructorsValidate(t *testing.T) {
	v := devprototest.NewVerifier()
	tests := []struct {
		name string
		new  func() error
	}{
		{"responder without verifier", func() error {
			_, err := devproto.NewResponder(devprototest.Key("gateway"), nil)
			return err
		}},
		{"initiator without gateway key", func() error {
			_, err := devproto.NewInitiator(devprototest.Key("device"), devproto.PublicKey{})
			return err
		}},
		{"frame size below a hello", func() error {
			_, err := devproto.NewResponder(devprototest.Key("gateway"), v, devproto.WithMaxFrameSize(100))
			return err
		}},
		{"clock skew of zero", func() error {
			_, err := devproto.NewResponder(devprototest.Key("gateway"), v, devproto.WithMaxClockSkew(0))
			return err
		}},
		{"nil clock", func() error {
			_, err := devproto.NewResponder(devprototest.Key("gateway"), v, devproto.WithClock(nil))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.new() == nil {
				t.Fatal("constructor accepted an invalid configuration")
			}
		})
	}
}
