package admission

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/status"
)

// holdOn admits one session for each of users on task.
func (e *env) holdOn(task string, users []string) []Session {
	e.t.Helper()
	var out []Session
	for _, u := range users {
		l := e.login(u)
		l.Owner = task
		d := e.admit(l)
		if d.Status != status.Accepted {
			e.t.Fatalf("Admit(%s) on %s = %v (%s)", u, task, d.Status, d.Reason)
		}
		out = append(out, *d.Session)
	}
	return out
}

func TestDeadTaskSessionsAreEvictableAtTheMaximumAtOnce(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 5}) // no idle timeout: only dead tasks make room
	e.heartbeat("edge-2")
	held := e.holdOn("edge-2", e.users("h", 5, "main"))
	newcomers := e.users("n", 6, "main")

	// edge-2 stops renewing; until its lease lapses nothing is evictable.
	e.advance(DefaultLeaseDuration - time.Second)
	if d := e.admit(e.login(newcomers[0])); d.Status != status.ServerBusy {
		t.Fatalf("before the lease lapsed: %v (%s), want SERVER_BUSY", d.Status, d.Reason)
	}
	e.advance(2 * time.Second)
	counts, decisions := e.admitAll(newcomers[1:])
	if counts[status.Accepted] != 5 || len(counts) != 1 {
		t.Fatalf("after the lease lapsed: %v, want 5 ACCEPTED", counts)
	}
	evicted := map[SessionRef]bool{}
	for _, d := range decisions {
		for _, x := range d.Ended {
			if x.Reason != EndLeaseExpired || x.Owner != "edge-2" || evicted[x.Session] {
				t.Fatalf("ended %+v", x)
			}
			evicted[x.Session] = true
		}
	}
	for _, s := range held {
		if !evicted[s.SessionRef] {
			t.Fatalf("session %s of the dead task was not evicted", s.ID)
		}
	}
	e.checkCounter("main", 5)
}

func TestATaskThatRenewsInTimeKeepsItsSessions(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 3})
	e.heartbeat("edge-2")
	held := e.holdOn("edge-2", e.users("h", 3, "main"))
	others := e.users("n", 2, "main")
	e.advance(DefaultLeaseDuration + time.Second) // edge-2 paused past its lease
	first := e.admit(e.login(others[0]))
	if first.Status != status.Accepted || len(first.Ended) != 1 {
		t.Fatalf("first login: %v, ended %v", first.Status, first.Ended)
	}
	e.heartbeat("edge-2") // back: its lease runs again
	if d := e.admit(e.login(others[1])); d.Status != status.ServerBusy {
		t.Fatalf("after the renewal: %v, want SERVER_BUSY", d.Status)
	}
	refs := []SessionRef{held[0].SessionRef, held[1].SessionRef, held[2].SessionRef}
	gone, _, err := e.store.Reconcile(e.ctx, "edge-2", refs)
	if err != nil || len(gone) != 1 || gone[0] != first.Ended[0].Session {
		t.Fatalf("reconcile: %v, %v; want only the evicted session", gone, err)
	}
	report, err := e.store.Sweep(e.ctx)
	if err != nil || len(report.Pools[0].Ended) != 0 {
		t.Fatalf("sweep of a live task: %+v, %v", report, err)
	}
	e.checkCounter("main", 3)
}

// laggingIndex hides the newest items from owner-index queries, as a global
// index that has not caught up would.
type laggingIndex struct {
	DynamoDB
	hide map[string]bool // session ids
}

func (l *laggingIndex) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := l.DynamoDB.Query(ctx, in, o...)
	if err != nil || aws.ToString(in.IndexName) != ownerIndex {
		return out, err
	}
	kept := out.Items[:0]
	for _, it := range out.Items {
		var s sessionItem
		_ = attributevalue.UnmarshalMap(it, &s)
		if !l.hide[s.ID] {
			kept = append(kept, it)
		}
	}
	out.Items = kept
	return out, nil
}

func TestReconcileFindsSessionsEndedElsewhere(t *testing.T) {
	lag := &laggingIndex{hide: map[string]bool{}}
	e := newEnvWithDB(t, func(db DynamoDB) DynamoDB { lag.DynamoDB = db; return lag })
	e.pool(PoolConfig{MaxSessions: 10, IdleTimeout: time.Minute})
	e.users("u", 6, "main")
	held := e.holdOn(testTask, []string{"u0000", "u0001", "u0002", "u0003", "u0004"})
	// Elsewhere: one evicted as idle by a login through another task, one
	// device revoked, one replaced by a newer login on another task, one
	// released by an operator; the fifth stays, and is not yet in the index.
	e.advance(30 * time.Second)
	e.silent(held[0], held[0].Created)
	e.advance(31 * time.Second)
	if _, err := e.store.PutPool(e.ctx, PoolConfig{Name: "main", MaxSessions: 5, IdleTimeout: time.Minute, GroupWise: GroupWiseTarget{Host: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	l := e.login("u0005")
	l.Owner = "edge-2"
	if d := e.admit(l); d.Status != status.Accepted || len(d.Ended) != 1 || d.Ended[0].Session != held[0].SessionRef {
		t.Fatalf("eviction elsewhere: %v, ended %+v", d.Status, d.Ended)
	}
	if err := e.store.RevokeDevice(e.ctx, held[1].DeviceID); err != nil {
		t.Fatal(err)
	}
	l = e.login("u0002")
	l.Owner = "edge-2"
	if d := e.admit(l); d.Status != status.Accepted {
		t.Fatalf("replacement elsewhere: %v", d.Status)
	}
	if err := e.store.Release(e.ctx, held[3].SessionRef); err != nil {
		t.Fatal(err)
	}
	lag.hide[held[4].ID] = true

	refs := make([]SessionRef, len(held))
	for i, s := range held {
		refs[i] = s.SessionRef
	}
	gone, _, err := e.store.Reconcile(e.ctx, testTask, refs)
	if err != nil {
		t.Fatal(err)
	}
	want := refs[:4]
	slices.SortFunc(gone, func(a, b SessionRef) int { return compareRef(a, b) })
	slices.SortFunc(want, func(a, b SessionRef) int { return compareRef(a, b) })
	if !slices.Equal(gone, want) {
		t.Fatalf("gone %v, want %v (and never the session the index lags on)", gone, want)
	}
}

func compareRef(a, b SessionRef) int {
	switch {
	case a.String() < b.String():
		return -1
	case a.String() > b.String():
		return 1
	}
	return 0
}

func TestNoWritesWhileDevicesSendStatus(t *testing.T) {
	m := &meter{}
	e := newEnvWithDB(t, func(db DynamoDB) DynamoDB { m.DynamoDB = db; return m })
	e.pool(PoolConfig{MaxSessions: 100, IdleTimeout: 10 * time.Minute})
	sim := heldSim{sessions: 20, tasks: 2, idle: 10 * time.Minute}
	sim.start(e)
	m.reset()
	sim.run(time.Hour)
	u := m.snapshot()
	// One lease renewal per task and heartbeat, and nothing else.
	beats := float64(2 * int(time.Hour/e.store.HeartbeatInterval()))
	if u.WriteRequests != beats {
		t.Fatalf("%v writes in an hour of STATUS from 20 devices on 2 tasks, want %v (the heartbeats alone)", u.WriteRequests, beats)
	}
	if u.IndexUnits != 0 {
		t.Fatalf("%v index write units, want none", u.IndexUnits)
	}
}

func TestSilenceIsWrittenOnceAndEvictableAtLastStatusPlusIdle(t *testing.T) {
	const idle = time.Minute
	m := &meter{}
	e := newEnvWithDB(t, func(db DynamoDB) DynamoDB { m.DynamoDB = db; return m })
	e.pool(PoolConfig{MaxSessions: 3, IdleTimeout: idle})
	sim := heldSim{sessions: 3, tasks: 1, idle: idle, silentFrom: e.clock.Now().Add(time.Minute)}
	sim.start(e)
	newcomer := e.users("n", 1, "main")[0]
	m.reset()
	sim.run(time.Minute + 30*time.Second) // past the silence threshold
	u := m.snapshot()
	beats := float64(int((time.Minute + 30*time.Second) / e.store.HeartbeatInterval()))
	if u.WriteRequests != beats+3 {
		t.Fatalf("%v writes, want %v heartbeats and one silence mark per session", u.WriteRequests, beats)
	}
	first := sim.devs[0] // the first to go silent
	for _, d := range sim.devs {
		if d.lastStatus.Before(first.lastStatus) {
			first = d
		}
	}
	// Evictable from its last STATUS + idle, not a moment before.
	sim.run(first.lastStatus.Add(idle).Sub(e.clock.Now()) - time.Second)
	if d := e.admit(e.login(newcomer)); d.Status != status.ServerBusy {
		t.Fatalf("1 s before the idle timeout: %v, want SERVER_BUSY", d.Status)
	}
	sim.run(2 * time.Second)
	d := e.admit(e.login(newcomer))
	if d.Status != status.Accepted || len(d.Ended) != 1 || d.Ended[0].Reason != EndIdle || d.Ended[0].Session != first.s.SessionRef {
		t.Fatalf("1 s after the idle timeout: %v, ended %+v; want %s evicted", d.Status, d.Ended, first.s.ID)
	}
	e.checkCounter("main", 3)
}

func TestStatusTiming(t *testing.T) {
	tests := []struct {
		name             string
		idle, inactivity time.Duration
		want             time.Duration
	}{
		{"no timeouts", 0, 0, DefaultStatusInterval},
		{"long idle timeout", time.Hour, 0, DefaultStatusInterval},
		{"idle timeout", 2 * time.Minute, 0, 30 * time.Second},
		{"inactivity shorter than idle", 10 * time.Minute, time.Minute, 15 * time.Second},
		{"tiny timeout", 0, time.Second, MinStatusInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			interval, silent := StatusTiming(tt.idle, tt.inactivity)
			if interval != tt.want || silent != 2*tt.want {
				t.Fatalf("StatusTiming = %v, %v; want %v, %v", interval, silent, tt.want, 2*tt.want)
			}
			// The silence mark lands by half the shortest timeout.
			for _, to := range []time.Duration{tt.idle, tt.inactivity} {
				if to >= 4*MinStatusInterval && silent > to/2 {
					t.Fatalf("silent after %v, more than half of %v", silent, to)
				}
			}
		})
	}
}

func TestStaleActivityWritesAreSkipped(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 5})
	e.user("alice", "main", true)
	s := e.mustAdmit("alice")
	now := e.clock.Now()
	e.activity(s, Activity{Coverage: CoverageOut, CoverageSince: now, LastStatus: now, Seq: 5})
	e.activity(s, Activity{Coverage: CoverageIn, CoverageSince: now, LastStatus: now, Seq: 4}) // crossed
	sessions, err := e.store.ListSessions(e.ctx, "main")
	if err != nil || len(sessions) != 1 || sessions[0].Coverage != CoverageOut {
		t.Fatalf("sessions %+v, %v; want the newer write (out) kept", sessions, err)
	}
	e.activity(s, Activity{Coverage: CoverageIn, CoverageSince: now, LastStatus: now, Seq: 6})
	sessions, err = e.store.ListSessions(e.ctx, "main")
	if err != nil || sessions[0].Coverage != CoverageIn || sessions[0].Silent {
		t.Fatalf("sessions %+v, %v", sessions, err)
	}
	bad := []Activity{
		{Coverage: "sideways", LastStatus: now, Seq: 7},
		{Coverage: CoverageOut, LastStatus: now, Seq: 7},
		{Coverage: CoverageIn, Seq: 7},
		{Coverage: CoverageIn, LastStatus: now},
	}
	for _, a := range bad {
		if err := e.store.SetActivity(e.ctx, testTask, s.SessionRef, a); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("SetActivity(%+v) = %v, want ErrInvalidRequest", a, err)
		}
	}
}

func TestLocateSession(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 10})
	e.users("u", 4, "main")
	e.heartbeat("edge-2")
	live := e.mustAdmit("u0000")
	onDead := e.holdOn("edge-2", []string{"u0001"})[0]
	orphan := e.holdOn("edge-unknown", []string{"u0002"})[0]
	ended := e.mustAdmit("u0003")
	if err := e.store.Release(e.ctx, ended.SessionRef); err != nil {
		t.Fatal(err)
	}
	e.advance(DefaultLeaseDuration) // edge-1 renews, edge-2 does not
	tests := []struct {
		name      string
		device    string
		session   string
		want      Location
		wantErr   error
		wantAlive bool
	}{
		{"owner alive", live.DeviceID, live.ID, Location{Session: live.SessionRef, Owner: testTask, Addr: testTask + ".internal:3102", Live: true}, nil, true},
		{"owner dead", onDead.DeviceID, onDead.ID, Location{Session: onDead.SessionRef, Owner: "edge-2", Addr: "edge-2.internal:3102"}, nil, false},
		{"owner never registered", orphan.DeviceID, orphan.ID, Location{Session: orphan.SessionRef, Owner: "edge-unknown"}, nil, false},
		{"another session of the device", live.DeviceID, "NOTTHISONE", Location{}, ErrSessionGone, false},
		{"an ended session", ended.DeviceID, ended.ID, Location{}, ErrSessionGone, false},
		{"an unknown device", "dev-nobody", live.ID, Location{}, ErrSessionGone, false},
		{"no session id", live.DeviceID, "", Location{}, ErrInvalidRequest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.store.LocateSession(e.ctx, tt.device, tt.session)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantAlive != got.LeaseExpires.After(e.clock.Now()) {
				t.Errorf("lease expires %v at %v", got.LeaseExpires, e.clock.Now())
			}
			got.LeaseExpires = time.Time{}
			if got != tt.want {
				t.Fatalf("LocateSession = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTaskLease(t *testing.T) {
	e := newEnv(t)
	first := e.heartbeat("edge-9")
	if !first.Expires.Equal(e.clock.Now().Add(DefaultLeaseDuration).Truncate(time.Millisecond)) || !first.Live(e.clock.Now()) {
		t.Fatalf("first lease %+v at %v", first, e.clock.Now())
	}
	e.clock.Advance(5 * time.Second)
	again := e.heartbeat("edge-9")
	if !again.Started.Equal(first.Started) || !again.Expires.After(first.Expires) {
		t.Fatalf("renewal %+v after %+v", again, first)
	}
	if err := e.store.ExpireTaskLease(e.ctx, "edge-9"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ExpireTaskLease(e.ctx, "edge-never"); err != nil {
		t.Fatalf("expiring an unknown task: %v", err)
	}
	tasks, err := e.store.ListTasks(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.Task == "edge-9" && task.Live(e.clock.Now()) {
			t.Fatalf("expired task still live: %+v", task)
		}
		if task.Task == "edge-never" {
			t.Fatal("expiring an unknown task registered it")
		}
	}
	for _, bad := range []struct{ task, addr string }{{"", "a:1"}, {"a#b", "a:1"}, {"ok", string(make([]byte, MaxTaskAddrLen+1))}} {
		if _, err := e.store.RenewTaskLease(e.ctx, bad.task, bad.addr); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("RenewTaskLease(%q) = %v, want ErrInvalidRequest", bad.task, err)
		}
	}
}

func TestAdmitEnforcesTheClockWindow(t *testing.T) {
	tests := []struct {
		name   string
		offset func(now time.Time) time.Time
	}{
		{"six minutes ahead", func(now time.Time) time.Time { return now.Add(6 * time.Minute) }},
		{"six minutes behind", func(now time.Time) time.Time { return now.Add(-6 * time.Minute) }},
		{"decades ahead", func(now time.Time) time.Time { return now.AddDate(74, 0, 0) }},
		{"year 9999", func(time.Time) time.Time { return time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) }}, // calendar-free: beyond any clock, the overflow case
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.pool(PoolConfig{MaxSessions: 5})
			e.user("alice", "main", true)
			l := e.login("alice")
			l.DeviceTime = tt.offset(e.clock.Now())
			d := e.admit(l)
			if d.Status != status.ProtocolError || d.Reason != "device-clock-skew" {
				t.Fatalf("Admit = %v (%s), want PROTOCOL_ERROR (device-clock-skew)", d.Status, d.Reason)
			}
			e.checkCounter("main", 0)
			// Nothing was stored: the next login with a right clock works.
			if d := e.admit(e.login("alice")); d.Status != status.Accepted {
				t.Fatalf("next login: %v (%s), want ACCEPTED", d.Status, d.Reason)
			}
		})
	}
	t.Run("within the window", func(t *testing.T) {
		e := newEnv(t)
		e.pool(PoolConfig{MaxSessions: 5})
		e.user("alice", "main", true)
		l := e.login("alice")
		l.DeviceTime = e.clock.Now().Add(4 * time.Minute)
		if d := e.admit(l); d.Status != status.Accepted {
			t.Fatalf("Admit = %v (%s)", d.Status, d.Reason)
		}
	})
}

func TestAdmitCostsOneReadAndOneTransaction(t *testing.T) {
	m := &meter{}
	e := newEnvWithDB(t, func(db DynamoDB) DynamoDB { m.DynamoDB = db; return m })
	e.pool(PoolConfig{MaxSessions: 5})
	users := e.users("u", 3, "main")
	tests := []struct {
		name          string
		user          string
		reads, writes float64
	}{
		{"first login of the pool reads its configuration", users[0], 2, 1},
		{"next login", users[1], 1, 1},
		{"a device replacing its session", users[1], 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.reset()
			e.mustAdmit(tt.user)
			if u := m.snapshot(); u.ReadRequests != tt.reads || u.WriteRequests != tt.writes {
				t.Fatalf("%v reads and %v writes, want %v and %v", u.ReadRequests, u.WriteRequests, tt.reads, tt.writes)
			}
		})
	}
}

func TestPoolConfigurationIsCachedForSeconds(t *testing.T) {
	e := newEnv(t, WithPoolCache(5*time.Second, 2))
	e.pool(PoolConfig{MaxSessions: 1})
	e.users("u", 3, "main")
	e.mustAdmit("u0000")
	other, err := New(e.db, e.store.Table(), WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.PutPool(e.ctx, PoolConfig{Name: "main", MaxSessions: 3, GroupWise: GroupWiseTarget{Host: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	if d := e.admit(e.login("u0001")); d.Status != status.ServerBusy {
		t.Fatalf("within the cache time: %v, want SERVER_BUSY under the cached maximum", d.Status)
	}
	e.advance(5 * time.Second)
	if d := e.admit(e.login("u0001")); d.Status != status.Accepted {
		t.Fatalf("after the cache time: %v, want the new maximum", d.Status)
	}
	// A change made through this store applies at once.
	e.pool(PoolConfig{MaxSessions: 2})
	if d := e.admit(e.login("u0002")); d.Status != status.ServerBusy {
		t.Fatalf("after a local change: %v, want SERVER_BUSY", d.Status)
	}
}

func TestAdmitMovesADeviceToItsUsersNewPool(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{Name: "a", MaxSessions: 5})
	e.pool(PoolConfig{Name: "b", MaxSessions: 5})
	e.user("alice", "a", true)
	old := e.mustAdmit("alice")
	if err := e.store.PutUser(e.ctx, User{ID: "alice", Pool: "b", Permitted: true}); err != nil {
		t.Fatal(err)
	}
	d := e.admit(e.login("alice"))
	if d.Status != status.Accepted || d.Session.Pool != "b" || len(d.Ended) != 1 || d.Ended[0].Session != old.SessionRef {
		t.Fatalf("Admit = %v, session %+v, ended %+v", d.Status, d.Session, d.Ended)
	}
	e.checkCounter("a", 0)
	e.checkCounter("b", 1)
}

func TestAdmitSurvivesADanglingDevicePointer(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 5})
	e.user("alice", "main", true)
	old := e.mustAdmit("alice")
	// An operator deletes the session item by hand (and the count with it).
	_, err := e.db.DeleteItem(e.ctx, &dynamodb.DeleteItemInput{TableName: aws.String(e.store.Table()), Key: sessionKey("main", old.DeviceID).av()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Sweep(e.ctx); err != nil {
		t.Fatal(err)
	}
	d := e.admit(e.login("alice"))
	if d.Status != status.Accepted || len(d.Ended) != 0 {
		t.Fatalf("Admit = %v (%s), ended %+v", d.Status, d.Reason, d.Ended)
	}
	e.checkCounter("main", 1)
}

// TestMaxClockSkewMatchesTheEdge: the package does not import devproto
// (the functions' binaries would carry the Noise and zstd code), so its
// window is restated, and must stay the edge's.
func TestMaxClockSkewMatchesTheEdge(t *testing.T) {
	if DefaultMaxClockSkew != devproto.DefaultMaxClockSkew {
		t.Fatalf("DefaultMaxClockSkew %v, the edge's devproto.DefaultMaxClockSkew %v", DefaultMaxClockSkew, devproto.DefaultMaxClockSkew)
	}
}

// TestWhichIndexesEachWriteTouches pins where each write spends index
// units, as DynamoDB Local reports them: a heartbeat, a connectivity write
// and a STATUS touch no index; an admission writes the owner index only
// (an active session is not in the sparse activity index); an activity
// change writes the activity index only (the owner index projects none of
// its attributes). A projection widened by mistake shows here.
func TestWhichIndexesEachWriteTouches(t *testing.T) {
	m := &meter{}
	e := newEnvWithDB(t, func(db DynamoDB) DynamoDB { m.DynamoDB = db; return m })
	e.pool(PoolConfig{MaxSessions: 5})
	e.users("u", 2, "main")
	e.mustAdmit("u0000") // the pool's configuration is cached from here
	var s Session
	tests := []struct {
		name    string
		do      func()
		indexes []string
	}{
		{"admission", func() { s = e.mustAdmit("u0001") }, []string{ownerIndex}},
		{"heartbeat", func() { e.heartbeat(testTask) }, nil},
		{"connectivity", func() {
			if err := e.store.SetConnectivity(e.ctx, testTask, s.SessionRef, Connectivity{UserDN: "cn=u0001"}); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"silent", func() { e.silent(s, e.clock.Now()) }, []string{activityIndex}},
		{"active again", func() { e.activity(s, Activity{Coverage: CoverageIn, LastStatus: e.clock.Now()}) }, []string{activityIndex}},
		{"out of coverage", func() { e.outOfCoverage(s, e.clock.Now()) }, []string{activityIndex}},
		{"release while out of coverage", func() {
			if err := e.store.Release(e.ctx, s.SessionRef); err != nil {
				t.Fatal(err)
			}
		}, []string{activityIndex, ownerIndex}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m.reset()
			tt.do()
			u := m.snapshot()
			var got []string
			for name, units := range u.ByIndex {
				if units > 0 {
					got = append(got, name)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.indexes) {
				t.Fatalf("index units on %v (%v), want on %v", got, u.ByIndex, tt.indexes)
			}
		})
	}
}

// TestReconcileListsOwnedSessionsNotHeld: a session the store has
// for the task but the task does not hold (its login's answer was lost,
// or its release failed) is a stray, reported with or without held
// sessions; another task's sessions and the held ones never are.
func TestReconcileListsOwnedSessionsNotHeld(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 10})
	e.users("u", 4, "main")
	mine := e.holdOn(testTask, []string{"u0000", "u0001", "u0002"})
	e.holdOn("edge-2", []string{"u0003"})

	for _, tc := range []struct {
		name string
		held []SessionRef
		want []SessionRef
	}{
		{"one not held", []SessionRef{mine[0].SessionRef, mine[1].SessionRef}, []SessionRef{mine[2].SessionRef}},
		{"none held", nil, []SessionRef{mine[0].SessionRef, mine[1].SessionRef, mine[2].SessionRef}},
		{"all held", []SessionRef{mine[0].SessionRef, mine[1].SessionRef, mine[2].SessionRef}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gone, strays, err := e.store.Reconcile(e.ctx, testTask, tc.held)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(strays, compareRef)
			if len(gone) != 0 || !slices.Equal(strays, tc.want) {
				t.Fatalf("gone %v, strays %v; want no gone, strays %v", gone, strays, tc.want)
			}
		})
	}
	// Released, a stray is no longer one.
	if err := e.store.Release(e.ctx, mine[2].SessionRef); err != nil {
		t.Fatal(err)
	}
	_, strays, err := e.store.Reconcile(e.ctx, testTask, []SessionRef{mine[0].SessionRef, mine[1].SessionRef})
	if err != nil || len(strays) != 0 {
		t.Fatalf("after the release: strays %v, %v", strays, err)
	}
	e.checkCounter("main", 3)
}
