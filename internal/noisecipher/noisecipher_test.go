package noisecipher

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func pair(t *testing.T) (send, recv State) {
	t.Helper()
	key := [32]byte{1, 2, 3}
	send, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	recv, err = New(key)
	if err != nil {
		t.Fatal(err)
	}
	return send, recv
}

func TestSealOpenInOrder(t *testing.T) {
	send, recv := pair(t)
	ad := []byte("header")
	for i := range 3 {
		msg := append(make([]byte, 0, 5+TagLen), "hello"...)
		sealed, err := send.Seal(msg, ad)
		if err != nil || len(sealed) != 5+TagLen || &sealed[0] != &msg[0] {
			t.Fatalf("message %d: sealed %d bytes, in place %v, %v", i, len(sealed), err == nil && &sealed[0] == &msg[0], err)
		}
		plain, err := recv.Open(sealed, ad)
		if err != nil || string(plain) != "hello" {
			t.Fatalf("message %d: opened %q, %v", i, plain, err)
		}
	}
}

// TestOpenRefusesWhatItShould: another associated data, a flipped bit, a
// replay and a reordering all fail, and a failure does not advance the
// counter (the next genuine message still opens).
func TestOpenRefusesWhatItShould(t *testing.T) {
	send, recv := pair(t)
	seal := func(s string) []byte {
		out, err := send.Seal([]byte(s), nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first, second := seal("one"), seal("two")
	tests := []struct {
		name string
		msg  []byte
		ad   []byte
	}{
		{"out of order", bytes.Clone(second), nil},
		{"other associated data", bytes.Clone(first), []byte("x")},
		{"flipped bit", func() []byte { b := bytes.Clone(first); b[0] ^= 1; return b }(), nil},
	}
	for _, tt := range tests {
		if _, err := recv.Open(tt.msg, tt.ad); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", tt.name, err)
		}
	}
	if p, err := recv.Open(bytes.Clone(first), nil); err != nil || string(p) != "one" {
		t.Fatalf("first after failures: %q, %v", p, err)
	}
	if _, err := recv.Open(bytes.Clone(first), nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("replay: %v, want ErrAuth", err)
	}
}

func TestNonceExhausted(t *testing.T) {
	send, recv := pair(t)
	send.n, recv.n = math.MaxUint64, math.MaxUint64
	if _, err := send.Seal([]byte("x"), nil); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("Seal: %v", err)
	}
	if _, err := recv.Open(make([]byte, 1+TagLen), nil); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("Open: %v", err)
	}
}

func TestSealAndOpenDoNotAllocate(t *testing.T) {
	send, recv := pair(t)
	buf := make([]byte, 64, 64+TagLen)
	ad := []byte("hdr")
	allocs := testing.AllocsPerRun(100, func() {
		sealed, err := send.Seal(buf[:64], ad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := recv.Open(sealed, ad); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per message, want 0", allocs)
	}
}
