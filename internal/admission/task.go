package admission

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// MaxTaskAddrLen bounds a task's advertised address.
const MaxTaskAddrLen = 256

// TaskLease is an edge task's lease: while it runs, the task is alive and
// holds its sessions; once it lapsed, the task is dead and every session it
// owns may be ended (at a pool's maximum at once, and by the sweep).
type TaskLease struct {
	Task string `json:"task"`
	// Addr is where other tasks reach this one over the task-to-task link
	// (host:port), for a RESUME that lands elsewhere.
	Addr    string    `json:"addr,omitempty"`
	Expires time.Time `json:"expires"`
	Started time.Time `json:"started"`
}

// Live reports whether the lease still runs at now.
func (l TaskLease) Live(now time.Time) bool { return now.Before(l.Expires) }

// RenewTaskLease extends the lease of an edge task and records its
// address: one UpdateItem, the only write of a heartbeat. The first call
// registers the task. A task whose lease lapsed may renew it again: its
// sessions that were ended meanwhile are gone (Reconcile tells), the
// others are its own again, because ending a dead task's session is
// conditional on the lease still being lapsed.
func (s *Store) RenewTaskLease(ctx context.Context, task, addr string) (TaskLease, error) {
	if err := validName(task); err != nil {
		return TaskLease{}, fmt.Errorf("%w: task %w", ErrInvalidRequest, err)
	}
	if len(addr) > MaxTaskAddrLen {
		return TaskLease{}, fmt.Errorf("%w: task address longer than %d bytes", ErrInvalidRequest, MaxTaskAddrLen)
	}
	now := s.now()
	exp := now.Add(s.lease)
	update := expression.Set(expression.Name(attrTask), expression.Value(task)).
		Set(expression.Name(attrLease), expression.Value(exp.UnixMilli())).
		Set(expression.Name(attrTTL), expression.Value(exp.Add(taskTTLGrace).Unix())).
		Set(expression.Name(attrStarted), expression.IfNotExists(expression.Name(attrStarted), expression.Value(now.UnixMilli())))
	if addr != "" {
		update = update.Set(expression.Name(attrTaskAddr), expression.Value(addr))
	}
	expr, err := expression.NewBuilder().WithUpdate(update).Build()
	if err != nil {
		return TaskLease{}, fmt.Errorf("admission: build task lease: %w", err)
	}
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       taskKey(task).av(),
		UpdateExpression:          expr.Update(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return TaskLease{}, unavailable("renew task lease", err)
	}
	var it taskItem
	if err := attributevalue.UnmarshalMap(res.Attributes, &it); err != nil {
		return TaskLease{}, fmt.Errorf("admission: renew task lease: decode: %w", err)
	}
	return it.lease(), nil
}

// ExpireTaskLease ends a task's lease now, when the task stops (after its
// drain): any session it did not manage to release is at once evictable
// and swept at the next run, rather than one lease later. A task that was
// never registered is not an error.
func (s *Store) ExpireTaskLease(ctx context.Context, task string) error {
	if err := validName(task); err != nil {
		return fmt.Errorf("%w: task %w", ErrInvalidRequest, err)
	}
	nowMs := s.now().UnixMilli()
	update := expression.Set(expression.Name(attrLease), expression.Value(nowMs))
	cond := expression.AttributeExists(expression.Name(attrPK)).
		And(expression.Name(attrLease).GreaterThan(expression.Value(nowMs)))
	err := s.updateExisting(ctx, "expire task lease", taskKey(task), update, cond, errNoChange)
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// listTasks reads every task's lease item.
func (s *Store) listTasks(ctx context.Context) (map[string]TaskLease, error) {
	items, err := queryAll[taskItem](ctx, s, "list tasks", expression.Key(attrPK).Equal(expression.Value(taskPK)))
	if err != nil {
		return nil, err
	}
	tasks := make(map[string]TaskLease, len(items))
	for _, it := range items {
		tasks[it.Task] = it.lease()
	}
	return tasks, nil
}

// ListTasks returns every edge task's lease, for operators.
func (s *Store) ListTasks(ctx context.Context) ([]TaskLease, error) {
	tasks, err := s.listTasks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TaskLease, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, t)
	}
	return out, nil
}

// Location says where a session lives: the task that holds its device and
// GroupWise connections, how to reach that task, and whether it is alive.
type Location struct {
	Session SessionRef `json:"session"`
	// Owner is the task holding the session.
	Owner string `json:"owner"`
	// Addr is the owner's task-to-task address ("" when the owner never
	// advertised one or its lease item is gone).
	Addr string `json:"addr,omitempty"`
	// Live is false when the owner's lease lapsed (or its item is gone):
	// the session cannot be resumed; the device logs in again, and that
	// login replaces the session in the same slot.
	Live         bool      `json:"live"`
	LeaseExpires time.Time `json:"leaseExpires,omitzero"`
}

// LocateSession finds the task that holds a device's session, for a RESUME
// that reached another task: two consistent reads (the device item names
// the session and its owner; the owner's lease item gives its address and
// liveness). It returns ErrSessionGone when the device has no session or
// another one than sessionID.
func (s *Store) LocateSession(ctx context.Context, deviceID, sessionID string) (Location, error) {
	if validName(deviceID) != nil || sessionID == "" || len(sessionID) > 128 {
		return Location{}, fmt.Errorf("%w: locate needs a device id and a session id", ErrInvalidRequest)
	}
	dev, found, err := s.getDevice(ctx, deviceID)
	if err != nil {
		return Location{}, err
	}
	if !found || dev.SessionID != sessionID {
		return Location{}, fmt.Errorf("%w: device %s has no session %s", ErrSessionGone, deviceID, sessionID)
	}
	loc := Location{Session: *dev.oldSession(), Owner: dev.SessionOwner}
	if loc.Owner == "" {
		// Admitted before device items named the owner: read the session.
		var it sessionItem
		found, err := s.get(ctx, "get session", sessionKey(dev.SessionPool, deviceID), &it)
		if err != nil {
			return Location{}, err
		}
		if !found || it.ID != sessionID {
			return Location{}, fmt.Errorf("%w: session %s", ErrSessionGone, sessionID)
		}
		loc.Owner = it.Owner
	}
	var task taskItem
	found, err = s.get(ctx, "get task", taskKey(loc.Owner), &task)
	if err != nil {
		return Location{}, err
	}
	if found {
		l := task.lease()
		loc.Addr, loc.LeaseExpires, loc.Live = l.Addr, l.Expires, l.Live(s.now())
	}
	return loc, nil
}

// Reconcile tells an edge task which of the sessions it holds are gone
// (ended by an eviction, a sweep, a revocation or a newer login, wherever
// that happened), so it can close their connections and tell their
// devices. It reads the owner index (eventually consistent, paged) and
// confirms every held session missing from it with a consistent read, so
// a session admitted a moment ago, not yet in the index, is never taken
// for gone. A session that failed with an error is in neither list.
//
// It also returns the strays: the sessions the owner index lists for task
// that it does not hold. A stray is a slot
// the task's edge is not using: a login whose authorize admitted it after
// the edge gave up on the call (its answer lost or late), or a session
// whose release failed. Nothing else frees it while the task lives (the
// sweep ends only dead tasks' sessions), so the edge releases it — once it
// has seen it stray at two heartbeats, since a login in flight is admitted
// before the edge holds it, and the index lags a release. It queries the
// owner index even when held is empty.
func (s *Store) Reconcile(ctx context.Context, task string, held []SessionRef) (gone, strays []SessionRef, err error) {
	if err := validTask(task); err != nil {
		return nil, nil, err
	}
	for _, ref := range held {
		if err := ref.validate(); err != nil {
			return nil, nil, err
		}
	}
	isHeld := make(map[SessionRef]bool, len(held))
	for _, ref := range held {
		isHeld[ref] = true
	}
	listed := make(map[SessionRef]bool, len(held))
	keyCond := expression.Key(attrOwner).Equal(expression.Value(task))
	err = queryEach(ctx, s, "query owned sessions", query{keyCond: keyCond, index: ownerIndex, project: []string{attrSessionID, attrDevice, attrPool}},
		func(page []sessionItem) bool {
			for _, it := range page {
				ref := it.ref()
				listed[ref] = true
				if !isHeld[ref] {
					strays = append(strays, ref)
				}
			}
			return true
		})
	if err != nil {
		return nil, nil, err
	}
	var (
		missing []SessionRef
		keys    []key
		outs    []any
	)
	for _, ref := range held {
		if !listed[ref] {
			missing = append(missing, ref)
		}
	}
	if len(missing) == 0 {
		return nil, strays, nil
	}
	// Two held refs may share a key only if the edge held two sessions of
	// one device in one pool; confirm each key once.
	seen := map[key]bool{}
	items := make([]sessionItem, len(missing))
	for i, ref := range missing {
		k := sessionKey(ref.Pool, ref.DeviceID)
		if seen[k] {
			continue
		}
		seen[k] = true
		keys, outs = append(keys, k), append(outs, &items[i])
	}
	if _, err := s.getAll(ctx, "confirm sessions", keys, outs); err != nil {
		return nil, nil, err
	}
	byKey := map[key]sessionItem{}
	for i, ref := range missing {
		if items[i].ID != "" {
			byKey[sessionKey(ref.Pool, ref.DeviceID)] = items[i]
		}
	}
	for _, ref := range missing {
		it, ok := byKey[sessionKey(ref.Pool, ref.DeviceID)]
		if !ok || it.ID != ref.ID || it.Owner != task {
			gone = append(gone, ref)
		}
	}
	return gone, strays, nil
}

func validTask(task string) error {
	if err := validName(task); err != nil {
		return fmt.Errorf("%w: task %w", ErrInvalidRequest, err)
	}
	return nil
}
