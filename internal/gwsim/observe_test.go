package gwsim

import (
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/gwproto"
)

// TestObserveLogins: every login answer, accepted or refused, reaches the
// observer with the user it named and a time that covers the handshake
// and the answer (here at least the injected login delay); after stop,
// none does.
func TestObserveLogins(t *testing.T) {
	const delay = 30 * time.Millisecond
	srv := start(t, WithLoginDelay(delay))
	var (
		mu   sync.Mutex
		seen []LoginTiming
	)
	stop := srv.ObserveLogins(func(lt LoginTiming) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, lt)
	})
	tests := []struct {
		user, pw string
		want     gwproto.ResultCode
	}{
		{"alice", "pw-a", gwproto.ResultOK},
		{"bob", "wrong", gwproto.ResultPasswordInvalid},
	}
	observed := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	for i, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			if got := result(t, dialRaw(t, srv).login(tt.user, tt.pw)); got != tt.want {
				t.Fatalf("login result %d, want %d", got, tt.want)
			}
			// The observer runs once the answer is written, which the
			// client may read first.
			for deadline := time.Now().Add(testTimeout); observed() <= i; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("login %d never observed", i)
				}
			}
		})
	}
	stop()
	if got := result(t, dialRaw(t, srv).login("alice", "pw-a")); got != gwproto.ResultOK {
		t.Fatalf("login after stop: %d", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(tests) {
		t.Fatalf("observed %d logins, want %d (none after stop): %+v", len(seen), len(tests), seen)
	}
	for i, tt := range tests {
		lt := seen[i]
		if lt.User != tt.user || lt.Result != tt.want {
			t.Errorf("login %d observed as %+v, want user %s result %d", i, lt, tt.user, tt.want)
		}
		if lt.Handshake <= 0 || lt.Total < lt.Handshake+delay {
			t.Errorf("login %d: handshake %v, total %v: want 0 < handshake and total ≥ handshake + %v", i, lt.Handshake, lt.Total, delay)
		}
	}
}
