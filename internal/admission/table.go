package admission

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/manifest"
)

// TableAdmin lists the SDK methods CreateTable calls.
type TableAdmin interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ TableAdmin = (*dynamodb.Client)(nil)

// TableSchema returns the CreateTable input for the collabgw table; the
// Terraform data module declares the same keys and indexes. There is no
// local secondary index, so no 10 GB item-collection limit; the two global
// indexes project only what their readers need (docs/data-model.md).
func TableSchema(name string) *dynamodb.CreateTableInput {
	gsi := func(index, hash, rng string, include []string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName: aws.String(index),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{
				ProjectionType:   types.ProjectionTypeInclude,
				NonKeyAttributes: include,
			},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrPool), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrActivity), AttributeType: types.ScalarAttributeTypeN},
			{AttributeName: aws.String(attrOwner), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			gsi(activityIndex, attrPool, attrActivity, manifest.ActivityIndexProjection),
			gsi(ownerIndex, attrOwner, attrPool, manifest.OwnerIndexProjection),
		},
	}
}

// CreateTable creates the table when it does not exist, waits until it is
// active and turns on TTL on the ttl attribute. It is safe to call on an
// existing table.
func CreateTable(ctx context.Context, db TableAdmin, name string) error {
	_, err := db.CreateTable(ctx, TableSchema(name))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("admission: create table %s: %w", name, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 2*time.Minute); err != nil {
		return fmt.Errorf("admission: wait for table %s: %w", name, err)
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrTTL),
			Enabled:       aws.Bool(true),
		},
	})
	// Enabling TTL twice is refused with a ValidationException; that is fine.
	var ve interface{ ErrorCode() string }
	alreadyOn := errors.As(err, &ve) && ve.ErrorCode() == "ValidationException"
	if err != nil && !alreadyOn {
		return fmt.Errorf("admission: enable TTL on %s: %w", name, err)
	}
	return nil
}
