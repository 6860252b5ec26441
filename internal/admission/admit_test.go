package admission

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/status"
)

func TestAdmitRules(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares the pool and returns the login to decide.
		setup      func(e *env) Login
		want       status.Code
		wantReason string
		wantEnded  []EndReason
		wantLive   int
	}{
		{
			name: "below the maximum a permitted user is admitted",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 2})
				e.user("alice", "main", true)
				return e.login("alice")
			},
			want: status.Accepted, wantReason: "admitted", wantLive: 1,
		},
		{
			name: "an unknown device is refused as revoked",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 2})
				e.user("alice", "main", true)
				l := e.login("alice")
				l.DeviceID = "dev-nobody"
				return l
			},
			want: status.DeviceRevoked, wantReason: "device-unknown",
		},
		{
			name: "a revoked device is refused",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 2})
				e.user("alice", "main", true)
				if err := e.store.RevokeDevice(e.ctx, "dev-alice"); err != nil {
					e.t.Fatal(err)
				}
				return e.login("alice")
			},
			want: status.DeviceRevoked, wantReason: "device-revoked",
		},
		{
			name: "a device presenting another key is refused",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 2})
				e.user("alice", "main", true)
				l := e.login("alice")
				l.DevicePublicKey = make([]byte, 32)
				return l
			},
			want: status.DeviceRevoked, wantReason: "device-key-mismatch",
		},
		{
			name: "a device bound to another user is refused",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 2})
				e.user("alice", "main", true)
				e.user("bob", "main", true)
				l := e.login("bob")
				l.DeviceID, l.DevicePublicKey = "dev-alice", e.keys["dev-alice"]
				return l
			},
			want: status.NotPermitted, wantReason: "device-bound-to-other-user",
		},
		{
			name: "a user not permitted to use the client is refused",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 2})
				e.user("alice", "main", false)
				return e.login("alice")
			},
			want: status.NotPermitted, wantReason: "user-not-permitted",
		},
		{
			name: "a not-permitted user at the maximum evicts nobody",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 1, IdleTimeout: time.Minute})
				e.user("idle", "main", true)
				e.user("mallory", "main", false)
				e.mustAdmit("idle")
				e.clock.Advance(2 * time.Minute)
				return e.login("mallory")
			},
			want: status.NotPermitted, wantReason: "user-not-permitted", wantLive: 1,
		},
		{
			name: "at the maximum without an idle timeout the server is busy",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 1})
				e.users("u", 2, "main")
				e.mustAdmit("u0000")
				e.advance(time.Hour) // idle, but its edge keeps renewing the lease
				return e.login("u0001")
			},
			want: status.ServerBusy, wantReason: "max-reached", wantLive: 1,
		},
		{
			name: "at the maximum with an idle timeout a silent session is evicted",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 1, IdleTimeout: time.Minute})
				e.users("u", 2, "main")
				s := e.mustAdmit("u0000")
				e.advance(30 * time.Second) // its edge marks it silent
				e.silent(s, s.Created)
				e.advance(31 * time.Second)
				return e.login("u0001")
			},
			want: status.Accepted, wantReason: "admitted", wantEnded: []EndReason{EndIdle}, wantLive: 1,
		},
		{
			name: "at the maximum a silent session is not evicted before its idle timeout",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 1, IdleTimeout: time.Minute})
				e.users("u", 2, "main")
				s := e.mustAdmit("u0000")
				e.advance(30 * time.Second)
				e.silent(s, s.Created)
				e.advance(29 * time.Second)
				return e.login("u0001")
			},
			want: status.ServerBusy, wantReason: "max-reached", wantLive: 1,
		},
		{
			name: "at the maximum with an idle timeout a session out of coverage is evicted",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 1, IdleTimeout: time.Hour})
				e.users("u", 2, "main")
				s := e.mustAdmit("u0000")
				e.outOfCoverage(s, e.clock.Now())
				return e.login("u0001")
			},
			want: status.Accepted, wantReason: "admitted", wantEnded: []EndReason{EndIdle}, wantLive: 1,
		},
		{
			name: "at the maximum with an idle timeout and only active sessions the server is busy",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 1, IdleTimeout: time.Minute})
				e.users("u", 2, "main")
				s := e.mustAdmit("u0000")
				e.advance(30 * time.Second) // silent a while, then STATUS again
				e.silent(s, s.Created)
				e.activity(s, Activity{Coverage: CoverageIn, LastStatus: e.clock.Now()})
				e.advance(2 * time.Minute) // STATUS keeps coming: nothing written
				return e.login("u0001")
			},
			want: status.ServerBusy, wantReason: "max-reached", wantLive: 1,
		},
		{
			name: "at the maximum a session of a dead task is evicted even without an idle timeout",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 1})
				e.users("u", 2, "main")
				e.mustAdmit("u0000")
				e.clock.Advance(DefaultLeaseDuration + time.Millisecond) // edge-1 stopped renewing
				return e.login("u0001")
			},
			want: status.Accepted, wantReason: "admitted", wantEnded: []EndReason{EndLeaseExpired}, wantLive: 1,
		},
		{
			name: "without a maximum the protocol limit answers failed 300",
			setup: func(e *env) Login {
				e.pool(PoolConfig{ProtocolLimit: 2, IdleTimeout: time.Minute})
				e.users("u", 3, "main")
				e.mustAdmit("u0000")
				e.mustAdmit("u0001")
				e.advance(2 * time.Minute) // idle, but idle eviction needs a maximum
				return e.login("u0002")
			},
			want: status.Failed300, wantReason: "protocol-limit-reached", wantLive: 2,
		},
		{
			name: "a replayed device timestamp is a protocol error",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 2})
				e.user("alice", "main", true)
				first := e.login("alice")
				e.admit(first)
				replay := first
				replay.RequestID = "another-request"
				return replay
			},
			want: status.ProtocolError, wantReason: "replayed-login", wantLive: 1,
		},
		{
			name: "a new login of the same device replaces its session, even at the maximum",
			setup: func(e *env) Login {
				e.pool(PoolConfig{MaxSessions: 1})
				e.user("alice", "main", true)
				e.mustAdmit("alice")
				return e.login("alice")
			},
			want: status.Accepted, wantReason: "admitted", wantEnded: []EndReason{EndReplaced}, wantLive: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			l := tt.setup(e)
			d := e.admit(l)
			if d.Status != tt.want || d.Reason != tt.wantReason {
				t.Fatalf("Admit = %v (%s), want %v (%s)", d.Status, d.Reason, tt.want, tt.wantReason)
			}
			var reasons []EndReason
			for _, x := range d.Ended {
				reasons = append(reasons, x.Reason)
			}
			if !slices.Equal(reasons, tt.wantEnded) {
				t.Errorf("ended %v, want %v", reasons, tt.wantEnded)
			}
			if (d.Session != nil) != (tt.want == status.Accepted) {
				t.Errorf("session = %v for status %v", d.Session, d.Status)
			}
			e.checkCounter("main", tt.wantLive)
		})
	}
}

func TestAdmitReplacementEndsOldSessionForItsEdge(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 5})
	e.user("alice", "main", true)
	first := e.mustAdmit("alice")
	second := e.mustAdmit("alice")
	if first.ID == second.ID {
		t.Fatal("replacement kept the session id")
	}
	gone, _, err := e.store.Reconcile(e.ctx, testTask, []SessionRef{first.SessionRef, second.SessionRef})
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || gone[0] != first.SessionRef {
		t.Fatalf("gone = %v, want only the replaced session", gone)
	}
	e.checkCounter("main", 1)
}

func TestAdmitSameRequestIsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 5})
	e.user("alice", "main", true)
	l := e.login("alice")
	first := e.admit(l)
	again := e.admit(l)
	if first.Status != status.Accepted || again.Status != status.Accepted || first.Session.ID != again.Session.ID {
		t.Fatalf("first %v %v, again %v %v", first.Status, first.Session, again.Status, again.Session)
	}
	e.checkCounter("main", 1)
}

func TestAdmitUnknownPoolIsAnError(t *testing.T) {
	e := newEnv(t)
	e.user("alice", "nowhere", true)
	_, err := e.store.Admit(e.ctx, e.login("alice"))
	if !errors.Is(err, ErrUnknownPool) {
		t.Fatalf("err = %v, want ErrUnknownPool", err)
	}
}

func TestAdmitRejectsMalformedLogins(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 1})
	e.user("alice", "main", true)
	tests := []struct {
		name   string
		mutate func(*Login)
	}{
		{"no request id", func(l *Login) { l.RequestID = "" }},
		{"no device", func(l *Login) { l.DeviceID = "" }},
		{"short key", func(l *Login) { l.DevicePublicKey = l.DevicePublicKey[:31] }},
		{"no device time", func(l *Login) { l.DeviceTime = time.Time{} }},
		{"no owner", func(l *Login) { l.Owner = "" }},
		{"resume token hash of 1 byte", func(l *Login) { l.ResumeTokenHash = []byte{1} }},
		{"no resume token hash", func(l *Login) { l.ResumeTokenHash = nil }},
		{"user id with a key separator", func(l *Login) { l.UserID = "a#b" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := e.login("alice")
			tt.mutate(&l)
			if _, err := e.store.Admit(e.ctx, l); !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
	e.checkCounter("main", 0)
}

func TestEvictionTakesOnlyAsManyAsNeededOldestFirst(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 3, IdleTimeout: time.Minute})
	e.users("u", 4, "main")
	var held []Session
	for i := range 3 {
		held = append(held, e.mustAdmit(fmt.Sprintf("u%04d", i)))
		e.advance(10 * time.Second)
	}
	oldest := held[0]
	e.advance(30 * time.Second)
	for _, s := range held {
		e.silent(s, s.Created)
	}
	e.advance(2 * time.Minute) // all three idle now
	d := e.admit(e.login("u0003"))
	if d.Status != status.Accepted || len(d.Ended) != 1 || d.Ended[0].Session != oldest.SessionRef {
		t.Fatalf("Admit = %v, ended %+v; want the oldest session evicted alone", d.Status, d.Ended)
	}
	e.checkCounter("main", 3)
}
