package admission

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
)

// Device status timing. A device sends STATUS every interval; its edge
// writes nothing while STATUS keeps coming, and marks the session silent
// (one write, activity = the last STATUS time) once none came for
// silentAfter. The interval is a quarter of the pool's shortest timeout, so
// the silent mark lands by lastStatus + timeout/2 (+ the edge's scan period
// and one write), before the session becomes evictable at lastStatus +
// timeout: eviction is exactly as early as if every STATUS were written.
const (
	// DefaultStatusInterval is the STATUS interval for a pool without idle
	// or inactivity timeout.
	DefaultStatusInterval = 2 * time.Minute
	// MinStatusInterval bounds how often a device is asked for STATUS
	// whatever the pool's timeouts.
	MinStatusInterval = 250 * time.Millisecond
	// silenceFactor is silentAfter over the interval: one late or lost
	// STATUS does not cost two writes.
	silenceFactor = 2
)

// StatusTiming returns, for a pool with these timeouts (0: none), the
// STATUS interval its devices are asked for and the time without STATUS
// after which their edge marks a session silent.
func StatusTiming(idleTimeout, inactivityTimeout time.Duration) (interval, silentAfter time.Duration) {
	interval = DefaultStatusInterval
	for _, t := range []time.Duration{idleTimeout, inactivityTimeout} {
		if t > 0 {
			interval = min(interval, t/4)
		}
	}
	interval = max(interval, MinStatusInterval)
	return interval, silenceFactor * interval
}

// Activity is what the store keeps of a session's device activity. The
// edge writes it only when it changes: coverage lost, coverage back, silent
// (no STATUS for the silence threshold), and a STATUS after silence.
type Activity struct {
	Coverage Coverage
	// CoverageSince is when coverage last changed; the zero time keeps the
	// stored one (a silence change). Required when Coverage is out.
	CoverageSince time.Time
	// LastStatus is the device's last STATUS (or its login or resume).
	LastStatus time.Time
	// Silent marks a session in coverage whose device stopped sending
	// STATUS: its activity becomes LastStatus, so idle eviction and the
	// inactivity sweep compare the real last STATUS time.
	Silent bool
	// Seq orders one session's activity writes: a write whose Seq is not
	// above the stored one is stale (two writes of one session crossed) and
	// is skipped.
	Seq uint64
}

func (a Activity) validate() error {
	switch {
	case a.Coverage != CoverageIn && a.Coverage != CoverageOut:
		return fmt.Errorf("%w: coverage must be %q or %q", ErrInvalidRequest, CoverageIn, CoverageOut)
	case a.Coverage == CoverageOut && a.CoverageSince.IsZero():
		return fmt.Errorf("%w: coverage out needs its time", ErrInvalidRequest)
	case a.Coverage == CoverageOut && a.Silent:
		return fmt.Errorf("%w: a session out of coverage is not silent", ErrInvalidRequest)
	case a.LastStatus.IsZero():
		return fmt.Errorf("%w: activity needs the last status time", ErrInvalidRequest)
	case a.Seq == 0:
		return fmt.Errorf("%w: activity needs a sequence number", ErrInvalidRequest)
	}
	return nil
}

// SetActivity records a change of a session's activity. It returns
// ErrSessionGone when the session no longer exists or belongs to another
// task, and nil for a stale write (an older Seq than the stored one).
func (s *Store) SetActivity(ctx context.Context, owner string, ref SessionRef, a Activity) error {
	if err := ref.validate(); err != nil {
		return err
	}
	if err := a.validate(); err != nil {
		return err
	}
	update := expression.Set(expression.Name(attrCoverage), expression.Value(string(a.Coverage))).
		Set(expression.Name(attrLastStatus), expression.Value(a.LastStatus.UnixMilli())).
		Set(expression.Name(attrActivitySeq), expression.Value(a.Seq)).
		Add(expression.Name(attrVersion), expression.Value(1))
	if !a.CoverageSince.IsZero() {
		update = update.Set(expression.Name(attrCoverageSince), expression.Value(a.CoverageSince.UnixMilli()))
	}
	if act := activityKey(a); act != nil {
		update = update.Set(expression.Name(attrActivity), expression.Value(*act))
	} else {
		update = update.Remove(expression.Name(attrActivity))
	}
	fresh := expression.AttributeNotExists(expression.Name(attrActivitySeq)).
		Or(expression.Name(attrActivitySeq).LessThan(expression.Value(a.Seq)))
	err := s.updateOwned(ctx, "set activity", owner, ref, update, &fresh)
	if !errors.Is(err, errStale) {
		return err
	}
	// The condition failed: the session is gone, or this write is stale.
	var it sessionItem
	found, gerr := s.get(ctx, "get session", sessionKey(ref.Pool, ref.DeviceID), &it)
	switch {
	case gerr != nil:
		return gerr
	case !found || it.ID != ref.ID || it.Owner != owner:
		return fmt.Errorf("%w: %s", ErrSessionGone, ref)
	}
	return nil
}

// SetConnectivity caches the facts the edge needs to maintain the
// session's GroupWise connection.
func (s *Store) SetConnectivity(ctx context.Context, owner string, ref SessionRef, c Connectivity) error {
	if err := ref.validate(); err != nil {
		return err
	}
	update := expression.Set(expression.Name(attrConnectivity), expression.Value(connectivityItem(c)))
	err := s.updateOwned(ctx, "set connectivity", owner, ref, update, nil)
	if errors.Is(err, errStale) {
		return fmt.Errorf("%w: %s", ErrSessionGone, ref)
	}
	return err
}

// errStale is updateOwned's failed condition; callers decide what it means.
var errStale = errors.New("admission: condition failed")

// updateOwned updates a session only while it exists, belongs to owner and
// extra (when set) holds.
func (s *Store) updateOwned(ctx context.Context, op, owner string, ref SessionRef, update expression.UpdateBuilder, extra *expression.ConditionBuilder) error {
	if err := validName(owner); err != nil {
		return fmt.Errorf("%w: owner %w", ErrInvalidRequest, err)
	}
	cond := expression.Name(attrSessionID).Equal(expression.Value(ref.ID)).
		And(expression.Name(attrOwner).Equal(expression.Value(owner)))
	if extra != nil {
		cond = cond.And(*extra)
	}
	return s.updateExisting(ctx, op, sessionKey(ref.Pool, ref.DeviceID), update, cond, errStale)
}
