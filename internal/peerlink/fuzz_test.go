package peerlink

import (
	"reflect"
	"testing"
)

// FuzzDecodeResume: whatever decodes as a RESUME re-encodes to a body that
// decodes to the same RESUME. Seeds: the table cases.
func FuzzDecodeResume(f *testing.F) {
	for _, tt := range resumeCases {
		r := testResume()
		tt.mutate(r)
		if b, err := appendResume(nil, r); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeResume(b)
		if err != nil {
			return
		}
		again, err := appendResume(nil, r)
		if err != nil {
			t.Fatalf("decoded %+v does not re-encode: %v", r, err)
		}
		r2, err := decodeResume(again)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoded RESUME: %+v, %v; want %+v", r2, err, r)
		}
	})
}

// FuzzDecodeRelayed: whatever decodes as a DEVICE or GATEWAY body is a
// message of that side and re-encodes.
func FuzzDecodeRelayed(f *testing.F) {
	for _, tt := range relayedCases {
		b, err := appendRelayed(nil, tt.typ, tt.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tt.typ == msgDevice, b)
	}
	f.Fuzz(func(t *testing.T, device bool, b []byte) {
		typ := msgGateway
		if device {
			typ = msgDevice
		}
		m, err := decodeRelayed(b, typ)
		if err != nil {
			return
		}
		if !m.Type().SentBy(relayRole(typ)) {
			t.Fatalf("%v decoded from a %v frame", m.Type(), typ)
		}
		if _, err := appendRelayed(nil, typ, m); err != nil {
			t.Fatalf("decoded %#v does not re-encode: %v", m, err)
		}
	})
}

// FuzzOpen feeds frames to a responder's transport: nothing but the
// initiator's sealed frames may open. Seeds: sealed frames of every type.
func FuzzOpen(f *testing.F) {
	i, _ := transportPair(f, DefaultMaxFrameSize)
	resume, _ := appendResume(nil, testResume())
	for _, body := range [][]byte{resume, {}, {1, 2, 3}} {
		f.Add(sealBody(f, i, msgResume, body))
	}
	f.Add([]byte{0, 1, kindInitiatorData})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, frame []byte) {
		_, r := transportPair(t, DefaultMaxFrameSize)
		typ, body, err := r.open(append([]byte(nil), frame...))
		if err != nil {
			return
		}
		// Only the first frame the initiator sealed opens on a fresh
		// transport; its type must be one the initiator sends.
		if !typ.sentBy(kindInitiatorData) || len(body) > len(frame) {
			t.Fatalf("opened %v with %d-byte body from %d bytes", typ, len(body), len(frame))
		}
	})
}

// FuzzReadHello feeds the responder hellos: it must refuse everything but
// a hello made with its key, without panicking. Seeds: real hellos with
// the right and a wrong key.
func FuzzReadHello(f *testing.F) {
	for _, k := range []Key{testKey(1), testKey(2)} {
		h, _, err := startHello("task-b", k, DefaultMaxFrameSize)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(h)
	}
	f.Add(refuseFrame(RefuseBusy))
	kr, err := newKeyring(testKey(1), Key{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		in, err := kr.readHello(frame)
		if err != nil {
			_ = refuseReasonFor(err)
			return
		}
		if validTask(in.task) != nil {
			t.Fatalf("accepted task %q", in.task)
		}
	})
}

// FuzzFinish feeds the initiator answers to its hello: WELCOMEs, REFUSEs
// and noise. Seeds: a real welcome and every refusal.
func FuzzFinish(f *testing.F) {
	hello, _, err := startHello("task-b", testKey(1), DefaultMaxFrameSize)
	if err != nil {
		f.Fatal(err)
	}
	kr, _ := newKeyring(testKey(1), Key{})
	in, err := kr.readHello(hello)
	if err != nil {
		f.Fatal(err)
	}
	welcome, _, err := in.reply("task-a", DefaultMaxFrameSize)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(welcome)
	for _, r := range []RefuseReason{RefuseBusy, RefuseUnknownKey, RefuseHandshake, RefuseVersion, 99} {
		f.Add(refuseFrame(r))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		_, pending, err := startHello("task-b", testKey(1), DefaultMaxFrameSize)
		if err != nil {
			t.Fatal(err)
		}
		// A fresh ephemeral key: no fuzzed welcome can authenticate.
		if task, tr, err := pending.finish(frame); err == nil {
			t.Fatalf("a fuzzed welcome completed the handshake with %q (%v)", task, tr != nil)
		}
	})
}
