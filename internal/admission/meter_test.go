package admission

import (
	"context"
	"maps"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// meter wraps the real DynamoDB Local client and counts requests and the
// capacity units DynamoDB Local reports for them (it asks for INDEXES on
// every call, so index units are DynamoDB Local's own figures, not ours).
type meter struct {
	DynamoDB

	mu sync.Mutex // guards usage
	usage
}

// usage is what a stretch of calls cost.
type usage struct {
	WriteRequests float64 // PutItem, UpdateItem, DeleteItem, TransactWriteItems
	WriteUnits    float64 // all write units, tables and indexes
	IndexUnits    float64 // the part of WriteUnits spent on indexes
	ReadRequests  float64 // GetItem, BatchGetItem, Query
	ReadUnits     float64
	// ByIndex is the write units spent on each index.
	ByIndex map[string]float64
}

func (m *meter) snapshot() usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.usage
	u.ByIndex = maps.Clone(m.ByIndex)
	return u
}

func (m *meter) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.usage = usage{}
}

func (m *meter) add(write bool, ccs ...types.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if write {
		m.WriteRequests++
	} else {
		m.ReadRequests++
	}
	for _, cc := range ccs {
		total := aws.ToFloat64(cc.CapacityUnits)
		var idx float64
		for _, byName := range []map[string]types.Capacity{cc.LocalSecondaryIndexes, cc.GlobalSecondaryIndexes} {
			for name, c := range byName {
				idx += aws.ToFloat64(c.CapacityUnits)
				if write {
					if m.ByIndex == nil {
						m.ByIndex = map[string]float64{}
					}
					m.ByIndex[name] += aws.ToFloat64(c.CapacityUnits)
				}
			}
		}
		if write {
			m.WriteUnits += total
			m.IndexUnits += idx
		} else {
			m.ReadUnits += total
		}
	}
}

func one(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}

const indexes = types.ReturnConsumedCapacityIndexes

func (m *meter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in.ReturnConsumedCapacity = indexes
	out, err := m.DynamoDB.GetItem(ctx, in, o...)
	if err == nil {
		m.add(false, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *meter) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	in.ReturnConsumedCapacity = indexes
	out, err := m.DynamoDB.BatchGetItem(ctx, in, o...)
	if err == nil {
		m.add(false, out.ConsumedCapacity...)
	}
	return out, err
}

func (m *meter) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = indexes
	out, err := m.DynamoDB.Query(ctx, in, o...)
	if err == nil {
		m.add(false, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *meter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = indexes
	out, err := m.DynamoDB.PutItem(ctx, in, o...)
	if err == nil {
		m.add(true, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *meter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	in.ReturnConsumedCapacity = indexes
	out, err := m.DynamoDB.UpdateItem(ctx, in, o...)
	if err == nil {
		m.add(true, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *meter) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	in.ReturnConsumedCapacity = indexes
	out, err := m.DynamoDB.TransactWriteItems(ctx, in, o...)
	if err == nil {
		m.add(true, out.ConsumedCapacity...)
	}
	return out, err
}
