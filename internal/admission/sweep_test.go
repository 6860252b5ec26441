package admission

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestSweepEndsTheSessionsOfDeadTasks(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 10})
	e.users("u", 4, "main")
	dead := e.mustAdmit("u0000") // edge-1 crashes: no more heartbeats
	e.heartbeat("edge-2")
	l := e.login("u0001")
	l.Owner = "edge-2"
	alive := *e.admit(l).Session
	l = e.login("u0002")
	l.Owner = "edge-never-registered"
	orphan := *e.admit(l).Session
	e.clock.Advance(DefaultLeaseDuration - time.Second)
	e.heartbeat("edge-2")
	report, err := e.store.Sweep(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps := report.Pools[0]; len(ps.Ended) != 0 || ps.Live != 3 {
		t.Fatalf("before any lease lapsed: ended %+v, live %d", ps.Ended, ps.Live)
	}
	e.clock.Advance(2 * time.Second)
	e.heartbeat("edge-2")
	report, err = e.store.Sweep(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps := report.Pools[0]
	got := map[SessionRef]EndReason{}
	for _, x := range ps.Ended {
		got[x.Session] = x.Reason
	}
	want := map[SessionRef]EndReason{dead.SessionRef: EndLeaseExpired, orphan.SessionRef: EndLeaseExpired}
	if len(got) != len(want) || got[dead.SessionRef] != want[dead.SessionRef] || got[orphan.SessionRef] != want[orphan.SessionRef] {
		t.Fatalf("ended %+v, want the dead task's and the orphan", ps.Ended)
	}
	if ps.Live != 1 || ps.Drift != 0 || ps.Repaired {
		t.Fatalf("report %+v", ps)
	}
	if gone, _, err := e.store.Reconcile(e.ctx, "edge-2", []SessionRef{alive.SessionRef}); err != nil || len(gone) != 0 {
		t.Fatalf("the live task's session: gone %v, %v", gone, err)
	}
	e.checkCounter("main", 1)
}

func TestSweepDeletesLongDeadTasksWithoutSessions(t *testing.T) {
	e := newEnv(t, WithTaskRetention(time.Minute))
	e.pool(PoolConfig{MaxSessions: 10})
	e.users("u", 1, "main")
	e.heartbeat("edge-idle") // dies holding nothing
	e.heartbeat("edge-busy") // dies holding a session
	l := e.login("u0000")
	l.Owner = "edge-busy"
	e.admit(l)
	e.clock.Advance(DefaultLeaseDuration + 30*time.Second)
	e.heartbeat(testTask)
	report, err := e.store.Sweep(e.ctx)
	if err != nil || len(report.TasksDeleted) != 0 || len(report.Pools[0].Ended) != 1 {
		t.Fatalf("within the retention: %+v, %v", report, err)
	}
	e.clock.Advance(time.Minute)
	e.heartbeat(testTask)
	report, err = e.store.Sweep(e.ctx)
	if err != nil || !slices.Equal(report.TasksDeleted, []string{"edge-busy", "edge-idle"}) {
		t.Fatalf("after the retention: deleted %v, %v", report.TasksDeleted, err)
	}
	tasks, err := e.store.ListTasks(e.ctx)
	if err != nil || len(tasks) != 1 || tasks[0].Task != testTask {
		t.Fatalf("tasks left %+v, %v", tasks, err)
	}
}

func TestSweepEndsInactiveSessionsBelowTheMaximum(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 10, InactivityTimeout: 2 * time.Minute})
	e.users("u", 3, "main")
	quiet := e.mustAdmit("u0000")
	away := e.mustAdmit("u0001")
	chatty := e.mustAdmit("u0002") // keeps sending STATUS: never written
	e.advance(time.Minute)
	e.silent(quiet, quiet.Created)
	e.outOfCoverage(away, e.clock.Now()) // its last STATUS was a minute ago
	e.advance(61 * time.Second)
	report, err := e.store.Sweep(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps := report.Pools[0]
	if len(ps.Ended) != 1 || ps.Ended[0].Session != quiet.SessionRef || ps.Ended[0].Reason != EndInactivity {
		t.Fatalf("ended %+v, want only the quiet session", ps.Ended)
	}
	e.advance(time.Minute) // away's last STATUS is now 2 min 1 s old
	report, err = e.store.Sweep(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps := report.Pools[0]; len(ps.Ended) != 1 || ps.Ended[0].Session != away.SessionRef || ps.Ended[0].Reason != EndInactivity {
		t.Fatalf("second sweep ended %+v, want the session out of coverage", ps.Ended)
	}
	gone, _, err := e.store.Reconcile(e.ctx, testTask, []SessionRef{quiet.SessionRef, away.SessionRef, chatty.SessionRef})
	if err != nil || len(gone) != 2 || slices.Contains(gone, chatty.SessionRef) {
		t.Fatalf("gone %v, %v; want the quiet and the away sessions", gone, err)
	}
	e.checkCounter("main", 1)
}

func TestSweepRepairsACorruptedCounter(t *testing.T) {
	tests := []struct {
		name      string
		corrupt   int
		wantDrift int
	}{
		{"counter too high", 7, 5},
		{"counter too low", 0, -2},
		{"counter negative", -3, -5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.pool(PoolConfig{MaxSessions: 10})
			e.users("u", 2, "main")
			e.mustAdmit("u0000")
			e.mustAdmit("u0001")
			_, err := e.db.UpdateItem(e.ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(e.store.Table()),
				Key:                       counterKey("main").av(),
				UpdateExpression:          aws.String("SET live = :n"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: itoa(tt.corrupt)}},
			})
			if err != nil {
				t.Fatal(err)
			}
			report, err := e.store.Sweep(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			ps := report.Pools[0]
			if ps.Drift != tt.wantDrift || !ps.Repaired || ps.Live != 2 {
				t.Fatalf("report %+v, want drift %d repaired", ps, tt.wantDrift)
			}
			e.checkCounter("main", 2)
			again, err := e.store.Sweep(e.ctx)
			if err != nil || again.Pools[0].Drift != 0 || again.Pools[0].Repaired {
				t.Fatalf("second sweep %+v, %v; want no drift", again, err)
			}
		})
	}
}

func TestSessionWritesOnAnEndedSessionSayGone(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 10})
	e.user("alice", "main", true)
	s := e.mustAdmit("alice")
	var seq uint64
	ops := []struct {
		name string
		call func(owner string) error
	}{
		{"set activity", func(o string) error {
			seq++
			return e.store.SetActivity(e.ctx, o, s.SessionRef, Activity{Coverage: CoverageOut, CoverageSince: e.clock.Now(), LastStatus: e.clock.Now(), Seq: seq})
		}},
		{"set connectivity", func(o string) error {
			return e.store.SetConnectivity(e.ctx, o, s.SessionRef, Connectivity{UserDN: "cn=alice"})
		}},
		{"reconcile", func(o string) error {
			gone, _, err := e.store.Reconcile(e.ctx, o, []SessionRef{s.SessionRef})
			if err == nil && len(gone) == 1 {
				return ErrSessionGone
			}
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name+" by another edge", func(t *testing.T) {
			if err := op.call("edge-2"); !errors.Is(err, ErrSessionGone) {
				t.Fatalf("err = %v, want ErrSessionGone", err)
			}
		})
		t.Run(op.name+" by the owner", func(t *testing.T) {
			if err := op.call(testTask); err != nil {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if err := e.store.Release(e.ctx, s.SessionRef); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Release(e.ctx, s.SessionRef); err != nil {
		t.Fatalf("second release = %v, want nil", err)
	}
	for _, op := range ops {
		t.Run(op.name+" after release", func(t *testing.T) {
			if err := op.call(testTask); !errors.Is(err, ErrSessionGone) {
				t.Fatalf("err = %v, want ErrSessionGone", err)
			}
		})
	}
	e.checkCounter("main", 0)
}

func TestRevokingADeviceEndsItsSession(t *testing.T) {
	e := newEnv(t)
	e.pool(PoolConfig{MaxSessions: 10})
	e.user("alice", "main", true)
	e.mustAdmit("alice")
	if err := e.store.RevokeDevice(e.ctx, "dev-alice"); err != nil {
		t.Fatal(err)
	}
	e.checkCounter("main", 0)
	if err := e.store.RevokeDevice(e.ctx, "dev-nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown = %v, want ErrNotFound", err)
	}
}

func TestPoolConfigValidation(t *testing.T) {
	e := newEnv(t)
	gw := GroupWiseTarget{Host: "gw.example.com"}
	tests := []struct {
		name      string
		cfg       PoolConfig
		wantField string
	}{
		{"defaults are filled in", PoolConfig{Name: "p", GroupWise: gw}, ""},
		{"name required", PoolConfig{GroupWise: gw}, "name"},
		{"negative maximum", PoolConfig{Name: "p", MaxSessions: -1, GroupWise: gw}, "maxSessions"},
		{"maximum above the protocol limit", PoolConfig{Name: "p", MaxSessions: 6000, GroupWise: gw}, "maxSessions"},
		{"negative idle timeout", PoolConfig{Name: "p", IdleTimeout: -time.Second, GroupWise: gw}, "idleTimeout"},
		{"sub-second idle timeout", PoolConfig{Name: "p", IdleTimeout: time.Millisecond, GroupWise: gw}, "idleTimeout"},
		{"year-long inactivity timeout", PoolConfig{Name: "p", InactivityTimeout: 365 * 24 * time.Hour, GroupWise: gw}, "inactivityTimeout"},
		{"no GroupWise host", PoolConfig{Name: "p"}, "groupwise.host"},
		{"port out of range", PoolConfig{Name: "p", GroupWise: GroupWiseTarget{Host: "gw", Port: 70000}}, "groupwise.port"},
		{"pin not hex", PoolConfig{Name: "p", GroupWise: GroupWiseTarget{Host: "gw", PinSHA256: "xyz"}}, "groupwise.pinSha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.store.PutPool(e.ctx, tt.cfg)
			if tt.wantField == "" {
				if err != nil || got.ProtocolLimit != DefaultProtocolLimit || got.GroupWise.Port != DefaultGroupWisePort {
					t.Fatalf("PutPool = %+v, %v", got, err)
				}
				stored, err := e.store.GetPool(e.ctx, tt.cfg.Name)
				if err != nil || stored != got {
					t.Fatalf("GetPool = %+v, %v; want %+v", stored, err, got)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.wantField || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want a ConfigError on %s", err, tt.wantField)
			}
		})
	}
}

func TestNewValidatesOptions(t *testing.T) {
	client := &faultyDB{}
	tests := []struct {
		name string
		db   DynamoDB
		opts []Option
	}{
		{"nil client", nil, nil},
		{"lease shorter than two heartbeats", client, []Option{WithLease(50*time.Second, 30*time.Second)}},
		{"no clock skew allowed", client, []Option{WithMaxClockSkew(0)}},
		{"pool cache of no entries", client, []Option{WithPoolCache(time.Second, 0)}},
		{"negative task retention", client, []Option{WithTaskRetention(-time.Second)}},
		{"no sweep rate", client, []Option{WithSweepRate(0)}},
		{"zero heartbeat", client, []Option{WithLease(time.Minute, 0)}},
		{"zero attempts", client, []Option{WithMaxAttempts(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.db, "t", tt.opts...); !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
	if _, err := New(client, ""); err == nil {
		t.Fatal("empty table accepted")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestSweepEndsEverySessionOfACrashedEdge(t *testing.T) {
	e := newEnv(t, WithRenewConcurrency(4))
	e.pool(PoolConfig{MaxSessions: 100})
	for _, u := range e.users("u", 40, "main") {
		e.mustAdmit(u)
	}
	e.clock.Advance(DefaultLeaseDuration + time.Second)
	report, err := e.store.Sweep(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ps := report.Pools[0]; len(ps.Ended) != 40 || ps.Live != 0 || ps.Drift != 0 {
		t.Fatalf("ended %d, live %d, drift %d; want all 40 ended", len(ps.Ended), ps.Live, ps.Drift)
	}
	e.checkCounter("main", 0)
}
