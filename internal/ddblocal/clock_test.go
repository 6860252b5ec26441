package ddblocal

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestClockOffsetMovesTheTTLProcess proves the clock guard's premise: a
// DynamoDB Local started a year ahead deletes an item whose ttl is
// tomorrow by the real clock, and keeps one whose ttl is beyond its own now.
func TestClockOffsetMovesTheTTLProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own DynamoDB Local")
	}
	if _, err := faketimeEnv(time.Hour); errors.Is(err, ErrFaketimeMissing) {
		t.Fatal("libfaketime is missing: run make deps")
	}
	cache, err := CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	proc, err := Start(ctx, Config{CacheDir: cache, ClockOffset: 365 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Stop() //nolint:errcheck // the test result is what matters
	db := NewClient(proc.Endpoint())
	table := aws.String("ttl-offset")
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            table,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: aws.Bool(true)},
	}); err != nil {
		t.Fatal(err)
	}
	put := func(pk string, ttl time.Time) {
		t.Helper()
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{
			"pk":  &types.AttributeValueMemberS{Value: pk},
			"ttl": &types.AttributeValueMemberN{Value: strconv.FormatInt(ttl.Unix(), 10)},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	exists := func(pk string) bool {
		t.Helper()
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item != nil
	}
	put("tomorrow", time.Now().Add(24*time.Hour))
	put("in two years", time.Now().Add(2*365*24*time.Hour))
	for exists("tomorrow") {
		select {
		case <-ctx.Done():
			t.Fatal("DynamoDB Local a year ahead kept an item whose ttl is tomorrow: the clock offset did not reach it")
		case <-time.After(500 * time.Millisecond):
		}
	}
	if !exists("in two years") {
		t.Fatal("DynamoDB Local a year ahead deleted an item whose ttl is two years away")
	}
}
