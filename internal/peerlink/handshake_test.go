package peerlink

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// handshake runs a whole handshake in memory and returns both transports,
// or the first error and the side that failed.
func handshake(t *testing.T, initKey Key, kr keyring, mutate func([]byte)) (*transport, *transport, string, error) {
	t.Helper()
	hello, pending, err := startHello("task-b", initKey, DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(hello)
	}
	in, err := kr.readHello(hello)
	if err != nil {
		return nil, nil, "responder", err
	}
	if in.task != "task-b" {
		t.Fatalf("responder learned task %q", in.task)
	}
	welcome, rt, err := in.reply("task-a", DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	task, it, err := pending.finish(welcome)
	if err != nil {
		return nil, nil, "initiator", err
	}
	if task != "task-a" {
		t.Fatalf("initiator learned task %q", task)
	}
	return it, rt, "", nil
}

func TestHandshake(t *testing.T) {
	cur, next, other := testKey(1), testKey(2), testKey(3)
	tests := []struct {
		name     string
		initKey  Key
		current  Key
		next     Key
		mutate   func([]byte)
		wantSide string
		want     error
	}{
		{"same key", cur, cur, Key{}, nil, "", nil},
		{"initiator on the next key", next, cur, next, nil, "", nil},
		{"initiator still on the old key", cur, next, cur, nil, "", nil},
		{"wrong key", other, cur, next, nil, "responder", ErrUnknownKey},
		{"wrong key behind a right key id", other, cur, Key{}, func(h []byte) { id := cur.ID(); copy(h[4:], id[:]) }, "responder", ErrHandshakeAuth},
		{"other version", cur, cur, Key{}, func(h []byte) { h[3] = Version + 1 }, "responder", ErrUnsupportedVersion},
		{"tampered ephemeral", cur, cur, Key{}, func(h []byte) { h[10] ^= 1 }, "responder", ErrHandshakeAuth},
		{"tampered payload", cur, cur, Key{}, func(h []byte) { h[len(h)-1] ^= 1 }, "responder", ErrHandshakeAuth},
		{"not a hello", cur, cur, Key{}, func(h []byte) { h[2] = kindWelcome }, "responder", ErrUnexpectedFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := newKeyring(tt.current, tt.next)
			if err != nil {
				t.Fatal(err)
			}
			it, rt, side, err := handshake(t, tt.initKey, kr, tt.mutate)
			if side != tt.wantSide || !errors.Is(err, tt.want) {
				t.Fatalf("failed on %q with %v; want %q with %v", side, err, tt.wantSide, tt.want)
			}
			if err != nil {
				return
			}
			// The transports talk, both ways.
			if _, body, err := rt.open(sealBody(t, it, msgDevice, []byte("up"))); err != nil || string(body) != "up" {
				t.Fatalf("initiator → responder: %q, %v", body, err)
			}
			if _, body, err := it.open(sealBody(t, rt, msgGateway, []byte("down"))); err != nil || string(body) != "down" {
				t.Fatalf("responder → initiator: %q, %v", body, err)
			}
		})
	}
}

func TestFinishRefuse(t *testing.T) {
	_, pending, err := startHello("task-b", testKey(1), DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []RefuseReason{RefuseBusy, RefuseUnknownKey, RefuseHandshake, RefuseVersion} {
		_, _, err := pending.finish(refuseFrame(reason))
		var ref *RefusedError
		if !errors.As(err, &ref) || ref.Reason != reason || !errors.Is(err, ErrRefused) {
			t.Fatalf("REFUSE %v read as %v", reason, err)
		}
	}
}

func TestWelcomeFromAnotherKeyFails(t *testing.T) {
	hello, pending, err := startHello("task-b", testKey(1), DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	// A responder that read the hello with the right key, answering with
	// a welcome made for another handshake: the initiator must refuse it.
	kr, _ := newKeyring(testKey(1), Key{})
	if _, err := kr.readHello(hello); err != nil {
		t.Fatal(err)
	}
	other, _, err := startHello("task-x", testKey(1), DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	in, err := kr.readHello(other)
	if err != nil {
		t.Fatal(err)
	}
	welcome, _, err := in.reply("task-a", DefaultMaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pending.finish(welcome); !errors.Is(err, ErrHandshakeAuth) {
		t.Fatalf("a welcome of another handshake: %v", err)
	}
}

func TestTaskNames(t *testing.T) {
	for _, task := range []string{"", strings.Repeat("t", MaxTaskLen+1), "bad\xff"} {
		if _, _, err := startHello(task, testKey(1), DefaultMaxFrameSize); !errors.Is(err, ErrMalformed) {
			t.Errorf("task %q: %v", task, err)
		}
	}
	hello, _, err := startHello(strings.Repeat("t", MaxTaskLen), testKey(1), DefaultMaxFrameSize)
	if err != nil || len(hello) > MaxHandshakeSize {
		t.Fatalf("longest task: %d bytes, %v", len(hello), err)
	}
	if !bytes.Equal(hello[3:4], []byte{Version}) {
		t.Fatalf("hello version byte %x", hello[3])
	}
}
