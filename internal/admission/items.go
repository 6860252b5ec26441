package admission

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/manifest"
)

// Key layout (docs/data-model.md):
//
//	pk                       sk            item
//	CONFIG                   POOL#<pool>   pool configuration (one partition lists all pools)
//	POOL#<pool>              #COUNTER      live-session counter of the pool
//	SESSION#<pool>#<shard>   <device>      a live session (a device has at most one per pool)
//	TASK                     <task>        an edge task's lease (one partition lists all tasks)
//	USER#<user>              USER          user: pool, permitted
//	DEVICE#<device>          DEVICE        device: key, bound user, active, current session
//
// Sessions are spread over sessionShards partitions per pool by a hash of
// the device id: the pool's counter partition already takes two write units
// per login and per logout, and sessions there too would bring a pool at
// 100 logins/s close to a partition's 1,000 WCU/s.
const (
	configPK      = "CONFIG"
	poolPrefix    = "POOL#"
	counterSK     = "#COUNTER"
	sessionPrefix = manifest.SessionKeyPrefix
	taskPK        = manifest.TaskPartitionKey
	userPrefix    = "USER#"
	userSK        = "USER"
	devicePrefix  = "DEVICE#"
	deviceSK      = "DEVICE"

	// sessionShards is how many partitions hold one pool's sessions. It is
	// part of the key layout: changing it orphans every session item.
	sessionShards = 8

	// activityIndex lists, per pool, the sessions that are out of coverage
	// or silent (a sparse GSI on act); ownerIndex lists, per edge task, the
	// sessions it holds. Both are global indexes, read with eventual
	// consistency: every write decided from them is conditional on the
	// base item, so a stale entry only fails its condition.
	activityIndex = manifest.IndexActivity
	ownerIndex    = manifest.IndexOwner

	// outOfCoverageShift moves the activity of out-of-coverage sessions
	// below every real time, so one range query on the activity index finds
	// them first (oldest first), then sessions silent since before a cutoff.
	outOfCoverageShift = int64(1e13)
	// taskTTLGrace is how long after its lease a task item stays for
	// DynamoDB TTL to remove it; the sweep normally deletes it earlier.
	taskTTLGrace = 24 * time.Hour
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

func configKey(pool string) key  { return key{configPK, poolPrefix + pool} }
func counterKey(pool string) key { return key{poolPrefix + pool, counterSK} }
func taskKey(task string) key    { return key{taskPK, task} }
func userKey(id string) key      { return key{userPrefix + id, userSK} }
func deviceKey(id string) key    { return key{devicePrefix + id, deviceSK} }

func sessionKey(pool, device string) key {
	return key{sessionShardPK(pool, shardOf(device)), device}
}

func sessionShardPK(pool string, shard int) string {
	return sessionPrefix + pool + "#" + strconv.Itoa(shard)
}

func shardOf(device string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(device)) // a hash never fails to write
	return int(h.Sum32() % sessionShards)
}

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
	// session item itself, with its owner so that admission and RESUME
	// need not read the session.
	SessionPool  string `dynamodbav:"sessionPool,omitempty"`
	SessionID    string `dynamodbav:"sessionId,omitempty"`
	SessionReq   string `dynamodbav:"sessionReq,omitempty"`
	SessionOwner string `dynamodbav:"sessionOwner,omitempty"`
}

// oldSession is the device's current session as its device item names it.
func (d deviceItem) oldSession() *SessionRef {
	if d.SessionID == "" {
		return nil
	}
	return &SessionRef{Pool: d.SessionPool, DeviceID: d.ID, ID: d.SessionID}
}

type connectivityItem struct {
	Host      string `dynamodbav:"host,omitempty"`
	Port      int    `dynamodbav:"port,omitempty"`
	UserDN    string `dynamodbav:"userDn,omitempty"`
	Keepalive int    `dynamodbav:"keepalive,omitempty"`
	EdgeAddr  string `dynamodbav:"edgeAddr,omitempty"`
}

// sessionItem is a live session. It carries no lease: its owner task's
// lease item says whether the task holding it is alive. act is set only
// while the session is out of coverage or silent (the activity index is
// sparse), so a device sending STATUS costs no write.
type sessionItem struct {
	key
	ID          string           `dynamodbav:"sid"`
	Pool        string           `dynamodbav:"pool"`
	DeviceID    string           `dynamodbav:"device"`
	UserID      string           `dynamodbav:"user"`
	Owner       string           `dynamodbav:"owner"`
	RequestID   string           `dynamodbav:"req"`
	Version     int64            `dynamodbav:"ver"`
	Created     int64            `dynamodbav:"created"`
	LastStatus  int64            `dynamodbav:"lastStatus"`
	Coverage    string           `dynamodbav:"cov"`
	CovSince    int64            `dynamodbav:"covSince"`
	Activity    *int64           `dynamodbav:"act,omitempty"`
	ActivitySeq uint64           `dynamodbav:"aseq,omitempty"`
	ResumeHash  []byte           `dynamodbav:"resumeHash,omitempty"`
	Conn        connectivityItem `dynamodbav:"conn"`
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
		LastStatus:      time.UnixMilli(it.LastStatus),
		Coverage:        Coverage(it.Coverage),
		CoverageSince:   time.UnixMilli(it.CovSince),
		Silent:          it.Activity != nil && Coverage(it.Coverage) == CoverageIn,
		ResumeTokenHash: it.ResumeHash,
		Connectivity:    Connectivity(it.Conn),
	}
}

// taskItem is an edge task's lease: renewed by the task every heartbeat,
// the only item a heartbeat writes.
type taskItem struct {
	key
	Task    string `dynamodbav:"task"`
	Addr    string `dynamodbav:"addr,omitempty"`
	Lease   int64  `dynamodbav:"lease"`
	Started int64  `dynamodbav:"started"`
}

func (t taskItem) lease() TaskLease {
	return TaskLease{Task: t.Task, Addr: t.Addr, Expires: time.UnixMilli(t.Lease), Started: time.UnixMilli(t.Started)}
}

// activityKey is the activity-index sort key of a session in the given
// state, or nil when it is in coverage and not silent (not in the index).
func activityKey(a Activity) *int64 {
	switch {
	case a.Coverage == CoverageOut:
		v := a.CoverageSince.UnixMilli() - outOfCoverageShift
		return &v
	case a.Silent:
		v := a.LastStatus.UnixMilli()
		return &v
	}
	return nil
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

// getAll reads items with strong consistency in BatchGetItems of at most
// 100 keys (and their retries of unprocessed keys); outs[i] receives
// keys[i]'s item, found[i] says whether it exists. The keys must be
// distinct.
func (s *Store) getAll(ctx context.Context, op string, keys []key, outs []any) (found []bool, err error) {
	index := make(map[key]int, len(keys))
	for i, k := range keys {
		index[k] = i
	}
	found = make([]bool, len(keys))
	for start := 0; start < len(keys); start += 100 {
		batch := keys[start:min(start+100, len(keys))]
		pending := make([]map[string]types.AttributeValue, len(batch))
		for i, k := range batch {
			pending[i] = k.av()
		}
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
	return i >= 0 && i < len(codes) && codes[i] == "ConditionalCheckFailed"
}
