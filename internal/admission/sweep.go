package admission

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/time/rate"
)

// PoolSweep is what one sweep did to one pool.
type PoolSweep struct {
	Pool string `json:"pool"`
	// Ended lists the sessions ended for a dead task or inactivity.
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
	// TasksDeleted lists the lease items of long-dead tasks the sweep
	// deleted (they owned no session any more).
	TasksDeleted []string `json:"tasksDeleted,omitempty"`
}

// Sweep runs every minute. In each pool it ends the sessions of dead edge
// tasks (lease lapsed, or no lease item at all once the session is older
// than a lease) and, when the pool has an inactivity timeout, sessions
// silent longer than it, whatever the count; then it recounts the live
// sessions and repairs a drifted counter. Last, it deletes the lease items
// of tasks dead for longer than the task retention that own no session.
// It reads every pool's sessions with strong consistency (the recount needs
// that anyway), so no index lag can hide a dead task's session. It carries
// on past a failing pool and returns every error.
func (s *Store) Sweep(ctx context.Context) (SweepReport, error) {
	pools, err := s.ListPools(ctx)
	if err != nil {
		return SweepReport{}, err
	}
	tasks, err := s.listTasks(ctx)
	if err != nil {
		return SweepReport{}, err
	}
	var (
		report SweepReport
		errs   []error
		owners = map[string]bool{} // tasks that still own a session
	)
	for _, pool := range pools {
		ps, err := s.sweepPool(ctx, pool, tasks, owners)
		report.Pools = append(report.Pools, ps)
		if err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", pool.Name, err))
		}
	}
	if len(errs) == 0 {
		// Only when every pool was read: an unread pool may hold sessions
		// of a task that looks unused.
		report.TasksDeleted, err = s.deleteDeadTasks(ctx, tasks, owners)
		errs = append(errs, err)
	}
	return report, errors.Join(errs...)
}

func (s *Store) sweepPool(ctx context.Context, pool PoolConfig, tasks map[string]TaskLease, owners map[string]bool) (PoolSweep, error) {
	ps := PoolSweep{Pool: pool.Name}
	sessions, err := s.poolSessions(ctx, pool.Name)
	if err != nil {
		return ps, err
	}
	now := s.now()
	orphanBefore := now.Add(-s.lease).UnixMilli()
	cutoff := now.Add(-pool.InactivityTimeout).UnixMilli()
	type expiry struct {
		it   sessionItem
		rule endRule
	}
	var due []expiry
	for _, it := range sessions {
		task, known := tasks[it.Owner]
		switch {
		case known && !task.Live(now), !known && it.Created < orphanBefore:
			// A task that never registered (or whose item is gone) is dead
			// once its session is older than a lease: a live task renews
			// before it admits.
			due = append(due, expiry{it, endRule{reason: EndLeaseExpired, owner: it.Owner, deadTask: it.Owner, device: true}})
		case pool.InactivityTimeout > 0 && it.Activity != nil && it.LastStatus < cutoff:
			// Only a silent or out-of-coverage session has an exact
			// lastStatus in the store; an active one is not inactive.
			c := expression.Name(attrLastStatus).LessThan(expression.Value(cutoff)).
				And(expression.AttributeExists(expression.Name(attrActivity)))
			due = append(due, expiry{it, endRule{reason: EndInactivity, version: it.Version, extra: &c, device: true}})
		}
	}
	// Sessions are ended in parallel (bounded) and paced: after an edge task
	// dies thousands may be due at once; one transaction at a time would
	// not finish within the function's timeout, and all at once would take
	// the counter's partition from the pool's logins.
	var (
		mu       sync.Mutex // guards ps.Ended and firstErr
		firstErr error
		pace     = rate.NewLimiter(rate.Limit(s.sweepRate), s.renewConcurrency)
	)
	s.parallel(len(due), func(i int) {
		if err := pace.Wait(ctx); err != nil {
			mu.Lock()
			firstErr = cmp.Or(firstErr, fmt.Errorf("%w: %w", ErrUnavailable, err))
			mu.Unlock()
			return
		}
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
	return s.recount(ctx, ps, owners)
}

// parallel calls fn(i) for every i below n, at most renewConcurrency at
// once, and waits for them all.
func (s *Store) parallel(n int, fn func(i int)) {
	sem := make(chan struct{}, s.renewConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// recount compares the counter with the sessions and corrects it, and
// notes the owners of the sessions left. The correction is conditional on
// the counter's version, so an admission or a release that lands during
// the count makes it try again instead of writing a stale number.
func (s *Store) recount(ctx context.Context, ps PoolSweep, owners map[string]bool) (PoolSweep, error) {
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
		sessions, err := s.poolSessions(ctx, ps.Pool, attrOwner)
		if err != nil {
			return ps, err
		}
		for _, it := range sessions {
			owners[it.Owner] = true
		}
		ps.Live = len(sessions)
		ps.Drift = c.Live - len(sessions)
		if found && ps.Drift == 0 {
			return ps, nil
		}
		update := expression.Set(expression.Name(attrLive), expression.Value(len(sessions))).
			Add(expression.Name(attrVersion), expression.Value(1))
		cond := expression.AttributeNotExists(expression.Name(attrPK))
		if found {
			cond = expression.Name(attrVersion).Equal(expression.Value(c.Version))
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

// deleteDeadTasks deletes the lease items of tasks dead for longer than the
// retention that own no session; each delete is conditional on the lease
// being unchanged, so a task that came back keeps its item.
func (s *Store) deleteDeadTasks(ctx context.Context, tasks map[string]TaskLease, owners map[string]bool) ([]string, error) {
	before := s.now().Add(-s.taskRetention)
	var deleted []string
	for name, t := range tasks {
		if owners[name] || !t.Expires.Before(before) {
			continue
		}
		cond := expression.Name(attrLease).Equal(expression.Value(t.Expires.UnixMilli()))
		expr, err := expression.NewBuilder().WithCondition(cond).Build()
		if err != nil {
			return deleted, fmt.Errorf("admission: build task delete: %w", err)
		}
		_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(s.table),
			Key:                       taskKey(name).av(),
			ConditionExpression:       expr.Condition(),
			ExpressionAttributeNames:  expr.Names(),
			ExpressionAttributeValues: expr.Values(),
		})
		switch {
		case err == nil:
			deleted = append(deleted, name)
			s.log.InfoContext(ctx, "dead task deleted", "task", name, "lease_expired", t.Expires)
		case !isConditionFailed(err):
			return deleted, unavailable("delete task", err)
		}
	}
	slices.Sort(deleted)
	return deleted, nil
}
