package admission

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
)

// PoolSweep is what one sweep did to one pool.
type PoolSweep struct {
	Pool string `json:"pool"`
	// Ended lists the sessions ended for an expired lease or inactivity.
	Ended []Ended `json:"ended,omitempty"`
	// Live is the number of live sessions after the sweep.
	Live int `json:"live"`
	// Drift is the counter minus the live sessions found before repair;
	// anything but 0 is a bug or a manual edit worth an alarm.
	Drift int `json:"drift"`
	// Repaired is true when the counter was corrected.
	Repaired bool `json:"repaired"`
}

// SweepReport is what one sweep did.
type SweepReport struct {
	Pools []PoolSweep `json:"pools"`
}

// Sweep runs every minute: in each pool it ends sessions whose lease
// expired (their edge task died) and, when the pool has an inactivity
// timeout, sessions whose device has been silent longer than it, whatever
// the count; then it recounts the live sessions and repairs a drifted
// counter. It carries on past a failing pool and returns the first error.
func (s *Store) Sweep(ctx context.Context) (SweepReport, error) {
	pools, err := s.ListPools(ctx)
	if err != nil {
		return SweepReport{}, err
	}
	var report SweepReport
	var errs []error
	for _, pool := range pools {
		ps, err := s.sweepPool(ctx, pool)
		report.Pools = append(report.Pools, ps)
		if err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", pool.Name, err))
		}
	}
	return report, errors.Join(errs...)
}

func (s *Store) sweepPool(ctx context.Context, pool PoolConfig) (PoolSweep, error) {
	ps := PoolSweep{Pool: pool.Name}
	sessions, err := s.poolSessions(ctx, pool.Name)
	if err != nil {
		return ps, err
	}
	now := s.now()
	nowMs := now.UnixMilli()
	cutoff := now.Add(-pool.InactivityTimeout).UnixMilli()
	type expiry struct {
		it   sessionItem
		rule endRule
	}
	var due []expiry
	for _, it := range sessions {
		switch {
		case it.Lease < nowMs:
			c := expression.Name(attrLease).LessThan(expression.Value(nowMs))
			due = append(due, expiry{it, endRule{reason: EndLeaseExpired, extra: &c}})
		case pool.InactivityTimeout > 0 && it.LastStatus < cutoff:
			c := expression.Name("lastStatus").LessThan(expression.Value(cutoff))
			due = append(due, expiry{it, endRule{reason: EndInactivity, version: it.Version, extra: &c}})
		}
	}
	// Sessions are ended in parallel (bounded): after an edge task dies
	// thousands may expire at once, and one transaction at a time would not
	// finish within the function's timeout.
	var (
		mu       sync.Mutex // guards ps.Ended and firstErr
		firstErr error
	)
	s.parallel(len(due), func(i int) {
		ended, err := s.endSession(ctx, due[i].it.ref(), due[i].rule)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil && firstErr == nil:
			firstErr = err
		case ended:
			ps.Ended = append(ps.Ended, Ended{Session: due[i].it.ref(), Owner: due[i].it.Owner, Reason: due[i].rule.reason})
		}
	})
	if firstErr != nil {
		return ps, firstErr
	}
	return s.recount(ctx, ps)
}

// recount compares the counter with the sessions and corrects it. The
// correction is conditional on the counter's version, so an admission or a
// release that lands during the count makes it try again instead of
// writing a stale number.
func (s *Store) recount(ctx context.Context, ps PoolSweep) (PoolSweep, error) {
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return ps, err
			}
		}
		var c counterItem
		found, err := s.get(ctx, "get counter", counterKey(ps.Pool), &c)
		if err != nil {
			return ps, err
		}
		sessions, err := s.poolSessions(ctx, ps.Pool)
		if err != nil {
			return ps, err
		}
		ps.Live = len(sessions)
		ps.Drift = c.Live - len(sessions)
		if found && ps.Drift == 0 {
			return ps, nil
		}
		update := expression.Set(expression.Name("live"), expression.Value(len(sessions))).
			Add(expression.Name("ver"), expression.Value(1))
		cond := expression.AttributeNotExists(expression.Name(attrPK))
		if found {
			cond = expression.Name("ver").Equal(expression.Value(c.Version))
		}
		err = s.updateExisting(ctx, "repair counter", counterKey(ps.Pool), update, cond, errCounterMoved)
		switch {
		case err == nil:
			ps.Repaired = true
			s.log.WarnContext(ctx, "counter drift repaired", "pool", ps.Pool, "drift", ps.Drift, "live", ps.Live)
			return ps, nil
		case !errors.Is(err, errCounterMoved):
			return ps, err
		}
	}
	return ps, fmt.Errorf("%w: recount pool %s", ErrContention, ps.Pool)
}

var errCounterMoved = errors.New("admission: counter moved during recount")
