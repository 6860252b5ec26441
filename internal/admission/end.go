package admission

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// EndReason says why a session ended.
type EndReason string

// Reasons a session ends.
const (
	EndReleased     EndReason = "released"      // the device logged out or the edge let it go
	EndIdle         EndReason = "idle"          // evicted at the maximum: out of coverage or no status within the idle timeout
	EndLeaseExpired EndReason = "lease_expired" // its edge task's lease lapsed (the task died)
	EndInactivity   EndReason = "inactivity"    // silent longer than the inactivity timeout
	EndReplaced     EndReason = "replaced"      // a newer login of the same device
	EndRevoked      EndReason = "revoked"       // the device was revoked
)

// Ended is a session the store ended on its own initiative; the edge task
// that owns it learns it from the login's answer (when the login went
// through that task) or at its next heartbeat (Reconcile).
type Ended struct {
	Session SessionRef `json:"session"`
	Owner   string     `json:"owner"`
	Reason  EndReason  `json:"reason"`
}

// endRule says when a session may be ended: version 0 matches any version,
// extra, when set, must hold too; owner, when set, must still hold it, and
// deadTask, when set, must still be dead (its lease lapsed, or its item
// gone) when the transaction commits, so a task that renews its lease in
// time keeps its sessions.
type endRule struct {
	reason   EndReason
	version  int64
	extra    *expression.ConditionBuilder
	owner    string
	deadTask string
	// device: also clear the device's pointer to the session (every end
	// but the replacement inside an admission, which updates the device
	// itself).
	device bool
}

// endTxn is an end transaction and where its optional items are in it
// (-1 when absent), to read its cancellation reasons.
type endTxn struct {
	items        []types.TransactWriteItem
	task, device int
}

// The first two items of every end transaction.
const (
	endSessionItem = iota
	endCounterItem
)

// Release ends a session and frees its slot. Releasing a session that is
// already gone, or unknown, is not an error.
func (s *Store) Release(ctx context.Context, ref SessionRef) error {
	if err := ref.validate(); err != nil {
		return err
	}
	_, err := s.endSession(ctx, ref, endRule{reason: EndReleased, device: true})
	return err
}

// endSession deletes the session, decrements its pool's counter and
// (rule.device) clears the device's pointer in one transaction. ended is
// false when the session no longer exists or no longer matches the rule.
func (s *Store) endSession(ctx context.Context, ref SessionRef, rule endRule) (ended bool, err error) {
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return false, err
			}
		}
		txn, err := s.endItems(ref, rule)
		if err != nil {
			return false, err
		}
		_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: txn.items})
		if err == nil {
			s.log.InfoContext(ctx, "session ended", "session", ref.ID, "pool", ref.Pool, "device", ref.DeviceID, "reason", rule.reason)
			return true, nil
		}
		codes := cancellationCodes(err)
		switch {
		case codes == nil:
			if ctx.Err() != nil || attempt == s.maxAttempts-1 {
				return false, unavailable("end session", err)
			}
		case conditionFailed(codes, endSessionItem):
			return false, nil // already gone, replaced, or no longer matching the rule
		case conditionFailed(codes, endCounterItem):
			return false, fmt.Errorf("%w: pool %q has no counter", ErrUnknownPool, ref.Pool)
		case conditionFailed(codes, txn.task):
			return false, nil // the task renewed its lease: it is alive
		case conditionFailed(codes, txn.device):
			// The device no longer points at this session (or was deleted):
			// end the session without touching the device.
			rule.device = false
		}
	}
	return false, fmt.Errorf("%w: end session %s", ErrContention, ref)
}

func (s *Store) endItems(ref SessionRef, rule endRule) (endTxn, error) {
	txn := endTxn{task: -1, device: -1}
	cond := expression.Name(attrSessionID).Equal(expression.Value(ref.ID))
	if rule.version != 0 {
		cond = cond.And(expression.Name(attrVersion).Equal(expression.Value(rule.version)))
	}
	if rule.owner != "" {
		cond = cond.And(expression.Name(attrOwner).Equal(expression.Value(rule.owner)))
	}
	if rule.extra != nil {
		cond = cond.And(*rule.extra)
	}
	del, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return txn, fmt.Errorf("admission: build end condition: %w", err)
	}
	txn.items = []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                 aws.String(s.table),
			Key:                       sessionKey(ref.Pool, ref.DeviceID).av(),
			ConditionExpression:       del.Condition(),
			ExpressionAttributeNames:  del.Names(),
			ExpressionAttributeValues: del.Values(),
		}},
		counterUpdate(s.table, ref.Pool, -1, nil),
	}
	if rule.deadTask != "" {
		dead := expression.AttributeNotExists(expression.Name(attrPK)).
			Or(expression.Name(attrLease).LessThan(expression.Value(s.now().UnixMilli())))
		check, err := expression.NewBuilder().WithCondition(dead).Build()
		if err != nil {
			return txn, fmt.Errorf("admission: build task check: %w", err)
		}
		txn.task = len(txn.items)
		txn.items = append(txn.items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                 aws.String(s.table),
			Key:                       taskKey(rule.deadTask).av(),
			ConditionExpression:       check.Condition(),
			ExpressionAttributeNames:  check.Names(),
			ExpressionAttributeValues: check.Values(),
		}})
	}
	if rule.device {
		upd := expression.Remove(expression.Name(attrSessionPool)).
			Remove(expression.Name(attrSessionRef)).
			Remove(expression.Name(attrSessionReq)).
			Remove(expression.Name(attrSessionOwner))
		dcond := expression.Name(attrSessionRef).Equal(expression.Value(ref.ID))
		dev, err := expression.NewBuilder().WithUpdate(upd).WithCondition(dcond).Build()
		if err != nil {
			return txn, fmt.Errorf("admission: build device update: %w", err)
		}
		txn.device = len(txn.items)
		txn.items = append(txn.items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       deviceKey(ref.DeviceID).av(),
			UpdateExpression:          dev.Update(),
			ConditionExpression:       dev.Condition(),
			ExpressionAttributeNames:  dev.Names(),
			ExpressionAttributeValues: dev.Values(),
		}})
	}
	return txn, nil
}

// counterUpdate moves a pool's counter by delta and bumps its version (the
// sweep's recount is conditional on it). below, when set, is the count the
// counter must be under before the change.
func counterUpdate(table, pool string, delta int, below *int) types.TransactWriteItem {
	upd := expression.Add(expression.Name(attrVersion), expression.Value(1))
	if delta != 0 {
		upd = upd.Add(expression.Name(attrLive), expression.Value(delta))
	}
	cond := expression.AttributeExists(expression.Name(attrPK))
	if below != nil {
		cond = cond.And(expression.Name(attrLive).LessThan(expression.Value(*below)))
	}
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		// The builder only fails on empty expressions, which cannot happen here.
		panic(fmt.Sprintf("admission: counter expression: %v", err))
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 aws.String(table),
		Key:                       counterKey(pool).av(),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}}
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// updateExisting applies update to an item when cond holds; a failed
// condition returns notFound.
func (s *Store) updateExisting(ctx context.Context, op string, k key, update expression.UpdateBuilder, cond expression.ConditionBuilder, notFound error) error {
	expr, err := expression.NewBuilder().WithUpdate(update).WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("admission: %s: build: %w", op, err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       k.av(),
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	switch {
	case err == nil:
		return nil
	case isConditionFailed(err):
		return notFound
	default:
		return unavailable(op, err)
	}
}
