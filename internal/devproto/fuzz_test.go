package devproto_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/devproto/devprototest"
)

// FuzzReadFrame feeds arbitrary streams to the frame reader.
func FuzzReadFrame(f *testing.F) {
	dev, _ := pair(f)
	for _, m := range []devproto.Message{&devproto.Ping{ID: 1}, &devproto.SendIM{To: "jdoe", Text: "Can you send me the report?"}} {
		frame, err := dev.Seal(nil, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
		f.Add(frame[:len(frame)-1])
	}
	f.Add([]byte{0xff, 0xff, 4})
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, stream []byte) {
		frame, err := devproto.ReadFrame(bytes.NewReader(stream), nil, devproto.DefaultMaxFrameSize)
		if err != nil {
			return
		}
		if len(frame) < 3 || int(frame[0])<<8|int(frame[1]) != len(frame)-2 || !bytes.HasPrefix(stream, frame) {
			t.Fatalf("ReadFrame returned an inconsistent frame of %d bytes", len(frame))
		}
	})
}

// FuzzTransportOpen feeds arbitrary frames to the gateway's transport.
func FuzzTransportOpen(f *testing.F) {
	dev, _ := pair(f)
	for _, tt := range []devproto.Message{
		&devproto.Status{Presence: devproto.PresenceAway, Text: "Out to lunch"},
		&devproto.SendIM{To: "jdoe", Text: "Can you send me the report before the meeting tomorrow?"},
		&devproto.Logout{},
	} {
		frame, err := dev.Seal(nil, tt)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
	}
	var gw *devproto.Transport
	f.Fuzz(func(t *testing.T, frame []byte) {
		if gw == nil {
			_, gw = pair(t)
		}
		if _, err := gw.Open(frame); err == nil {
			gw = nil // its receive nonce moved on; start afresh
		}
	})
}

// FuzzReadHello feeds arbitrary first messages to the gateway, through
// ReadHello, Verify and the refusal it would send.
func FuzzReadHello(f *testing.F) {
	fx := newFixture(f)
	for _, req := range []devproto.Request{
		fx.login(),
		&devproto.Resume{DeviceID: testDevice, SessionID: "s-1", Token: devproto.ResumeToken{1}, Timestamp: fx.clock.Now()},
	} {
		frame, _, err := fx.dev.Hello(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
	}
	f.Add(rawHello(f, devprototest.Key("device"), devprototest.PublicKey("gateway"), []byte{0, 0x2a}))
	f.Add([]byte{0, 2, devproto.KindHello, 9})
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, err := fx.resp.ReadHello(frame)
		if err != nil {
			if reject := devproto.RejectFrame(err); len(reject) != 5 {
				t.Fatalf("reject frame of %d bytes", len(reject))
			}
			return
		}
		verr := h.Verify(context.Background())
		if verr == nil {
			return // a seed: accepting it is the admission's business
		}
		if _, _, err := h.Reply(devproto.RejectStatus(verr)); err != nil {
			t.Fatalf("refusing %v: %v", verr, err)
		}
	})
}

// FuzzFinish feeds arbitrary answers to a device waiting for WELCOME.
func FuzzFinish(f *testing.F) {
	fx := newFixture(f)
	frame, _, err := fx.dev.Hello(fx.login())
	if err != nil {
		f.Fatal(err)
	}
	h, err := fx.resp.ReadHello(frame)
	if err != nil {
		f.Fatal(err)
	}
	if err := h.Verify(context.Background()); err != nil {
		f.Fatal(err)
	}
	welcome, _, err := h.Reply(accepted())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(welcome)
	f.Add(devproto.RejectFrame(devproto.ErrUnsupportedVersion))
	f.Add(devproto.RejectFrame(devproto.ErrHandshakeAuth))
	f.Fuzz(func(t *testing.T, reply []byte) {
		fx.clock.Advance(1) // each hello needs a fresh timestamp
		_, p, err := fx.dev.Hello(fx.login())
		if err != nil {
			t.Fatal(err)
		}
		st, tr, err := p.Finish(reply)
		if err == nil && st == nil {
			t.Fatal("Finish returned neither status nor error")
		}
		if err == nil && (tr != nil) != (st.Code == 1) {
			t.Fatalf("transport %v with status %v", tr != nil, st.Code)
		}
	})
}

// FuzzParseKey feeds arbitrary key file contents to the parsers.
func FuzzParseKey(f *testing.F) {
	f.Add(devprototest.PublicKey("device").String() + "\n")
	f.Add("not base64")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := devproto.ParsePublicKey(s); err != nil && !errors.Is(err, devproto.ErrInvalidKey) {
			t.Fatalf("ParsePublicKey error %v is not ErrInvalidKey", err)
		}
		if _, err := devproto.ParsePrivateKey(s); err != nil && !errors.Is(err, devproto.ErrInvalidKey) {
			t.Fatalf("ParsePrivateKey error %v is not ErrInvalidKey", err)
		}
	})
}
