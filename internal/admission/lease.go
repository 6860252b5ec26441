package admission

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
)

// RenewLeases extends the leases of sessions an edge task holds. It returns
// the sessions that are gone (ended by an eviction, a sweep, a newer login,
// or taken by another task): the edge must close their connections and tell
// their devices. err reports store failures; a session that failed with an
// error is in neither list and should be renewed again.
func (s *Store) RenewLeases(ctx context.Context, owner string, refs []SessionRef) (gone []SessionRef, err error) {
	now := s.now()
	update := expression.Set(expression.Name(attrLease), expression.Value(now.Add(s.lease).UnixMilli())).
		Set(expression.Name(attrTTL), expression.Value(now.Add(s.lease+ttlGrace).Unix()))
	for _, ref := range refs {
		if err := ref.validate(); err != nil {
			return nil, err
		}
	}
	var (
		mu       sync.Mutex // guards gone and firstErr
		firstErr error
	)
	s.parallel(len(refs), func(i int) {
		err := s.updateOwned(ctx, "renew lease", owner, refs[i], update)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
		case isGone(err):
			gone = append(gone, refs[i])
		case firstErr == nil:
			firstErr = err
		}
	})
	return gone, firstErr
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

// RecordStatus notes a status message from the session's device: the
// device is in coverage and not idle.
func (s *Store) RecordStatus(ctx context.Context, owner string, ref SessionRef, at time.Time) error {
	if err := ref.validate(); err != nil {
		return err
	}
	ms := at.UnixMilli()
	update := expression.Set(expression.Name("lastStatus"), expression.Value(ms)).
		Set(expression.Name(attrActivity), expression.Value(ms)).
		Set(expression.Name("cov"), expression.Value(string(CoverageIn))).
		Add(expression.Name("ver"), expression.Value(1))
	return s.updateOwned(ctx, "record status", owner, ref, update)
}

// MarkCoverage records that the session's device lost (out) or regained
// (in) its connection to the edge. Regaining coverage counts as a sign of
// life.
func (s *Store) MarkCoverage(ctx context.Context, owner string, ref SessionRef, cov Coverage, at time.Time) error {
	if err := ref.validate(); err != nil {
		return err
	}
	ms := at.UnixMilli()
	update := expression.Set(expression.Name("cov"), expression.Value(string(cov))).
		Set(expression.Name("covSince"), expression.Value(ms)).
		Add(expression.Name("ver"), expression.Value(1))
	switch cov {
	case CoverageIn:
		update = update.Set(expression.Name("lastStatus"), expression.Value(ms)).
			Set(expression.Name(attrActivity), expression.Value(activity(cov, ms, ms)))
	case CoverageOut:
		update = update.Set(expression.Name(attrActivity), expression.Value(activity(cov, 0, ms)))
	default:
		return fmt.Errorf("%w: coverage must be %q or %q", ErrInvalidRequest, CoverageIn, CoverageOut)
	}
	return s.updateOwned(ctx, "mark coverage", owner, ref, update)
}

// SetConnectivity caches the facts the edge needs to maintain the
// session's GroupWise connection.
func (s *Store) SetConnectivity(ctx context.Context, owner string, ref SessionRef, c Connectivity) error {
	if err := ref.validate(); err != nil {
		return err
	}
	update := expression.Set(expression.Name("conn"), expression.Value(connectivityItem(c)))
	return s.updateOwned(ctx, "set connectivity", owner, ref, update)
}

// updateOwned updates a session only while it exists and belongs to owner.
func (s *Store) updateOwned(ctx context.Context, op, owner string, ref SessionRef, update expression.UpdateBuilder) error {
	cond := expression.Name("sid").Equal(expression.Value(ref.ID)).
		And(expression.Name("owner").Equal(expression.Value(owner)))
	gone := fmt.Errorf("%w: %s", ErrSessionGone, ref)
	return s.updateExisting(ctx, op, sessionKey(ref.Pool, ref.DeviceID), update, cond, gone)
}

func isGone(err error) bool { return errors.Is(err, ErrSessionGone) }
