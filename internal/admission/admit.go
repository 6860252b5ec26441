package admission

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/status"
)

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
	case len(l.ResumeTokenHash) > 64:
		return fmt.Errorf("%w: resume token hash longer than 64 bytes", ErrInvalidRequest)
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

// Admit decides a login, in the order of design §1: the device must be
// active, hold the registered key and be bound to the user; the user must
// be permitted (so a refused user never evicts anyone); then the pool's
// limits apply, evicting idle sessions at the maximum when an idle timeout
// is set. Admission itself is one transaction.
//
// A refusal is a Decision with its status and a nil error. An error means
// no decision was reached: Retryable(err) tells whether to try again.
func (s *Store) Admit(ctx context.Context, l Login) (Decision, error) {
	if err := l.validate(); err != nil {
		return Decision{}, err
	}
	// Reads are batched: a login costs three round trips to DynamoDB when
	// nothing needs evicting (device and user; pool, counter and the
	// device's old session; the admission transaction).
	var (
		dev  deviceItem
		user userItem
	)
	got, err := s.getAll(ctx, "get device and user", []key{deviceKey(l.DeviceID), userKey(l.UserID)}, []any{&dev, &user})
	if err != nil {
		return Decision{}, err
	}
	found := got[0]
	if d, done := s.checkDevice(ctx, l, dev, found); done {
		if d.Session != nil {
			pool, err := s.GetPool(ctx, d.Session.Pool)
			if err != nil {
				return Decision{}, err
			}
			d.Pool = &pool
		}
		return d, nil
	}
	if !got[1] || !user.Permitted {
		return refuse(status.NotPermitted, "user-not-permitted"), nil
	}

	var (
		pool    PoolConfig
		ended   []Ended
		lastErr error
	)
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return Decision{}, err
			}
			if dev, found, err = s.getDevice(ctx, l.DeviceID); err != nil {
				return Decision{}, err
			}
			if d, done := s.checkDevice(ctx, l, dev, found); done {
				d.Ended = ended
				return d, nil
			}
		}
		counter, old, err := s.readSlots(ctx, dev, user.Pool, &pool, attempt == 0)
		if err != nil {
			return Decision{}, err
		}
		replacing := old != nil && old.Pool == pool.Name
		if !replacing && counter.Live >= pool.limit() {
			evicted, err := s.makeRoom(ctx, pool, counter.Live-pool.limit()+1)
			if err != nil {
				return Decision{}, err
			}
			ended = append(ended, evicted...)
			if len(evicted) > 0 {
				continue
			}
			d := refuse(status.ServerBusy, "max-reached")
			if pool.MaxSessions == 0 {
				d = refuse(status.Failed300, "protocol-limit-reached")
			}
			d.Pool, d.Ended = &pool, ended
			return d, nil
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
				ended = append(ended, Ended{Session: old.ref(), Owner: old.Owner, Reason: EndReplaced})
			}
			out := sess.session()
			s.log.InfoContext(ctx, "session admitted", "session", out.ID, "pool", pool.Name, "device", l.DeviceID, "user", l.UserID, "request", l.RequestID)
			return Decision{Status: status.Accepted, Reason: "admitted", Session: &out, Pool: &pool, Ended: ended}, nil
		}
		lastErr = err
		if cancellationCodes(err) == nil && ctx.Err() != nil {
			return Decision{}, unavailable("admit", err)
		}
		// Lost a race (slot taken, device changed) or a transient failure:
		// read everything again. A transaction that did apply is found by
		// its request id on the next pass.
		s.log.DebugContext(ctx, "admission attempt failed", "request", l.RequestID, "attempt", attempt, "err", err)
	}
	if cancellationCodes(lastErr) == nil {
		return Decision{}, unavailable("admit", lastErr)
	}
	return Decision{}, fmt.Errorf("%w: admit request %s", ErrContention, l.RequestID)
}

// readSlots reads, in one batch, the pool's counter, the device's current
// session (old, when it still exists) and, when withConfig, the pool's
// configuration into pool.
func (s *Store) readSlots(ctx context.Context, dev deviceItem, poolName string, pool *PoolConfig, withConfig bool) (counterItem, *sessionItem, error) {
	var (
		counter counterItem
		cfg     configItem
		old     sessionItem
	)
	keys, outs := []key{counterKey(poolName)}, []any{&counter}
	if withConfig {
		keys, outs = append(keys, configKey(poolName)), append(outs, &cfg)
	}
	if dev.SessionID != "" {
		keys, outs = append(keys, sessionKey(dev.SessionPool, dev.ID)), append(outs, &old)
	}
	got, err := s.getAll(ctx, "get pool state", keys, outs)
	if err != nil {
		return counter, nil, err
	}
	if withConfig {
		if !got[1] {
			return counter, nil, fmt.Errorf("%w: %q", ErrUnknownPool, poolName)
		}
		*pool = cfg.config()
	}
	if !got[0] {
		return counter, nil, fmt.Errorf("%w: pool %q has no counter", ErrUnknownPool, poolName)
	}
	if dev.SessionID != "" && got[len(got)-1] && old.ID == dev.SessionID {
		return counter, &old, nil
	}
	return counter, nil, nil
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
		Lease:      now.Add(s.lease).UnixMilli(),
		LastStatus: now.UnixMilli(),
		Coverage:   string(CoverageIn),
		CovSince:   now.UnixMilli(),
		Activity:   now.UnixMilli(),
		ResumeHash: l.ResumeTokenHash,
		Conn:       connectivityItem{Host: pool.GroupWise.Host, Port: pool.GroupWise.Port},
		TTL:        now.Add(s.lease + ttlGrace).Unix(),
	}
}

// admitItems builds the admission transaction: the session put, the
// counter moves, the device update (which also enforces the replay rule and
// serializes logins of one device) and a check that the user is still
// permitted.
func (s *Store) admitItems(l Login, pool PoolConfig, dev deviceItem, sess sessionItem, old *sessionItem) ([]types.TransactWriteItem, error) {
	var items []types.TransactWriteItem
	putCond := expression.AttributeNotExists(expression.Name(attrPK))
	switch {
	case old != nil && old.Pool == pool.Name:
		// Same slot: overwrite the old session, the count does not change.
		putCond = expression.Name("sid").Equal(expression.Value(old.ID))
		items = append(items, counterUpdate(s.table, pool.Name, 0, nil))
	default:
		limit := pool.limit()
		items = append(items, counterUpdate(s.table, pool.Name, +1, &limit))
		if old != nil {
			oldEnd, err := s.endItems(old.ref(), endRule{reason: EndReplaced}, false)
			if err != nil {
				return nil, err
			}
			items = append(items, oldEnd...)
		}
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

	devCond := expression.Name("active").Equal(expression.Value(true)).
		And(expression.Name("publicKey").Equal(expression.Value(l.DevicePublicKey))).
		And(expression.Name("user").Equal(expression.Value(l.UserID))).
		And(expression.Name("lastLogin").LessThan(expression.Value(l.DeviceTime.UnixNano())))
	if dev.SessionID == "" {
		devCond = devCond.And(expression.AttributeNotExists(expression.Name("sessionId")))
	} else {
		devCond = devCond.And(expression.Name("sessionId").Equal(expression.Value(dev.SessionID)))
	}
	devUpd := expression.Set(expression.Name("lastLogin"), expression.Value(l.DeviceTime.UnixNano())).
		Set(expression.Name("sessionPool"), expression.Value(pool.Name)).
		Set(expression.Name("sessionId"), expression.Value(sess.ID)).
		Set(expression.Name("sessionReq"), expression.Value(l.RequestID))
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
		expression.Name("permitted").Equal(expression.Value(true)).
			And(expression.Name("pool").Equal(expression.Value(pool.Name)))).Build()
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
	return items, nil
}

// makeRoom ends up to need sessions of a full pool: first sessions whose
// lease expired (their edge task is gone, whatever the policy), then, when
// the pool has a maximum and an idle timeout, idle sessions oldest first.
// Each is ended by a transaction conditional on it still qualifying, so a
// session that became active, or that a competing login evicted first, is
// passed over for the next candidate.
func (s *Store) makeRoom(ctx context.Context, pool PoolConfig, need int) ([]Ended, error) {
	now := s.now()
	nowMs := now.UnixMilli()
	var ended []Ended
	var endErr error
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
	pk := expression.Key(attrPK).Equal(expression.Value(poolPrefix + pool.Name))

	expiredRule := func(sessionItem) endRule {
		c := expression.Name(attrLease).LessThan(expression.Value(nowMs))
		return endRule{reason: EndLeaseExpired, extra: &c}
	}
	err := queryEach(ctx, s, "query expired leases", pk.And(expression.Key(attrLease).LessThan(expression.Value(nowMs))),
		leaseIndex, pageSize, func(page []sessionItem) bool { return try(page, expiredRule) })
	if err != nil || endErr != nil || len(ended) == need {
		return ended, errors.Join(err, endErr)
	}
	if pool.MaxSessions == 0 || pool.IdleTimeout == 0 {
		return ended, nil
	}
	cutoff := now.Add(-pool.IdleTimeout).UnixMilli()
	idleRule := func(it sessionItem) endRule {
		c := expression.Name("cov").Equal(expression.Value(string(CoverageOut))).
			Or(expression.Name("lastStatus").LessThan(expression.Value(cutoff)))
		return endRule{reason: EndIdle, version: it.Version, extra: &c}
	}
	err = queryEach(ctx, s, "query idle sessions", pk.And(expression.Key(attrActivity).LessThan(expression.Value(cutoff))),
		activityIndex, pageSize, func(page []sessionItem) bool { return try(page, idleRule) })
	return ended, errors.Join(err, endErr)
}

// requestToken derives the transaction's idempotency token, so that the
// SDK's own retries of one attempt never apply it twice.
func requestToken(requestID string, attempt int) string {
	sum := sha256.Sum256([]byte(requestID + "/" + strconv.Itoa(attempt)))
	return hex.EncodeToString(sum[:16])
}
