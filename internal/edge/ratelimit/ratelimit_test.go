package ratelimit

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/clocktest"
)

func TestAllow(t *testing.T) {
	t0 := clocktest.Now()
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		at        []time.Duration // event times for one key
		want      []bool
	}{
		{"burst then refused", 1, 2, []time.Duration{0, 0, 0}, []bool{true, true, false}},
		{"refills over time", 1, 1, []time.Duration{0, 500 * time.Millisecond, time.Second}, []bool{true, false, true}},
		{"refusal costs no token", 2, 1, []time.Duration{0, 100 * time.Millisecond, 500 * time.Millisecond}, []bool{true, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := New(tt.perSecond, tt.burst, 10)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range tt.at {
				ok, retry := k.Allow("a", t0.Add(d))
				if ok != tt.want[i] {
					t.Fatalf("event %d at %v: allowed %v, want %v", i, d, ok, tt.want[i])
				}
				if !ok && retry <= 0 {
					t.Fatalf("event %d: refused without a retry delay", i)
				}
			}
		})
	}
}

func TestKeysAreIndependentAndBounded(t *testing.T) {
	t0 := clocktest.Now()
	k, err := New(1, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if ok, _ := k.Allow(fmt.Sprint(i), t0); !ok {
			t.Fatalf("key %d refused on its first event", i)
		}
	}
	if k.Len() != 3 || k.Evicted() != 2 {
		t.Fatalf("len %d evicted %d, want 3 and 2", k.Len(), k.Evicted())
	}
	// Key 4 is remembered (refused again); key 0 was forgotten (allowed).
	if ok, _ := k.Allow("4", t0); ok {
		t.Fatal("key 4 allowed twice in a row")
	}
	if ok, _ := k.Allow("0", t0); !ok {
		t.Fatal("forgotten key 0 refused")
	}
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		rate         float64
		burst, nkeys int
	}{{0, 1, 1}, {1, 0, 1}, {1, 1, -1}} {
		if _, err := New(tt.rate, tt.burst, tt.nkeys); !errors.Is(err, ErrBadConfig) {
			t.Errorf("New(%v, %d, %d) = %v, want ErrBadConfig", tt.rate, tt.burst, tt.nkeys, err)
		}
	}
}

func TestAllowDoesNotAllocateForKnownKey(t *testing.T) {
	k, err := New(1e9, 1<<30, 10)
	if err != nil {
		t.Fatal(err)
	}
	now := clocktest.Now()
	k.Allow("10.0.0.1", now)
	if n := testing.AllocsPerRun(100, func() { k.Allow("10.0.0.1", now) }); n != 0 {
		t.Fatalf("Allow allocates %v times per call", n)
	}
}
