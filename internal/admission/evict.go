package admission

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
)

// makeRoom ends up to need sessions of a full pool: first sessions of dead
// edge tasks (their lease lapsed: evictable at once, whatever the policy),
// then, when the pool has a maximum and an idle timeout, sessions out of
// coverage (longest out first) and silent ones (longest silent first). The
// candidates come from the global indexes, which may lag; each is ended by
// a transaction conditional on it still qualifying (its task still dead,
// or its version and activity unchanged), so a stale candidate, or one a
// competing login took first, is passed over for the next.
func (s *Store) makeRoom(ctx context.Context, pool PoolConfig, need int) ([]Ended, error) {
	now := s.now()
	var (
		ended  []Ended
		endErr error
	)
	// try ends the candidates of one page; it returns false when done.
	try := func(page []sessionItem, rule func(sessionItem) endRule) bool {
		for _, it := range page {
			r := rule(it)
			ok, err := s.endSession(ctx, it.ref(), r)
			if err != nil {
				endErr = err
				return false
			}
			if ok {
				ended = append(ended, Ended{Session: it.ref(), Owner: it.Owner, Reason: r.reason})
				if len(ended) == need {
					return false
				}
			}
		}
		return true
	}
	pageSize := int32(min(need+4, 100))

	tasks, err := s.listTasks(ctx)
	if err != nil {
		return nil, err
	}
	var dead []string
	for name, t := range tasks {
		if !t.Live(now) {
			dead = append(dead, name)
		}
	}
	slices.Sort(dead)
	for _, task := range dead {
		if s.deadEmpty.known(task, pool.Name, now) {
			continue
		}
		rule := func(sessionItem) endRule {
			return endRule{reason: EndLeaseExpired, owner: task, deadTask: task, device: true}
		}
		keyCond := expression.Key(attrOwner).Equal(expression.Value(task)).
			And(expression.Key(attrPool).Equal(expression.Value(pool.Name)))
		owned := false
		err := queryEach(ctx, s, "query a dead task's sessions", query{keyCond: keyCond, index: ownerIndex, pageSize: pageSize},
			func(page []sessionItem) bool {
				owned = owned || len(page) > 0
				for i := range page {
					page[i].Owner = task
				}
				return try(page, rule)
			})
		if err != nil || endErr != nil || len(ended) == need {
			return ended, errors.Join(err, endErr)
		}
		if !owned {
			s.deadEmpty.remember(task, pool.Name, now)
		}
	}
	if pool.MaxSessions == 0 || pool.IdleTimeout == 0 {
		return ended, nil
	}
	cutoff := now.Add(-pool.IdleTimeout).UnixMilli()
	idleRule := func(it sessionItem) endRule {
		c := expression.Name(attrActivity).LessThan(expression.Value(cutoff))
		return endRule{reason: EndIdle, version: it.Version, extra: &c, device: true}
	}
	keyCond := expression.Key(attrPool).Equal(expression.Value(pool.Name)).
		And(expression.Key(attrActivity).LessThan(expression.Value(cutoff)))
	err = queryEach(ctx, s, "query idle sessions", query{keyCond: keyCond, index: activityIndex, pageSize: pageSize},
		func(page []sessionItem) bool { return try(page, idleRule) })
	return ended, errors.Join(err, endErr)
}
