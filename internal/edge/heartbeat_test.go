package edge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

func TestHeartbeatRenewsTheTaskLeaseAndEndsItAfterTheDrain(t *testing.T) {
	e := newTestEdge(t, nil, WithHeartbeat(20*time.Millisecond), WithTaskAddr("10.0.0.5:3102"))
	// One write per heartbeat whatever the edge holds: no session writes.
	for i := 1; i <= 3; i++ {
		e.device(i).mustLogin()
	}
	eventually(t, "lease renewals", func() bool {
		e.leases.mu.Lock()
		defer e.leases.mu.Unlock()
		return e.leases.renewals >= 3 && e.leases.addr == "10.0.0.5:3102"
	})
	e.leases.mu.Lock()
	writes := e.leases.statuses + len(e.leases.coverage)
	e.leases.mu.Unlock()
	if writes != 0 {
		t.Fatalf("%d session writes while holding sessions in coverage", writes)
	}
	if err := e.shutdown(); err != nil {
		t.Fatal(err)
	}
	e.leases.mu.Lock()
	defer e.leases.mu.Unlock()
	if !e.leases.expired {
		t.Fatal("the task's lease was not ended after the drain")
	}
}

func TestReconcileGoneEndsOnlyThoseSessions(t *testing.T) {
	e := newTestEdge(t, nil, WithHeartbeat(20*time.Millisecond))
	gone, kept := e.device(1), e.device(2)
	st := gone.mustLogin()
	kept.mustLogin()
	e.leases.markGone(st.SessionID)
	if got := gone.receive(devproto.TypeServerStatus).(*devproto.ServerStatus); got.Code != status.LoggedOut {
		t.Fatalf("device of the gone session told %v", got.Code)
	}
	eventually(t, "one session left", func() bool { return e.srv.Stats().Sessions == 1 })
	time.Sleep(100 * time.Millisecond) // more heartbeats
	if n := e.srv.Stats().Sessions; n != 1 {
		t.Fatalf("%d sessions held, want the one not gone", n)
	}
}

func TestTaskAddrIsValidated(t *testing.T) {
	for _, addr := range []string{"no-port", string(make([]byte, 300))} {
		if err := WithTaskAddr(addr)(&config{}); !errors.Is(err, ErrBadOption) {
			t.Errorf("WithTaskAddr(%.20q) = %v, want ErrBadOption", addr, err)
		}
	}
	if err := WithTaskAddr("")(&config{}); err != nil {
		t.Errorf("no task address: %v", err)
	}
}

type fakeLocations map[string]admission.Location // by session id

func (f fakeLocations) LocateSession(_ context.Context, _, sessionID string) (admission.Location, error) {
	loc, ok := f[sessionID]
	if !ok {
		return admission.Location{}, admission.ErrSessionGone
	}
	return loc, nil
}

func TestStoreLocatorMapsTheStoresAnswer(t *testing.T) {
	loc := StoreLocator{Store: fakeLocations{
		"s1": {Owner: "edge-a", Addr: "10.0.0.7:3102", Live: true},
		"s2": {Owner: "edge-b", Addr: "10.0.0.8:3102"},
	}}
	tests := []struct {
		session string
		want    SessionOwner
		wantErr error
	}{
		{"s1", SessionOwner{Task: "edge-a", Addr: "10.0.0.7:3102", Live: true}, nil},
		{"s2", SessionOwner{Task: "edge-b", Addr: "10.0.0.8:3102"}, nil},
		{"gone", SessionOwner{}, admission.ErrSessionGone},
	}
	for _, tt := range tests {
		t.Run(tt.session, func(t *testing.T) {
			got, err := loc.LocateSession(t.Context(), "dev", tt.session)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("LocateSession = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestStraySessions: a session the store has for this task but the task
// does not hold (its login's answer was lost, its release failed) is
// released once it has been stray longer than a login can take; one that
// stops being stray before that (a login in flight, then held) never is.
func TestStraySessions(t *testing.T) {
	stray := admission.SessionRef{Pool: "main", DeviceID: "device0009", ID: "STRAY"}
	for _, tc := range []struct {
		name         string
		loginTimeout time.Duration
		strayFor     time.Duration // then it is no longer reported
		released     bool
	}{
		{name: "stray past a login's time is released", loginTimeout: 50 * time.Millisecond, strayFor: time.Hour, released: true},
		{name: "stray while a login could still hold it is kept", loginTimeout: 5 * time.Second, strayFor: 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEdge(t, nil, WithHeartbeat(20*time.Millisecond), WithLoginTimeout(tc.loginTimeout))
			held := e.device(1)
			held.mustLogin()
			e.leases.mu.Lock()
			e.leases.strays = []admission.SessionRef{stray}
			e.leases.mu.Unlock()
			releasedStray := func() bool {
				for _, r := range e.fn.releases() {
					if r.Session == stray && r.Reason == "stray" {
						return true
					}
				}
				return false
			}
			if tc.released {
				eventually(t, "the stray released", releasedStray)
				if n := e.srv.Stats().Events["StrayReleased"]; n < 1 {
					t.Fatalf("StrayReleased = %d", n)
				}
			} else {
				time.Sleep(tc.strayFor) // many heartbeats
				e.leases.mu.Lock()
				e.leases.strays = nil
				e.leases.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
				if releasedStray() {
					t.Fatal("a session stray for less than a login's time was released")
				}
			}
			if n := e.srv.Stats().Sessions; n != 1 {
				t.Fatalf("%d sessions held, want the held one kept", n)
			}
		})
	}
}
