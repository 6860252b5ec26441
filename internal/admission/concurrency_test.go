package admission

import (
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/status"
)

// admitAll runs one login per user at once and counts the statuses.
func (e *env) admitAll(users []string) (map[status.Code]int, []Decision) {
	e.t.Helper()
	logins := make([]Login, len(users))
	for i, u := range users {
		logins[i] = e.login(u)
	}
	decisions := make([]Decision, len(users))
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range logins {
		wg.Go(func() {
			<-start
			decisions[i], errs[i] = e.store.Admit(e.ctx, logins[i])
		})
	}
	close(start)
	wg.Wait()
	counts := map[status.Code]int{}
	for i, err := range errs {
		if err != nil {
			e.t.Fatalf("Admit(%s): %v", users[i], err)
		}
		counts[decisions[i].Status]++
	}
	return counts, decisions
}

func TestConcurrentLoginsAdmitExactlyTheFreeSlots(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 50})
	users := e.users("u", 200, "main")
	counts, _ := e.admitAll(users)
	if counts[status.Accepted] != 50 || counts[status.ServerBusy] != 150 || len(counts) != 2 {
		t.Fatalf("statuses %v, want 50 ACCEPTED and 150 SERVER_BUSY", counts)
	}
	e.checkCounter("main", 50)
}

func TestConcurrentLoginsEvictExactlyTheIdleSessions(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 50, IdleTimeout: time.Minute})
	holders := e.users("h", 50, "main")
	for _, u := range holders {
		e.mustAdmit(u)
	}
	sessions, err := e.store.ListSessions(e.ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	// 30 sessions keep sending status messages (nothing is written); 20 go
	// silent and their edge marks them.
	e.advance(45 * time.Second)
	idle := map[SessionRef]bool{}
	for _, s := range sessions[:20] {
		idle[s.SessionRef] = true
		e.silent(s, s.Created)
	}
	e.advance(30 * time.Second)

	newcomers := e.users("n", 40, "main")
	counts, decisions := e.admitAll(newcomers)
	if counts[status.Accepted] != 20 || counts[status.ServerBusy] != 20 || len(counts) != 2 {
		t.Fatalf("statuses %v, want 20 ACCEPTED and 20 SERVER_BUSY", counts)
	}
	evicted := map[SessionRef]bool{}
	for _, d := range decisions {
		for _, x := range d.Ended {
			if x.Reason != EndIdle || !idle[x.Session] || evicted[x.Session] {
				t.Fatalf("ended %+v: not an idle session, or ended twice", x)
			}
			evicted[x.Session] = true
		}
	}
	if len(evicted) != 20 {
		t.Fatalf("%d sessions evicted, want the 20 idle ones", len(evicted))
	}
	e.checkCounter("main", 50)
}

func TestConcurrentLoginsOfOneDeviceKeepOneSession(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 5})
	e.user("alice", "main", true)
	users := make([]string, 10)
	for i := range users {
		users[i] = "alice"
	}
	counts, _ := e.admitAll(users)
	// Logins of one device serialize on the device item: each either wins
	// or loses to a newer timestamp; never two sessions.
	if counts[status.Accepted] == 0 {
		t.Fatalf("statuses %v: nobody admitted", counts)
	}
	for c := range counts {
		if c != status.Accepted && c != status.ProtocolError {
			t.Fatalf("statuses %v", counts)
		}
	}
	e.checkCounter("main", 1)
}
