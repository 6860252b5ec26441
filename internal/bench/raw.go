package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/manifest"
)

// DynamoDB lists the SDK methods the raw phase calls; *dynamodb.Client is
// one.
type DynamoDB interface {
	admission.TableAdmin
	DeleteTable(ctx context.Context, in *dynamodb.DeleteTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteTableOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// RawPoint is the raw transaction rate at one concurrency.
type RawPoint struct {
	Concurrency int     `json:"concurrency"`
	TxPerSecond float64 `json:"txPerSecond"`
	Latency     Latency `json:"latency"`
	// Errors counts transactions that failed (none expected: the counter's
	// condition always holds), by error code.
	Errors map[string]int `json:"errors,omitempty"`
	// CPUPerTxMs is the CPU each part of the stack spent per transaction
	// (ms), when the stack's CPU is read.
	CPUPerTxMs map[string]float64 `json:"cpuPerTxMs,omitempty"`
}

// RawReport is DynamoDB Local's rate for the admission-shaped transaction.
type RawReport struct {
	Table  string     `json:"table"`
	Points []RawPoint `json:"points"`
	// Best is the highest TxPerSecond: the database's raw rate.
	Best float64 `json:"bestTxPerSecond"`
}

// rawPool is the pool of the raw phase's items; rawDevices the devices
// (and users) it cycles through, enough that no two transactions in
// flight touch one device.
const (
	rawPool    = "bench-raw"
	rawDevices = 256
	// rawLimit is the counter's condition: far above what a phase adds,
	// so the condition is evaluated on every transaction and always holds.
	rawLimit = 1 << 40
	// batchWriteMax is DynamoDB's BatchWriteItem limit.
	batchWriteMax = 25
)

// raw measures DynamoDB Local alone, with what an admission commits: one
// TransactWriteItems that puts a session item (conditional on its key
// being new), applies a conditional ADD to one hot counter, updates a
// device (conditional on its last login being older) and checks a user
// condition (permitted, in the pool). The items have the admission's keys
// and attributes (docs/data-model.md): the session in one of its pool's
// shards, in the owner index and not the sparse activity index, as a new
// session is. It runs in a table of its own made with the collabgw table's
// schema, so the writes maintain the same indexes, and deletes it after.
type raw struct {
	db    DynamoDB
	table string
	stack StackCPU // nil: no CPU by part
}

func (r *raw) run(ctx context.Context, concurrencies []int, each time.Duration) (RawReport, error) {
	rep := RawReport{Table: r.table}
	if err := admission.CreateTable(ctx, r.db, r.table); err != nil {
		return rep, err
	}
	defer func() {
		// A fresh context: the run's may have ended, and a leftover table
		// only costs memory in DynamoDB Local.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = r.db.DeleteTable(dctx, &dynamodb.DeleteTableInput{TableName: aws.String(r.table)})
	}()
	if err := r.seed(ctx); err != nil {
		return rep, err
	}
	for _, c := range concurrencies {
		p, err := r.point(ctx, c, each)
		if err != nil {
			return rep, err
		}
		rep.Points = append(rep.Points, p)
		rep.Best = max(rep.Best, p.TxPerSecond)
	}
	return rep, nil
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{manifest.AttrPartitionKey: s(pk), manifest.AttrSortKey: s(sk)}
}

func rawUser(i int) string   { return fmt.Sprintf("raw-user-%03d", i) }
func rawDevice(i int) string { return fmt.Sprintf("raw-device-%03d", i) }

// seed writes the counter, the users and the devices.
func (r *raw) seed(ctx context.Context) error {
	items := []map[string]types.AttributeValue{
		merge(itemKey("POOL#"+rawPool, "#COUNTER"), map[string]types.AttributeValue{"live": n(0), "ver": n(0)}),
	}
	for i := range rawDevices {
		items = append(items,
			merge(itemKey("USER#"+rawUser(i), "USER"), map[string]types.AttributeValue{
				"user": s(rawUser(i)), "pool": s(rawPool), "permitted": &types.AttributeValueMemberBOOL{Value: true},
			}),
			merge(itemKey("DEVICE#"+rawDevice(i), "DEVICE"), map[string]types.AttributeValue{
				"device": s(rawDevice(i)), "user": s(rawUser(i)), "active": &types.AttributeValueMemberBOOL{Value: true},
				"publicKey": &types.AttributeValueMemberB{Value: make([]byte, 32)}, "lastLogin": n(0),
			}))
	}
	for len(items) > 0 {
		batch := items[:min(batchWriteMax, len(items))]
		items = items[len(batch):]
		reqs := make([]types.WriteRequest, len(batch))
		for i, it := range batch {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
		}
		in := map[string][]types.WriteRequest{r.table: reqs}
		for len(in) > 0 { // DynamoDB may hand back unprocessed items
			out, err := r.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: in})
			if err != nil {
				return fmt.Errorf("bench: seed the raw table: %w", err)
			}
			in = out.UnprocessedItems
		}
	}
	return nil
}

func merge(a, b map[string]types.AttributeValue) map[string]types.AttributeValue {
	for k, v := range b {
		a[k] = v
	}
	return a
}

// point runs c workers for d, each committing admission-shaped
// transactions back to back; worker w cycles through devices of its own
// (a block of rawDevices/c), so no two workers race on one device.
func (r *raw) point(ctx context.Context, c int, d time.Duration) (RawPoint, error) {
	if c < 1 || c > rawDevices {
		return RawPoint{}, fmt.Errorf("%w: raw concurrency %d not in 1..%d", ErrConfig, c, rawDevices)
	}
	var (
		mu     sync.Mutex // guards lat, errs, fatal
		lat    []time.Duration
		errs   = map[string]int{}
		fatal  error
		wg     sync.WaitGroup
		pctx   context.Context
		cancel context.CancelFunc
	)
	var cpuBefore map[string]time.Duration
	if r.stack != nil {
		var err error
		if cpuBefore, err = r.stack.CPUByCommand(); err != nil {
			return RawPoint{}, err
		}
	}
	pctx, cancel = context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			per := rawDevices / c
			for k := 0; pctx.Err() == nil; k++ {
				dev := w*per + k%per
				in, err := r.transaction(dev)
				if err != nil {
					mu.Lock()
					fatal = err
					mu.Unlock()
					cancel()
					return
				}
				t0 := time.Now()
				// The whole phase's context, not pctx: a transaction in
				// flight when the phase ends is finished and counted
				// rather than cut off as an error.
				_, err = r.db.TransactWriteItems(ctx, in)
				took := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs[errorCode(err)]++
				} else {
					lat = append(lat, took)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var cpuAfter map[string]time.Duration
	if r.stack != nil {
		var err error
		if cpuAfter, err = r.stack.CPUByCommand(); err != nil {
			return RawPoint{}, err
		}
	}
	if fatal != nil {
		return RawPoint{}, fatal
	}
	if err := ctx.Err(); err != nil {
		return RawPoint{}, err
	}
	p := RawPoint{Concurrency: c, TxPerSecond: round(float64(len(lat))/elapsed.Seconds(), 1), Latency: summarize(lat)}
	if len(errs) > 0 {
		p.Errors = errs
	}
	if r.stack != nil {
		p.CPUPerTxMs = cpuDelta(cpuBefore, cpuAfter, len(lat))
	}
	return p, nil
}

func errorCode(err error) string {
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return "transport"
}

// rawShards is how many partitions the raw sessions are spread over, as
// the admission spreads a pool's sessions.
const rawShards = 8

// transaction builds one admission-shaped transaction for device dev.
func (r *raw) transaction(dev int) (*dynamodb.TransactWriteItemsInput, error) {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	sid := hex.EncodeToString(id[:])
	now := time.Now()
	nowMs, devTime := now.UnixMilli(), now.UnixNano()
	// Each transaction puts a new session: a real admission replaces the
	// device's old one in place only when it still exists, and the edge's
	// logout deletes it.
	session := merge(itemKey(fmt.Sprintf("%s%s#%d", manifest.SessionKeyPrefix, rawPool, dev%rawShards), rawDevice(dev)+"#"+sid), map[string]types.AttributeValue{
		"sid": s(sid), manifest.AttrPool: s(rawPool), "device": s(rawDevice(dev)), "user": s(rawUser(dev)),
		manifest.AttrOwner: s("bench-task"), "req": s(sid), "ver": n(1), "created": n(nowMs), "lastStatus": n(nowMs),
		"cov": s("in"), "covSince": n(nowMs), "resumeHash": &types.AttributeValueMemberB{Value: id[:]},
		"conn": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"host": s("127.0.0.1"), "port": n(manifest.GroupWisePort)}},
	})
	put, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(manifest.AttrPartitionKey))).Build()
	if err != nil {
		return nil, fmt.Errorf("bench: session put: %w", err)
	}
	counter, err := expression.NewBuilder().
		WithUpdate(expression.Add(expression.Name("live"), expression.Value(1)).Add(expression.Name("ver"), expression.Value(1))).
		WithCondition(expression.Name("live").LessThan(expression.Value(rawLimit))).Build()
	if err != nil {
		return nil, fmt.Errorf("bench: counter update: %w", err)
	}
	device, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name("lastLogin"), expression.Value(devTime)).
			Set(expression.Name("sessionPool"), expression.Value(rawPool)).
			Set(expression.Name("sessionId"), expression.Value(sid)).
			Set(expression.Name("sessionReq"), expression.Value(sid)).
			Set(expression.Name("sessionOwner"), expression.Value("bench-task"))).
		WithCondition(expression.Name("active").Equal(expression.Value(true)).
			And(expression.Name("user").Equal(expression.Value(rawUser(dev)))).
			And(expression.Name("lastLogin").LessThan(expression.Value(devTime)))).Build()
	if err != nil {
		return nil, fmt.Errorf("bench: device update: %w", err)
	}
	user, err := expression.NewBuilder().WithCondition(
		expression.Name("permitted").Equal(expression.Value(true)).
			And(expression.Name("pool").Equal(expression.Value(rawPool)))).Build()
	if err != nil {
		return nil, fmt.Errorf("bench: user check: %w", err)
	}
	table := aws.String(r.table)
	return &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: table, Key: itemKey("POOL#"+rawPool, "#COUNTER"),
			UpdateExpression: counter.Update(), ConditionExpression: counter.Condition(),
			ExpressionAttributeNames: counter.Names(), ExpressionAttributeValues: counter.Values(),
		}},
		{Put: &types.Put{
			TableName: table, Item: session, ConditionExpression: put.Condition(),
			ExpressionAttributeNames: put.Names(), ExpressionAttributeValues: put.Values(),
		}},
		{Update: &types.Update{
			TableName: table, Key: itemKey("DEVICE#"+rawDevice(dev), "DEVICE"),
			UpdateExpression: device.Update(), ConditionExpression: device.Condition(),
			ExpressionAttributeNames: device.Names(), ExpressionAttributeValues: device.Values(),
		}},
		{ConditionCheck: &types.ConditionCheck{
			TableName: table, Key: itemKey("USER#"+rawUser(dev), "USER"), ConditionExpression: user.Condition(),
			ExpressionAttributeNames: user.Names(), ExpressionAttributeValues: user.Values(),
		}},
	}}, nil
}
