package devconn

import (
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/clocktest"
)

func TestBucket(t *testing.T) {
	type step struct {
		advance time.Duration // before the message
		want    bool
	}
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		steps     []step
	}{
		{"off", 0, 0, []step{{0, true}, {0, true}, {0, true}}},
		{"burst then refused", 10, 2, []step{{0, true}, {0, true}, {0, false}, {0, false}}},
		{"refills at the rate", 10, 1, []step{{0, true}, {50 * time.Millisecond, false}, {50 * time.Millisecond, true}, {0, false}}},
		{"refill capped at the burst", 10, 2, []step{{0, true}, {0, true}, {time.Hour, true}, {0, true}, {0, false}}},
		{"a clock stepped back refills nothing", 10, 1, []step{{0, true}, {-time.Hour, false}, {100 * time.Millisecond, false}, {time.Hour, true}}},
		{"refused messages cost nothing", 1, 1, []step{{0, true}, {0, false}, {0, false}, {time.Second, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New()
			b := newBucket(tt.perSecond, tt.burst, clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				if got := b.allow(); got != s.want {
					t.Fatalf("message %d: allow = %v, want %v", i, got, s.want)
				}
			}
		})
	}
	clock := clocktest.New()
	b := newBucket(10, 5, clock.Now)
	if n := testing.AllocsPerRun(100, func() { b.allow() }); n != 0 {
		t.Fatalf("allow allocates %v times", n)
	}
}
