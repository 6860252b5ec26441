package admission

import (
	"context"
	"crypto/ecdh"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// PutPool validates and stores a pool configuration, creating the pool's
// counter when it has none. It returns the configuration as stored (with
// defaults filled in).
func (s *Store) PutPool(ctx context.Context, c PoolConfig) (PoolConfig, error) {
	c, err := c.Normalized()
	if err != nil {
		return c, err
	}
	config, counter := poolItems(c, s.now())
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: config}); err != nil {
		return c, unavailable("put pool", err)
	}
	s.pools.forget(c.Name)
	// The counter starts at zero once; it is never overwritten afterwards.
	cond := expression.AttributeNotExists(expression.Name(attrPK))
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return c, fmt.Errorf("admission: build counter condition: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      counter,
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	if err != nil && !isConditionFailed(err) {
		return c, unavailable("create counter", err)
	}
	return c, nil
}

// PoolItems returns the two items PutPool writes for c, normalized, at
// updated: the configuration and the pool's counter as it starts. The
// Terraform pool module writes the same items (infra/modules/pool), and
// infra/infratest compares the two for a table of configurations.
func PoolItems(c PoolConfig, updated time.Time) (config, counter map[string]types.AttributeValue, err error) {
	c, err = c.Normalized()
	if err != nil {
		return nil, nil, err
	}
	config, counter = poolItems(c, updated)
	return config, counter, nil
}

// poolItems builds the items of a normalized configuration.
func poolItems(c PoolConfig, updated time.Time) (config, counter map[string]types.AttributeValue) {
	item := configItem{
		key:               configKey(c.Name),
		Pool:              c.Name,
		MaxSessions:       c.MaxSessions,
		IdleTimeoutMs:     c.IdleTimeout.Milliseconds(),
		InactivityMs:      c.InactivityTimeout.Milliseconds(),
		ProtocolLimit:     c.ProtocolLimit,
		GroupWiseHost:     c.GroupWise.Host,
		GroupWisePort:     c.GroupWise.Port,
		GroupWiseCARef:    c.GroupWise.CARef,
		GroupWisePinSHA:   c.GroupWise.PinSHA256,
		UpdatedUnixMillis: updated.UnixMilli(),
	}
	return mustMarshal(item), mustMarshal(counterItem{key: counterKey(c.Name)})
}

// GetPool returns a pool's configuration, or ErrUnknownPool.
func (s *Store) GetPool(ctx context.Context, name string) (PoolConfig, error) {
	var it configItem
	found, err := s.get(ctx, "get pool", configKey(name), &it)
	if err != nil {
		return PoolConfig{}, err
	}
	if !found {
		return PoolConfig{}, fmt.Errorf("%w: %q", ErrUnknownPool, name)
	}
	return it.config(), nil
}

// ListPools returns every pool's configuration.
func (s *Store) ListPools(ctx context.Context) ([]PoolConfig, error) {
	keyCond := expression.Key(attrPK).Equal(expression.Value(configPK))
	items, err := queryAll[configItem](ctx, s, "list pools", keyCond)
	if err != nil {
		return nil, err
	}
	pools := make([]PoolConfig, len(items))
	for i, it := range items {
		pools[i] = it.config()
	}
	return pools, nil
}

// PutUser creates or replaces a user.
func (s *Store) PutUser(ctx context.Context, u User) error {
	if err := validName(u.ID); err != nil {
		return fmt.Errorf("%w: user id %w", ErrInvalidRequest, err)
	}
	if err := validName(u.Pool); err != nil {
		return fmt.Errorf("%w: user pool %w", ErrInvalidRequest, err)
	}
	item := userItem{key: userKey(u.ID), ID: u.ID, Pool: u.Pool, Permitted: u.Permitted}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: mustMarshal(item)}); err != nil {
		return unavailable("put user", err)
	}
	return nil
}

// GetUser returns a user, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (User, error) {
	var it userItem
	found, err := s.get(ctx, "get user", userKey(id), &it)
	if err != nil {
		return User{}, err
	}
	if !found {
		return User{}, fmt.Errorf("%w: user %q", ErrNotFound, id)
	}
	return User{ID: it.ID, Pool: it.Pool, Permitted: it.Permitted}, nil
}

// SetPermitted permits or forbids an existing user to use the client.
// Forbidding does not end live sessions; the next login is refused.
func (s *Store) SetPermitted(ctx context.Context, id string, permitted bool) error {
	update := expression.Set(expression.Name(attrPermitted), expression.Value(permitted))
	cond := expression.AttributeExists(expression.Name(attrPK))
	return s.updateExisting(ctx, "set permitted", userKey(id), update, cond, fmt.Errorf("%w: user %q", ErrNotFound, id))
}

// RegisterDevice registers a device's Noise static public key and binds it
// to a user. Re-registering replaces the key and reactivates the device,
// keeping its replay counter and current session.
func (s *Store) RegisterDevice(ctx context.Context, d Device) error {
	if err := validName(d.ID); err != nil {
		return fmt.Errorf("%w: device id %w", ErrInvalidRequest, err)
	}
	if err := validName(d.UserID); err != nil {
		return fmt.Errorf("%w: device user %w", ErrInvalidRequest, err)
	}
	if _, err := ecdh.X25519().NewPublicKey(d.PublicKey); err != nil {
		return fmt.Errorf("%w: device public key must be a 32-byte X25519 key", ErrInvalidRequest)
	}
	update := expression.Set(expression.Name(attrDevice), expression.Value(d.ID)).
		Set(expression.Name(attrUser), expression.Value(d.UserID)).
		Set(expression.Name(attrPublicKey), expression.Value(d.PublicKey)).
		Set(expression.Name(attrActive), expression.Value(true)).
		Set(expression.Name(attrLastLogin), expression.IfNotExists(expression.Name(attrLastLogin), expression.Value(0)))
	expr, err := expression.NewBuilder().WithUpdate(update).Build()
	if err != nil {
		return fmt.Errorf("admission: build device update: %w", err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       deviceKey(d.ID).av(),
		UpdateExpression:          expr.Update(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	if err != nil {
		return unavailable("register device", err)
	}
	return nil
}

// GetDevice returns a device, or ErrNotFound.
func (s *Store) GetDevice(ctx context.Context, id string) (Device, error) {
	it, found, err := s.getDevice(ctx, id)
	if err != nil {
		return Device{}, err
	}
	if !found {
		return Device{}, fmt.Errorf("%w: device %q", ErrNotFound, id)
	}
	return Device{ID: it.ID, UserID: it.UserID, PublicKey: it.PublicKey, Active: it.Active}, nil
}

// RevokeDevice marks a device revoked and ends its live session, if any;
// the edge holding that session learns it at its next heartbeat.
func (s *Store) RevokeDevice(ctx context.Context, id string) error {
	update := expression.Set(expression.Name(attrActive), expression.Value(false))
	cond := expression.AttributeExists(expression.Name(attrPK))
	if err := s.updateExisting(ctx, "revoke device", deviceKey(id), update, cond, fmt.Errorf("%w: device %q", ErrNotFound, id)); err != nil {
		return err
	}
	it, found, err := s.getDevice(ctx, id)
	if err != nil || !found || it.SessionID == "" {
		return err
	}
	_, err = s.endSession(ctx, SessionRef{Pool: it.SessionPool, DeviceID: id, ID: it.SessionID}, endRule{reason: EndRevoked, device: true})
	return err
}

func (s *Store) getDevice(ctx context.Context, id string) (deviceItem, bool, error) {
	var it deviceItem
	found, err := s.get(ctx, "get device", deviceKey(id), &it)
	return it, found, err
}

// ListSessions returns the live sessions of a pool, read consistently,
// each with its owner task's lease expiry.
func (s *Store) ListSessions(ctx context.Context, pool string) ([]Session, error) {
	items, err := s.poolSessions(ctx, pool)
	if err != nil {
		return nil, err
	}
	tasks, err := s.listTasks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Session, len(items))
	for i, it := range items {
		out[i] = it.session()
		out[i].LeaseExpires = tasks[it.Owner].Expires
	}
	return out, nil
}

// Counter returns a pool's live-session counter.
func (s *Store) Counter(ctx context.Context, pool string) (int, error) {
	var c counterItem
	if _, err := s.get(ctx, "get counter", counterKey(pool), &c); err != nil {
		return 0, err
	}
	return c.Live, nil
}

// poolSessions reads every session item of a pool with strong consistency,
// one query per shard, only the attributes named (all when none).
func (s *Store) poolSessions(ctx context.Context, pool string, attrs ...string) ([]sessionItem, error) {
	var out []sessionItem
	if len(attrs) > 0 {
		attrs = append(attrs, attrSessionID, attrDevice, attrPool)
	}
	for shard := range sessionShards {
		keyCond := expression.Key(attrPK).Equal(expression.Value(sessionShardPK(pool, shard)))
		err := queryEach(ctx, s, "query sessions", query{keyCond: keyCond, consistent: true, project: attrs},
			func(page []sessionItem) bool {
				out = append(out, page...)
				return true
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// query is one Query: its key condition, the index (none: the table),
// the page size (0: as large as DynamoDB allows), the attributes to return
// (none: all) and whether to read with strong consistency (the table only).
type query struct {
	keyCond    expression.KeyConditionBuilder
	index      string
	pageSize   int32
	project    []string
	consistent bool
}

// queryAll reads every item a strongly consistent query of the table finds.
func queryAll[T any](ctx context.Context, s *Store, op string, keyCond expression.KeyConditionBuilder) ([]T, error) {
	var out []T
	err := queryEach(ctx, s, op, query{keyCond: keyCond, consistent: true}, func(page []T) bool {
		out = append(out, page...)
		return true
	})
	return out, err
}

// queryEach runs q page by page until the pages end or each returns false.
func queryEach[T any](ctx context.Context, s *Store, op string, q query, each func(page []T) bool) error {
	b := expression.NewBuilder().WithKeyCondition(q.keyCond)
	if len(q.project) > 0 {
		names := make([]expression.NameBuilder, len(q.project))
		for i, a := range q.project {
			names[i] = expression.Name(a)
		}
		b = b.WithProjection(expression.NamesList(names[0], names[1:]...))
	}
	expr, err := b.Build()
	if err != nil {
		return fmt.Errorf("admission: %s: build query: %w", op, err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		ProjectionExpression:      expr.Projection(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(q.consistent),
	}
	if q.index != "" {
		in.IndexName = aws.String(q.index)
	}
	if q.pageSize > 0 {
		in.Limit = aws.Int32(q.pageSize)
	}
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return unavailable(op, err)
		}
		var page []T
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return fmt.Errorf("admission: %s: decode: %w", op, err)
		}
		if !each(page) || len(res.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}
