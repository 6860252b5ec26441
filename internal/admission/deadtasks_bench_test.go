package admission

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/collabgw/collabgw/internal/status"
)

// BenchmarkRefusedAtMaxWithDeadTasks measures what a login refused at the
// pool's maximum costs with no dead edge task and with deadTasks of them
// (lease lapsed, owning nothing in the pool, not yet deleted by the sweep:
// the ten minutes after a deployment replaced every task). Before it
// refuses, the login looks for the dead tasks' sessions to evict, one
// query each. Each iteration makes one refused login against each of two
// tables side by side, so the ratio holds on a loaded machine.
func BenchmarkRefusedAtMaxWithDeadTasks(b *testing.B) {
	const deadTasks = 16
	type side struct {
		e       *env
		user    string
		queries *atomic.Int64
		lat     []time.Duration
	}
	setup := func(dead int) *side {
		queries := new(atomic.Int64)
		e := newEnvWithDB(b, func(db DynamoDB) DynamoDB { return queryCounter{db, queries} })
		e.pool(PoolConfig{MaxSessions: 1})
		users := e.users("u", 2, "main")
		e.mustAdmit(users[0])
		for i := range dead {
			e.heartbeat(fmt.Sprintf("dead-%02d", i))
		}
		e.advance(DefaultLeaseDuration + time.Second) // only edge-1 renews
		queries.Store(0)
		return &side{e: e, user: users[1], queries: queries}
	}
	sides := []*side{setup(0), setup(deadTasks)}
	for b.Loop() {
		for _, s := range sides {
			l := s.e.login(s.user)
			t0 := time.Now()
			d, err := s.e.store.Admit(s.e.ctx, l)
			s.lat = append(s.lat, time.Since(t0))
			if err != nil || d.Status != status.ServerBusy {
				b.Fatalf("Admit = %v (%s), %v; want SERVER_BUSY", d.Status, d.Reason, err)
			}
		}
	}
	b.StopTimer()
	p50 := func(s *side) float64 {
		slices.Sort(s.lat)
		return float64(s.lat[len(s.lat)/2].Microseconds()) / 1000
	}
	n := float64(len(sides[0].lat))
	b.ReportMetric(p50(sides[0]), "p50-ms-0dead")
	b.ReportMetric(p50(sides[1]), fmt.Sprintf("p50-ms-%ddead", deadTasks))
	b.ReportMetric(float64(sides[0].queries.Load())/n, "queries/refusal-0dead")
	b.ReportMetric(float64(sides[1].queries.Load())/n, fmt.Sprintf("queries/refusal-%ddead", deadTasks))
	b.ReportMetric(p50(sides[1])/p50(sides[0]), "p50-ratio")
}

// queryCounter counts the Query calls made through it.
type queryCounter struct {
	DynamoDB
	n *atomic.Int64
}

func (q queryCounter) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	q.n.Add(1)
	return q.DynamoDB.Query(ctx, in, o...)
}
