package admission

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/status"
)

// ResumeTokenHashLen is the length of a resume token's hash (SHA-256, as
// devproto.TokenHash).
const ResumeTokenHashLen = 32

// Login is what the edge knows about a login once the device's handshake
// succeeded. It never carries the password: that stays on the edge.
type Login struct {
	// RequestID identifies this login attempt; retrying Admit with the same
	// RequestID never admits twice.
	RequestID       string
	DeviceID        string
	DevicePublicKey []byte
	// DeviceTime is the device's timestamp from the login message; it must
	// be later than the device's previous accepted login (replay defence).
	DeviceTime    time.Time
	UserID        string
	ClientVersion string
	// Owner is the edge task that will hold the session's connections.
	Owner      string
	SourceAddr string
	// ResumeTokenHash is the hash of the resume token the edge will give the
	// device; only the hash is stored.
	ResumeTokenHash []byte
}

func (l Login) validate() error {
	switch {
	case l.RequestID == "" || len(l.RequestID) > 128:
		return fmt.Errorf("%w: request id must be 1 to 128 bytes", ErrInvalidRequest)
	case validName(l.DeviceID) != nil:
		return fmt.Errorf("%w: bad device id", ErrInvalidRequest)
	case validName(l.UserID) != nil:
		return fmt.Errorf("%w: bad user id", ErrInvalidRequest)
	case validName(l.Owner) != nil:
		return fmt.Errorf("%w: bad owner", ErrInvalidRequest)
	case len(l.DevicePublicKey) != 32:
		return fmt.Errorf("%w: device public key must be 32 bytes", ErrInvalidRequest)
	case l.DeviceTime.IsZero():
		return fmt.Errorf("%w: device time is required", ErrInvalidRequest)
	case len(l.ResumeTokenHash) != ResumeTokenHashLen:
		return fmt.Errorf("%w: resume token hash must be %d bytes", ErrInvalidRequest, ResumeTokenHashLen)
	}
	return nil
}

// Decision is the answer to a login.
type Decision struct {
	Status status.Code `json:"status"`
	// Reason is a short machine-readable cause for logs and metrics, such as
	// "device-revoked" or "max-reached".
	Reason string `json:"reason"`
	// Session is the admitted session (Status ACCEPTED only).
	Session *Session `json:"session,omitempty"`
	// Pool is the user's pool configuration, once it was read.
	Pool *PoolConfig `json:"pool,omitempty"`
	// Ended lists the sessions this login ended: idle ones evicted to make
	// room, and the device's previous session it replaced.
	Ended []Ended `json:"ended,omitempty"`
}

// Admit decides a login in the gateway's fixed order (README, "The
// flow", step 3): the device must be active, hold the registered key and
// be bound to the user, and its clock within the skew window; then the
// user must be permitted — before any eviction, so a refused user never
// pushes anyone out; only then do the pool's limits apply, evicting
// sessions of dead edge tasks and, when an idle timeout is set, idle
// sessions at the maximum. Admission itself is one transaction.
//
// Below the maximum a login costs one read (device and user in one
// consistent BatchGetItem; the pool's configuration comes from a cache of
// a few seconds) and one transaction: the counter is not read, its
// condition (live < limit) is the guard, and only when it fails is the
// counter read to see how much room to make.
//
// A refusal is a Decision with its status and a nil error. An error means
// no decision was reached: Retryable(err) tells whether to try again.
func (s *Store) Admit(ctx context.Context, l Login) (Decision, error) {
	if err := l.validate(); err != nil {
		return Decision{}, err
	}
	// Before any read: a time outside the window is never stored, and one
	// far out (year 9999) never reaches UnixNano, which would overflow.
	if skew := l.DeviceTime.Sub(s.now()); skew > s.maxSkew || skew < -s.maxSkew {
		s.log.InfoContext(ctx, "device time outside the clock window", "request", l.RequestID, "device", l.DeviceID, "skew", skew.Round(time.Second))
		return refuse(status.ProtocolError, "device-clock-skew"), nil
	}
	var (
		pool    PoolConfig
		ended   []Ended
		lastErr error
		// verifyOld: the device's pointer to its old session may be stale
		// (the transaction failed on it); read the session before trusting it.
		verifyOld bool
	)
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return Decision{}, err
			}
		}
		dev, user, d, done, err := s.readLogin(ctx, l)
		if err != nil {
			return Decision{}, err
		}
		if done {
			d.Ended = append(ended, d.Ended...)
			return d, nil
		}
		if pool.Name != user.Pool {
			if pool, err = s.pool(ctx, user.Pool); err != nil {
				return Decision{}, err
			}
		}
		old := dev.oldSession()
		if old != nil && verifyOld {
			exists, err := s.sessionExists(ctx, *old)
			if err != nil {
				return Decision{}, err
			}
			if !exists {
				old = nil
			}
		}
		sess := s.newSession(l, pool)
		items, err := s.admitItems(l, pool, dev, sess, old)
		if err != nil {
			return Decision{}, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			TransactItems:      items,
			ClientRequestToken: aws.String(requestToken(l.RequestID, attempt)),
		})
		if err == nil {
			if old != nil {
				ended = append(ended, Ended{Session: *old, Owner: dev.SessionOwner, Reason: EndReplaced})
			}
			out := sess.session()
			s.log.InfoContext(ctx, "session admitted", "session", out.ID, "pool", pool.Name, "device", l.DeviceID, "user", l.UserID, "request", l.RequestID)
			return Decision{Status: status.Accepted, Reason: "admitted", Session: &out, Pool: &pool, Ended: ended}, nil
		}
		lastErr = err
		codes := cancellationCodes(err)
		if codes == nil && ctx.Err() != nil {
			return Decision{}, unavailable("admit", err)
		}
		switch {
		case conditionFailed(codes, itemCounter):
			// The pool is full (or its counter is missing): make room.
			d, done, err := s.atLimit(ctx, pool, &ended)
			if err != nil || done {
				return d, err
			}
		case conditionFailed(codes, itemSession), conditionFailed(codes, itemOldSession):
			verifyOld = true
		}
		// Lost a race (slot taken, device or user changed) or a transient
		// failure: read again. A transaction that did apply is found by its
		// request id on the next pass.
		s.log.DebugContext(ctx, "admission attempt failed", "request", l.RequestID, "attempt", attempt, "err", err)
	}
	if cancellationCodes(lastErr) == nil {
		return Decision{}, unavailable("admit", lastErr)
	}
	return Decision{}, fmt.Errorf("%w: admit request %s", ErrContention, l.RequestID)
}

// readLogin reads the device and the user in one consistent batch and
// applies the device and permission rules. done is true when d is the
// answer: a refusal, or the session an earlier attempt of this same
// request made.
func (s *Store) readLogin(ctx context.Context, l Login) (dev deviceItem, user userItem, d Decision, done bool, err error) {
	got, err := s.getAll(ctx, "get device and user", []key{deviceKey(l.DeviceID), userKey(l.UserID)}, []any{&dev, &user})
	if err != nil {
		return dev, user, d, false, err
	}
	if d, done := s.checkDevice(ctx, l, dev, got[0]); done {
		if d.Session != nil {
			pool, err := s.pool(ctx, d.Session.Pool)
			if err != nil {
				return dev, user, d, false, err
			}
			d.Pool = &pool
		}
		return dev, user, d, true, nil
	}
	if !got[1] || !user.Permitted {
		return dev, user, refuse(status.NotPermitted, "user-not-permitted"), true, nil
	}
	return dev, user, d, false, nil
}

// atLimit handles an admission whose counter condition failed: it reads
// the counter and ends as many sessions of dead tasks (and, by policy, idle
// ones) as the login needs. done is true when d is the refusal.
func (s *Store) atLimit(ctx context.Context, pool PoolConfig, ended *[]Ended) (d Decision, done bool, err error) {
	var counter counterItem
	found, err := s.get(ctx, "get counter", counterKey(pool.Name), &counter)
	if err != nil {
		return Decision{}, true, err
	}
	if !found {
		return Decision{}, true, fmt.Errorf("%w: pool %q has no counter", ErrUnknownPool, pool.Name)
	}
	if counter.Live < pool.limit() {
		return Decision{}, false, nil // a slot freed meanwhile
	}
	evicted, err := s.makeRoom(ctx, pool, counter.Live-pool.limit()+1)
	*ended = append(*ended, evicted...)
	if err != nil {
		return Decision{}, true, err
	}
	if len(evicted) > 0 {
		return Decision{}, false, nil
	}
	d = refuse(status.ServerBusy, "max-reached")
	if pool.MaxSessions == 0 {
		d = refuse(status.Failed300, "protocol-limit-reached")
	}
	d.Pool, d.Ended = &pool, *ended
	return d, true, nil
}

// sessionExists reads the session a device item points at: false when it
// no longer exists (a pointer left behind, such as by a manual delete).
func (s *Store) sessionExists(ctx context.Context, ref SessionRef) (bool, error) {
	var it sessionItem
	found, err := s.get(ctx, "get old session", sessionKey(ref.Pool, ref.DeviceID), &it)
	return found && it.ID == ref.ID, err
}

// checkDevice applies the device rules. done is true when d is the answer:
// a refusal, or the session an earlier attempt of this same request made.
func (s *Store) checkDevice(ctx context.Context, l Login, dev deviceItem, found bool) (d Decision, done bool) {
	switch {
	case !found:
		return refuse(status.DeviceRevoked, "device-unknown"), true
	case !dev.Active:
		return refuse(status.DeviceRevoked, "device-revoked"), true
	case !bytes.Equal(dev.PublicKey, l.DevicePublicKey):
		return refuse(status.DeviceRevoked, "device-key-mismatch"), true
	case dev.UserID != l.UserID:
		return refuse(status.NotPermitted, "device-bound-to-other-user"), true
	case dev.SessionID != "" && dev.SessionReq == l.RequestID:
		var it sessionItem
		found, err := s.get(ctx, "get session", sessionKey(dev.SessionPool, l.DeviceID), &it)
		if err == nil && found && it.ID == dev.SessionID {
			out := it.session()
			return Decision{Status: status.Accepted, Reason: "admitted", Session: &out}, true
		}
		return Decision{}, false
	case l.DeviceTime.UnixNano() <= dev.LastLoginNanos:
		return refuse(status.ProtocolError, "replayed-login"), true
	}
	return Decision{}, false
}

func refuse(c status.Code, reason string) Decision { return Decision{Status: c, Reason: reason} }

func (s *Store) newSession(l Login, pool PoolConfig) sessionItem {
	now := s.now()
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	sid := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(id[:])
	return sessionItem{
		key:        sessionKey(pool.Name, l.DeviceID),
		ID:         sid,
		Pool:       pool.Name,
		DeviceID:   l.DeviceID,
		UserID:     l.UserID,
		Owner:      l.Owner,
		RequestID:  l.RequestID,
		Version:    1,
		Created:    now.UnixMilli(),
		LastStatus: now.UnixMilli(),
		Coverage:   string(CoverageIn),
		CovSince:   now.UnixMilli(),
		ResumeHash: l.ResumeTokenHash,
		Conn:       connectivityItem{Host: pool.GroupWise.Host, Port: pool.GroupWise.Port},
	}
}

// The admission transaction's items, in order (cancellation reasons come
// back by index).
const (
	itemCounter    = iota // the pool's counter
	itemSession           // the session put
	itemDevice            // the device update
	itemUser              // the user check
	itemOldSession        // the old session's delete, when it is in another pool
)

// admitItems builds the admission transaction: the counter moves (with
// the limit as its condition), the session put, the device update (which
// also enforces the replay rule, serializes logins of one device and
// records the session and its owner) and a check that the user is still
// permitted; when the device's old session is in another pool, its end.
func (s *Store) admitItems(l Login, pool PoolConfig, dev deviceItem, sess sessionItem, old *SessionRef) ([]types.TransactWriteItem, error) {
	var items []types.TransactWriteItem
	putCond := expression.AttributeNotExists(expression.Name(attrPK))
	if old != nil && old.Pool == pool.Name {
		// Same slot: overwrite the old session, the count does not change.
		putCond = expression.Name(attrSessionID).Equal(expression.Value(old.ID))
		items = append(items, counterUpdate(s.table, pool.Name, 0, nil))
	} else {
		limit := pool.limit()
		items = append(items, counterUpdate(s.table, pool.Name, +1, &limit))
	}
	put, err := expression.NewBuilder().WithCondition(putCond).Build()
	if err != nil {
		return nil, fmt.Errorf("admission: build session put: %w", err)
	}
	items = append(items, types.TransactWriteItem{Put: &types.Put{
		TableName:                 aws.String(s.table),
		Item:                      mustMarshal(sess),
		ConditionExpression:       put.Condition(),
		ExpressionAttributeNames:  put.Names(),
		ExpressionAttributeValues: put.Values(),
	}})

	devCond := expression.Name(attrActive).Equal(expression.Value(true)).
		And(expression.Name(attrPublicKey).Equal(expression.Value(l.DevicePublicKey))).
		And(expression.Name(attrUser).Equal(expression.Value(l.UserID))).
		And(expression.Name(attrLastLogin).LessThan(expression.Value(l.DeviceTime.UnixNano())))
	if dev.SessionID == "" {
		devCond = devCond.And(expression.AttributeNotExists(expression.Name(attrSessionRef)))
	} else {
		devCond = devCond.And(expression.Name(attrSessionRef).Equal(expression.Value(dev.SessionID)))
	}
	devUpd := expression.Set(expression.Name(attrLastLogin), expression.Value(l.DeviceTime.UnixNano())).
		Set(expression.Name(attrSessionPool), expression.Value(pool.Name)).
		Set(expression.Name(attrSessionRef), expression.Value(sess.ID)).
		Set(expression.Name(attrSessionReq), expression.Value(l.RequestID)).
		Set(expression.Name(attrSessionOwner), expression.Value(l.Owner))
	devExpr, err := expression.NewBuilder().WithUpdate(devUpd).WithCondition(devCond).Build()
	if err != nil {
		return nil, fmt.Errorf("admission: build device update: %w", err)
	}
	items = append(items, types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       deviceKey(l.DeviceID).av(),
		UpdateExpression:          devExpr.Update(),
		ConditionExpression:       devExpr.Condition(),
		ExpressionAttributeNames:  devExpr.Names(),
		ExpressionAttributeValues: devExpr.Values(),
	}})

	userExpr, err := expression.NewBuilder().WithCondition(
		expression.Name(attrPermitted).Equal(expression.Value(true)).
			And(expression.Name(attrPool).Equal(expression.Value(pool.Name)))).Build()
	if err != nil {
		return nil, fmt.Errorf("admission: build user check: %w", err)
	}
	items = append(items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 aws.String(s.table),
		Key:                       userKey(l.UserID).av(),
		ConditionExpression:       userExpr.Condition(),
		ExpressionAttributeNames:  userExpr.Names(),
		ExpressionAttributeValues: userExpr.Values(),
	}})
	if old != nil && old.Pool != pool.Name {
		oldEnd, err := s.endItems(*old, endRule{reason: EndReplaced})
		if err != nil {
			return nil, err
		}
		items = append(items, oldEnd.items...)
	}
	return items, nil
}

// requestToken derives the transaction's idempotency token, so that the
// SDK's own retries of one attempt never apply it twice.
func requestToken(requestID string, attempt int) string {
	sum := sha256.Sum256([]byte(requestID + "/" + strconv.Itoa(attempt)))
	return hex.EncodeToString(sum[:16])
}
