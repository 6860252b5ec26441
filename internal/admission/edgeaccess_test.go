package admission_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/dynamotest"
	"github.com/collabgw/collabgw/internal/edge"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/status"
)

// DynamoDB Local ignores IAM: a store call of the edge that writes an
// attribute its task role may not write, touches an item outside its
// leading keys or uses an action it was not granted passes every other
// test and fails on AWS with AccessDenied. TestEdgeStoreAccessIsWhatIAMAllows
// drives every call the edge makes on the store (edge.LeaseStore and
// edge.LocationStore, every path of each) through a client that records
// each request on its way to the real DynamoDB Local, and holds the
// requests to the manifest's lists, from which the edge's IAM policy is
// built (infra/modules/edge/iam.tf; infra/infratest checks the two agree).

// access is one DynamoDB request as IAM sees it.
type access struct {
	action string   // "dynamodb:UpdateItem"; a transaction's members count as their own actions
	keys   []string // the partition key values of the items addressed
	attrs  []string // updates: the top-level attributes named (key, update and condition)
	index  string   // Query: the index
	ret    string   // UpdateItem: ReturnValues
	err    error    // a request the expressions could not be read from
}

// recordingDB passes every call to the real client and records it. It does
// not embed the interface: a method added to admission.DynamoDB must be
// recorded here before this compiles.
type recordingDB struct {
	db admission.DynamoDB
	mu sync.Mutex // guards log
	// log is every request since the last take.
	log []access
}

var _ admission.DynamoDB = (*recordingDB)(nil)

func (r *recordingDB) record(a ...access) {
	r.mu.Lock()
	r.log = append(r.log, a...)
	r.mu.Unlock()
}

// take returns the requests recorded since the last take.
func (r *recordingDB) take() []access {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.log
	r.log = nil
	return out
}

func (r *recordingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.record(access{action: "dynamodb:GetItem", keys: []string{partitionKey(in.Key)}})
	return r.db.GetItem(ctx, in, o...)
}

func (r *recordingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	a := access{action: "dynamodb:BatchGetItem"}
	for _, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			a.keys = append(a.keys, partitionKey(k))
		}
	}
	r.record(a)
	return r.db.BatchGetItem(ctx, in, o...)
}

func (r *recordingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.record(access{action: "dynamodb:PutItem", keys: []string{partitionKey(in.Item)}, attrs: mapKeys(in.Item)})
	return r.db.PutItem(ctx, in, o...)
}

func (r *recordingDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	r.record(access{action: "dynamodb:DeleteItem", keys: []string{partitionKey(in.Key)}})
	return r.db.DeleteItem(ctx, in, o...)
}

func (r *recordingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.record(updateAccess(in.Key, in.UpdateExpression, in.ConditionExpression, in.ExpressionAttributeNames, string(in.ReturnValues)))
	return r.db.UpdateItem(ctx, in, o...)
}

func (r *recordingDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	r.record(access{action: "dynamodb:Query", keys: []string{"index:" + aws.ToString(in.IndexName)}, index: aws.ToString(in.IndexName)})
	return r.db.Query(ctx, in, o...)
}

func (r *recordingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		switch {
		case it.Update != nil:
			u := it.Update
			r.record(updateAccess(u.Key, u.UpdateExpression, u.ConditionExpression, u.ExpressionAttributeNames, ""))
		case it.Put != nil:
			r.record(access{action: "dynamodb:PutItem", keys: []string{partitionKey(it.Put.Item)}, attrs: mapKeys(it.Put.Item)})
		case it.Delete != nil:
			r.record(access{action: "dynamodb:DeleteItem", keys: []string{partitionKey(it.Delete.Key)}})
		case it.ConditionCheck != nil:
			r.record(access{action: "dynamodb:ConditionCheckItem", keys: []string{partitionKey(it.ConditionCheck.Key)}})
		}
	}
	return r.db.TransactWriteItems(ctx, in, o...)
}

func updateAccess(key map[string]types.AttributeValue, update, cond *string, names map[string]string, ret string) access {
	a := access{action: "dynamodb:UpdateItem", keys: []string{partitionKey(key)}, attrs: mapKeys(key), ret: ret}
	for _, expr := range []*string{update, cond} {
		top, err := topLevelNames(aws.ToString(expr), names)
		a.attrs = append(a.attrs, top...)
		a.err = errors.Join(a.err, err)
	}
	return a
}

func partitionKey(item map[string]types.AttributeValue) string {
	if s, ok := item[manifest.AttrPartitionKey].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return "<no string partition key>"
}

func mapKeys(m map[string]types.AttributeValue) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// exprWords are the expression keywords that are not attribute names
// (functions are told by the parenthesis that follows them).
var exprWords = map[string]bool{"SET": true, "REMOVE": true, "ADD": true, "DELETE": true, "AND": true, "OR": true, "NOT": true, "BETWEEN": true, "IN": true}

// topLevelNames returns the top-level attributes an update or condition
// expression names: each path's first element, a #placeholder resolved
// through names, a bare name as it is. The elements after a '.' of a
// document path are nested, which IAM's dynamodb:Attributes does not see.
func topLevelNames(expr string, names map[string]string) ([]string, error) {
	ident := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	var (
		out  []string
		prev byte // the last byte before the current token that is not a space
	)
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
			continue
		case c == ':': // a value placeholder
			j := i + 1
			for j < len(expr) && ident(expr[j]) {
				j++
			}
			i, prev = j, 'v'
			continue
		case c == '#' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(expr) && ident(expr[j]) {
				j++
			}
			tok := expr[i:j]
			k := j
			for k < len(expr) && expr[k] == ' ' {
				k++
			}
			call := k < len(expr) && expr[k] == '('
			nested := prev == '.'
			i, prev = j, 'n'
			name := tok
			if tok[0] == '#' {
				n, ok := names[tok]
				if !ok {
					return out, fmt.Errorf("expression %q uses %s, which ExpressionAttributeNames does not define", expr, tok)
				}
				name = n
			} else if call || exprWords[strings.ToUpper(tok)] {
				continue
			}
			if !nested {
				out = append(out, name)
			}
			continue
		}
		prev = c
		i++
	}
	return out, nil
}

func TestTopLevelNames(t *testing.T) {
	names := map[string]string{"#0": "cov", "#1": "conn", "#2": "host", "#3": "lease"}
	tests := []struct {
		expr string
		want []string
	}{
		{"SET #0 = :0, #1.#2 = :1 REMOVE act ADD ver :2", []string{"cov", "conn", "act", "ver"}},
		{"(attribute_exists (#3)) AND (#3 > :0)", []string{"lease", "lease"}},
		{"SET started = if_not_exists(started, :1), #1[0].#2 = :2", []string{"started", "started", "conn"}},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := topLevelNames(tt.expr, names)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("topLevelNames = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := topLevelNames("SET #9 = :0", names); err == nil {
		t.Fatal("an undefined placeholder passed")
	}
}

// like is IAM's StringLike: '*' matches any run of characters, '?' one.
func like(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

func likeAny(patterns []string, s string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return like(p, s) })
}

// checkAllowed fails for every request the edge's IAM policy would refuse.
func checkAllowed(t *testing.T, log []access) {
	t.Helper()
	for _, a := range log {
		if a.err != nil {
			t.Errorf("%s: %v", a.action, a.err)
		}
		if !slices.Contains(manifest.Edge.TableActions, a.action) {
			t.Errorf("the edge calls %s, which manifest.Edge.TableActions does not grant", a.action)
			continue
		}
		switch a.action {
		case "dynamodb:UpdateItem":
			for _, k := range a.keys {
				if !likeAny(manifest.EdgeUpdatableLeadingKeys, k) {
					t.Errorf("the edge updates item %q, outside manifest.EdgeUpdatableLeadingKeys %q", k, manifest.EdgeUpdatableLeadingKeys)
				}
			}
			for _, attr := range a.attrs {
				if !slices.Contains(manifest.EdgeUpdatableAttributes, attr) {
					t.Errorf("the edge's UpdateItem names attribute %q, not in manifest.EdgeUpdatableAttributes", attr)
				}
			}
			if a.ret != "" && !slices.Contains(manifest.EdgeUpdateReturnValues, a.ret) {
				t.Errorf("the edge's UpdateItem asks for ReturnValues %s, not in manifest.EdgeUpdateReturnValues", a.ret)
			}
		case "dynamodb:GetItem", "dynamodb:BatchGetItem":
			for _, k := range a.keys {
				if !likeAny(manifest.EdgeReadableLeadingKeys, k) {
					t.Errorf("the edge reads item %q, outside manifest.EdgeReadableLeadingKeys %q", k, manifest.EdgeReadableLeadingKeys)
				}
			}
		case "dynamodb:Query":
			// The policy grants Query on the owner index alone (infratest:
			// "edge queries only the owner index").
			if a.index != manifest.IndexOwner {
				t.Errorf("the edge queries index %q; it may query only %q", a.index, manifest.IndexOwner)
			}
		}
	}
}

// edgeWorld is a table with a pool, two users and their devices, a store
// over the raw client for the setup (authorize's and the admin's side),
// and the store the edge uses, over the recording client.
type edgeWorld struct {
	ctx   context.Context
	admin *admission.Store
	rec   *recordingDB
	// leases and locator are the edge's store, seen only through the
	// edge's interfaces.
	leases  edge.LeaseStore
	locator edge.LocationStore
	clock   *clocktest.Clock
	keys    map[string][]byte
	n       int
}

const (
	edgeTask = "edge-a"
	edgePool = "main"
)

func newEdgeWorld(t *testing.T) *edgeWorld {
	t.Helper()
	ctx := context.Background()
	client := dynamotest.Client(t)
	table := dynamotest.TableName(t)
	if err := admission.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New()
	admin, err := admission.New(client, table, admission.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingDB{db: client}
	edgeStore, err := admission.New(rec, table, admission.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	w := &edgeWorld{ctx: ctx, admin: admin, rec: rec, leases: edgeStore, locator: edgeStore, clock: clock, keys: map[string][]byte{}}
	if _, err := admin.PutPool(ctx, admission.PoolConfig{Name: edgePool, GroupWise: admission.GroupWiseTarget{Host: "127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"u1", "u2", "u3"} {
		if err := admin.PutUser(ctx, admission.User{ID: u, Pool: edgePool, Permitted: true}); err != nil {
			t.Fatal(err)
		}
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		w.keys["dev-"+u] = k.PublicKey().Bytes()
		if err := admin.RegisterDevice(ctx, admission.Device{ID: "dev-" + u, UserID: u, PublicKey: w.keys["dev-"+u]}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// admit logs user's device in to the edge task, as authorize does.
func (w *edgeWorld) admit(t *testing.T, user string) admission.SessionRef {
	t.Helper()
	w.n++
	d, err := w.admin.Admit(w.ctx, admission.Login{
		RequestID: fmt.Sprintf("req-%d", w.n), DeviceID: "dev-" + user, DevicePublicKey: w.keys["dev-"+user],
		DeviceTime: w.clock.Now().Add(time.Duration(w.n) * time.Millisecond), UserID: user, Owner: edgeTask,
		ResumeTokenHash: make([]byte, admission.ResumeTokenHashLen),
	})
	if err != nil || d.Status != status.Accepted {
		t.Fatalf("admit %s: %v %v (%s)", user, err, d.Status, d.Reason)
	}
	return d.Session.SessionRef
}

// TestEdgeStoreAccessIsWhatIAMAllows: see the comment at the top.
func TestEdgeStoreAccessIsWhatIAMAllows(t *testing.T) {
	w := newEdgeWorld(t)
	var s1, s2, s3 admission.SessionRef
	now := w.clock.Now
	act := func(ref admission.SessionRef, a admission.Activity) error {
		return w.leases.SetActivity(w.ctx, edgeTask, ref, a)
	}
	steps := []struct {
		name string
		// method is the interface method the step drives: every method
		// of edge.LeaseStore and edge.LocationStore needs a step.
		method string
		run    func() error
		// wantErr: the step's call fails with it (a path of its own).
		wantErr error
		// calls are requests the step must have made ("action" or "action
		// key-prefix"), so that a step that stopped reaching its path
		// fails rather than checks nothing.
		calls []string
	}{
		{name: "first heartbeat registers the task", method: "RenewTaskLease",
			run:   func() error { _, err := w.leases.RenewTaskLease(w.ctx, edgeTask, "10.0.0.1:3102"); return err },
			calls: []string{"dynamodb:UpdateItem TASK"}},
		{name: "heartbeat without an address", method: "RenewTaskLease",
			run:   func() error { _, err := w.leases.RenewTaskLease(w.ctx, edgeTask, ""); return err },
			calls: []string{"dynamodb:UpdateItem TASK"}},
		{name: "connectivity after the GroupWise login", method: "SetConnectivity",
			run: func() error {
				s1, s2, s3 = w.admit(t, "u1"), w.admit(t, "u2"), w.admit(t, "u3")
				w.rec.take() // the admissions are authorize's, not the edge's
				return w.leases.SetConnectivity(w.ctx, edgeTask, s1, admission.Connectivity{
					Host: "127.0.0.1", Port: 8300, UserDN: "cn=u1,o=org", Keepalive: 5, EdgeAddr: "10.0.0.1:3101"})
			},
			calls: []string{"dynamodb:UpdateItem SESSION#"}},
		{name: "connectivity of a session gone", method: "SetConnectivity",
			run: func() error {
				return w.leases.SetConnectivity(w.ctx, edgeTask, admission.SessionRef{Pool: edgePool, DeviceID: "dev-u1", ID: "gone"}, admission.Connectivity{Host: "h"})
			},
			wantErr: admission.ErrSessionGone, calls: []string{"dynamodb:UpdateItem SESSION#"}},
		{name: "coverage lost", method: "SetActivity",
			run: func() error {
				return act(s1, admission.Activity{Coverage: admission.CoverageOut, CoverageSince: now(), LastStatus: now(), Seq: 10})
			},
			calls: []string{"dynamodb:UpdateItem SESSION#"}},
		{name: "coverage back", method: "SetActivity",
			run: func() error {
				return act(s1, admission.Activity{Coverage: admission.CoverageIn, CoverageSince: now(), LastStatus: now(), Seq: 11})
			},
			calls: []string{"dynamodb:UpdateItem SESSION#"}},
		{name: "silent", method: "SetActivity",
			run: func() error {
				return act(s2, admission.Activity{Coverage: admission.CoverageIn, LastStatus: now(), Silent: true, Seq: 12})
			},
			calls: []string{"dynamodb:UpdateItem SESSION#"}},
		{name: "status after silence", method: "SetActivity",
			run: func() error {
				return act(s2, admission.Activity{Coverage: admission.CoverageIn, LastStatus: now(), Seq: 13})
			},
			calls: []string{"dynamodb:UpdateItem SESSION#"}},
		{name: "a stale activity write reads the session", method: "SetActivity",
			run: func() error {
				return act(s1, admission.Activity{Coverage: admission.CoverageIn, LastStatus: now(), Seq: 5})
			},
			calls: []string{"dynamodb:UpdateItem SESSION#", "dynamodb:GetItem SESSION#"}},
		{name: "activity of a session gone", method: "SetActivity",
			run: func() error {
				return act(admission.SessionRef{Pool: edgePool, DeviceID: "dev-u2", ID: "gone"}, admission.Activity{Coverage: admission.CoverageIn, LastStatus: now(), Seq: 14})
			},
			wantErr: admission.ErrSessionGone, calls: []string{"dynamodb:UpdateItem SESSION#", "dynamodb:GetItem SESSION#"}},
		{name: "reconcile, every session listed", method: "Reconcile",
			run: func() error {
				gone, _, err := w.leases.Reconcile(w.ctx, edgeTask, []admission.SessionRef{s1, s2})
				if err == nil && len(gone) != 0 {
					err = fmt.Errorf("gone %v, want none", gone)
				}
				return err
			},
			calls: []string{"dynamodb:Query index:owner"}},
		{name: "reconcile confirms a session missing from the index", method: "Reconcile",
			run: func() error {
				missing := admission.SessionRef{Pool: edgePool, DeviceID: "dev-u3", ID: "ended-elsewhere"}
				gone, _, err := w.leases.Reconcile(w.ctx, edgeTask, []admission.SessionRef{s1, missing})
				if err == nil && (len(gone) != 1 || gone[0] != missing) {
					err = fmt.Errorf("gone %v, want %v", gone, missing)
				}
				return err
			},
			calls: []string{"dynamodb:Query index:owner", "dynamodb:BatchGetItem SESSION#"}},
		{name: "locate a session for a relayed resume", method: "LocateSession",
			run: func() error {
				loc, err := w.locator.LocateSession(w.ctx, "dev-u1", s1.ID)
				if err == nil && (loc.Owner != edgeTask || loc.Addr != "10.0.0.1:3102" || !loc.Live) {
					err = fmt.Errorf("located %+v", loc)
				}
				return err
			},
			calls: []string{"dynamodb:GetItem DEVICE#", "dynamodb:GetItem TASK"}},
		{name: "locate a session whose device item names no owner", method: "LocateSession",
			run: func() error {
				// A device item written before device items named their
				// session's owner: the session item is read instead.
				if err := removeSessionOwner(w, "dev-u3"); err != nil {
					return err
				}
				w.rec.take()
				loc, err := w.locator.LocateSession(w.ctx, "dev-u3", s3.ID)
				if err == nil && loc.Owner != edgeTask {
					err = fmt.Errorf("located %+v", loc)
				}
				return err
			},
			calls: []string{"dynamodb:GetItem DEVICE#", "dynamodb:GetItem SESSION#", "dynamodb:GetItem TASK"}},
		{name: "locate a session the store does not have", method: "LocateSession",
			run: func() error {
				_, err := w.locator.LocateSession(w.ctx, "dev-u2", "not-its-session")
				return err
			},
			wantErr: admission.ErrSessionGone, calls: []string{"dynamodb:GetItem DEVICE#"}},
		{name: "the task stops and ends its lease", method: "ExpireTaskLease",
			run:   func() error { return w.leases.ExpireTaskLease(w.ctx, edgeTask) },
			calls: []string{"dynamodb:UpdateItem TASK"}},
		{name: "a task never registered stops", method: "ExpireTaskLease",
			run:   func() error { return w.leases.ExpireTaskLease(w.ctx, "edge-never") },
			calls: []string{"dynamodb:UpdateItem TASK"}},
	}
	driven := map[string]bool{}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			w.rec.take()
			err := st.run()
			if !errors.Is(err, st.wantErr) { // errors.Is(err, nil) holds only for a nil err
				t.Fatalf("err = %v, want %v", err, st.wantErr)
			}
			log := w.rec.take()
			for _, c := range st.calls {
				action, prefix, _ := strings.Cut(c, " ")
				made := slices.ContainsFunc(log, func(a access) bool {
					return a.action == action && slices.ContainsFunc(a.keys, func(k string) bool { return strings.HasPrefix(k, prefix) })
				})
				if !made {
					t.Errorf("the step made no %s: it no longer drives the path it names", c)
				}
			}
			checkAllowed(t, log)
			driven[st.method] = true
		})
	}
	for _, iface := range []reflect.Type{reflect.TypeFor[edge.LeaseStore](), reflect.TypeFor[edge.LocationStore]()} {
		for m := range iface.Methods() {
			if !driven[m.Name] {
				t.Errorf("no step drives %s.%s: every store call the edge makes must be checked here", iface.Name(), m.Name)
			}
		}
	}
}

// removeSessionOwner rewrites a device item as one admitted before device
// items named their session's owner.
func removeSessionOwner(w *edgeWorld, device string) error {
	_, err := w.rec.db.UpdateItem(w.ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(w.admin.Table()),
		Key: map[string]types.AttributeValue{
			manifest.AttrPartitionKey: &types.AttributeValueMemberS{Value: "DEVICE#" + device},
			manifest.AttrSortKey:      &types.AttributeValueMemberS{Value: "DEVICE"},
		},
		UpdateExpression: aws.String("REMOVE sessionOwner"),
	})
	return err
}
