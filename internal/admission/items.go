package admission

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/manifest"
)

// Key layout (docs/data-model.md):
//
//	pk              sk               item
//	CONFIG          POOL#<pool>      pool configuration (one partition lists all pools)
//	POOL#<pool>     #COUNTER         live-session counter of the pool
//	POOL#<pool>     SESSION#<device> a live session (a device has at most one)
//	USER#<user>     USER             user: pool, permitted
//	DEVICE#<device> DEVICE           device: key, bound user, active, current session
const (
	attrPK = manifest.AttrPartitionKey
	attrSK = manifest.AttrSortKey

	configPK      = "CONFIG"
	poolPrefix    = manifest.SessionKeyPrefix
	counterSK     = "#COUNTER"
	sessionPrefix = "SESSION#"
	userPrefix    = "USER#"
	userSK        = "USER"
	devicePrefix  = "DEVICE#"
	deviceSK      = "DEVICE"

	// activityIndex orders a pool's sessions by how long they have been idle;
	// leaseIndex by lease expiry. Both are local secondary indexes, so they
	// can be read with strong consistency.
	activityIndex = manifest.IndexActivity
	leaseIndex    = manifest.IndexLease
	attrActivity  = manifest.AttrActivity
	attrLease     = manifest.AttrLease
	attrTTL       = manifest.AttrTTL

	// outOfCoverageShift moves the activity of out-of-coverage sessions
	// below every real time, so one range query on the activity index finds
	// them first (oldest first), then sessions silent since before a cutoff.
	outOfCoverageShift = int64(1e13)
	// ttlGrace is how long after its lease a dead session item stays for
	// DynamoDB TTL to remove it; the sweep normally ends it much earlier.
	ttlGrace = 24 * time.Hour
)

type key struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
}

func (k key) av() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: k.PK},
		attrSK: &types.AttributeValueMemberS{Value: k.SK},
	}
}

func configKey(pool string) key          { return key{configPK, poolPrefix + pool} }
func counterKey(pool string) key         { return key{poolPrefix + pool, counterSK} }
func sessionKey(pool, device string) key { return key{poolPrefix + pool, sessionPrefix + device} }
func userKey(id string) key              { return key{userPrefix + id, userSK} }
func deviceKey(id string) key            { return key{devicePrefix + id, deviceSK} }

type configItem struct {
	key
	Pool              string `dynamodbav:"pool"`
	MaxSessions       int    `dynamodbav:"maxSessions"`
	IdleTimeoutMs     int64  `dynamodbav:"idleTimeoutMs"`
	InactivityMs      int64  `dynamodbav:"inactivityTimeoutMs"`
	ProtocolLimit     int    `dynamodbav:"protocolLimit"`
	GroupWiseHost     string `dynamodbav:"gwHost"`
	GroupWisePort     int    `dynamodbav:"gwPort"`
	GroupWiseCARef    string `dynamodbav:"gwCaRef,omitempty"`
	GroupWisePinSHA   string `dynamodbav:"gwPinSha256,omitempty"`
	UpdatedUnixMillis int64  `dynamodbav:"updated"`
}

func (c configItem) config() PoolConfig {
	return PoolConfig{
		Name:              c.Pool,
		MaxSessions:       c.MaxSessions,
		IdleTimeout:       time.Duration(c.IdleTimeoutMs) * time.Millisecond,
		InactivityTimeout: time.Duration(c.InactivityMs) * time.Millisecond,
		ProtocolLimit:     c.ProtocolLimit,
		GroupWise: GroupWiseTarget{
			Host: c.GroupWiseHost, Port: c.GroupWisePort,
			CARef: c.GroupWiseCARef, PinSHA256: c.GroupWisePinSHA,
		},
	}
}

type counterItem struct {
	key
	Live    int   `dynamodbav:"live"`
	Version int64 `dynamodbav:"ver"`
}

type userItem struct {
	key
	ID        string `dynamodbav:"user"`
	Pool      string `dynamodbav:"pool"`
	Permitted bool   `dynamodbav:"permitted"`
}

type deviceItem struct {
	key
	ID        string `dynamodbav:"device"`
	UserID    string `dynamodbav:"user"`
	PublicKey []byte `dynamodbav:"publicKey"`
	Active    bool   `dynamodbav:"active"`
	// LastLoginNanos is the device timestamp of the last accepted login:
	// a login must carry a later one (replay protection).
	LastLoginNanos int64 `dynamodbav:"lastLogin"`
	// The device's live session, kept in the same transactions as the
	// session item itself.
	SessionPool string `dynamodbav:"sessionPool,omitempty"`
	SessionID   string `dynamodbav:"sessionId,omitempty"`
	SessionReq  string `dynamodbav:"sessionReq,omitempty"`
}

type connectivityItem struct {
	Host      string `dynamodbav:"host,omitempty"`
	Port      int    `dynamodbav:"port,omitempty"`
	UserDN    string `dynamodbav:"userDn,omitempty"`
	Keepalive int    `dynamodbav:"keepalive,omitempty"`
	EdgeAddr  string `dynamodbav:"edgeAddr,omitempty"`
}

type sessionItem struct {
	key
	ID         string           `dynamodbav:"sid"`
	Pool       string           `dynamodbav:"pool"`
	DeviceID   string           `dynamodbav:"device"`
	UserID     string           `dynamodbav:"user"`
	Owner      string           `dynamodbav:"owner"`
	RequestID  string           `dynamodbav:"req"`
	Version    int64            `dynamodbav:"ver"`
	Created    int64            `dynamodbav:"created"`
	Lease      int64            `dynamodbav:"lease"`
	LastStatus int64            `dynamodbav:"lastStatus"`
	Coverage   string           `dynamodbav:"cov"`
	CovSince   int64            `dynamodbav:"covSince"`
	Activity   int64            `dynamodbav:"act"`
	ResumeHash []byte           `dynamodbav:"resumeHash,omitempty"`
	Conn       connectivityItem `dynamodbav:"conn"`
	TTL        int64            `dynamodbav:"ttl"`
}

func (it sessionItem) ref() SessionRef {
	return SessionRef{Pool: it.Pool, DeviceID: it.DeviceID, ID: it.ID}
}

func (it sessionItem) session() Session {
	return Session{
		SessionRef:      it.ref(),
		UserID:          it.UserID,
		Owner:           it.Owner,
		RequestID:       it.RequestID,
		Version:         it.Version,
		Created:         time.UnixMilli(it.Created),
		LeaseExpires:    time.UnixMilli(it.Lease),
		LastStatus:      time.UnixMilli(it.LastStatus),
		Coverage:        Coverage(it.Coverage),
		CoverageSince:   time.UnixMilli(it.CovSince),
		ResumeTokenHash: it.ResumeHash,
		Connectivity:    Connectivity(it.Conn),
	}
}

// activity is the activity-index sort key of a session in the given state.
func activity(cov Coverage, lastStatus, covSince int64) int64 {
	if cov == CoverageOut {
		return covSince - outOfCoverageShift
	}
	return lastStatus
}

// get reads one item with strong consistency into out; found is false when
// the item does not exist.
func (s *Store) get(ctx context.Context, op string, k key, out any) (found bool, err error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            k.av(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, unavailable(op, err)
	}
	if len(res.Item) == 0 {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return false, fmt.Errorf("admission: %s: decode item %s/%s: %w", op, k.PK, k.SK, err)
	}
	return true, nil
}

// getAll reads items with strong consistency in one BatchGetItem (and its
// retries of unprocessed keys); outs[i] receives keys[i]'s item, found[i]
// says whether it exists. The keys must be distinct.
func (s *Store) getAll(ctx context.Context, op string, keys []key, outs []any) (found []bool, err error) {
	pending := make([]map[string]types.AttributeValue, len(keys))
	for i, k := range keys {
		pending[i] = k.av()
	}
	index := make(map[key]int, len(keys))
	for i, k := range keys {
		index[k] = i
	}
	found = make([]bool, len(keys))
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if attempt == s.maxAttempts {
				return nil, fmt.Errorf("%w: %s: keys left unprocessed", ErrUnavailable, op)
			}
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{
				s.table: {Keys: pending, ConsistentRead: aws.Bool(true)},
			},
		})
		if err != nil {
			return nil, unavailable(op, err)
		}
		for _, item := range res.Responses[s.table] {
			var k key
			if err := attributevalue.UnmarshalMap(item, &k); err != nil {
				return nil, fmt.Errorf("admission: %s: decode key: %w", op, err)
			}
			i, ok := index[k]
			if !ok {
				return nil, fmt.Errorf("admission: %s: unexpected item %s/%s", op, k.PK, k.SK)
			}
			if err := attributevalue.UnmarshalMap(item, outs[i]); err != nil {
				return nil, fmt.Errorf("admission: %s: decode item %s/%s: %w", op, k.PK, k.SK, err)
			}
			found[i] = true
		}
		pending = res.UnprocessedKeys[s.table].Keys
	}
	return found, nil
}

func mustMarshal(v any) map[string]types.AttributeValue {
	m, err := attributevalue.MarshalMap(v)
	if err != nil {
		// Only the fixed item structs above are marshalled: an error is a bug.
		panic(fmt.Sprintf("admission: marshal %T: %v", v, err))
	}
	return m
}

// cancellationCodes returns the per-item reason codes of a cancelled
// transaction, or nil when err is not a cancellation.
func cancellationCodes(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
	}
	if len(codes) == 0 {
		codes = []string{"Unknown"}
	}
	return codes
}

func conditionFailed(codes []string, i int) bool {
	return i < len(codes) && codes[i] == "ConditionalCheckFailed"
}
