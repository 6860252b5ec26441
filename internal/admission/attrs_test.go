package admission

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/manifest"
)

// itemTags returns the top-level attribute names of item type t by field
// name, the way attributevalue marshals it: embedded structs flattened,
// "-" skipped.
func itemTags(t *testing.T, typ reflect.Type) map[string]string {
	t.Helper()
	out := map[string]string{}
	for f := range typ.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for name, tag := range itemTags(t, f.Type) {
				out[f.Type.Name()+"."+name] = tag
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("dynamodbav"), ",")
		switch name {
		case "-":
			continue
		case "":
			t.Errorf("%s.%s has no dynamodbav tag: it would be stored under its Go name", typ.Name(), f.Name)
		}
		out[f.Name] = name
	}
	return out
}

// TestItemTagsAreTheAttributeConstants holds every item struct's tags to
// the attribute constants (attrs.go): a field added or renamed without its
// constant, or a constant changed without the tag, fails here, so the
// expressions (which use the constants) and the items (which use the tags)
// cannot name different attributes.
func TestItemTagsAreTheAttributeConstants(t *testing.T) {
	keyFields := map[string]string{"key.PK": attrPK, "key.SK": attrSK}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range keyFields {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		item reflect.Type
		want map[string]string // field name -> attribute constant
	}{
		{reflect.TypeFor[key](), map[string]string{"PK": attrPK, "SK": attrSK}},
		{reflect.TypeFor[configItem](), with(map[string]string{
			"Pool": attrPool, "MaxSessions": attrMaxSessions, "IdleTimeoutMs": attrIdleTimeoutMs, "InactivityMs": attrInactivityMs,
			"ProtocolLimit": attrProtocolLimit, "GroupWiseHost": attrGroupWiseHost, "GroupWisePort": attrGroupWisePort,
			"GroupWiseCARef": attrGroupWiseCARef, "GroupWisePinSHA": attrGroupWisePinSHA, "UpdatedUnixMillis": attrUpdatedUnixMillis,
		})},
		{reflect.TypeFor[counterItem](), with(map[string]string{"Live": attrLive, "Version": attrVersion})},
		{reflect.TypeFor[userItem](), with(map[string]string{"ID": attrUser, "Pool": attrPool, "Permitted": attrPermitted})},
		{reflect.TypeFor[deviceItem](), with(map[string]string{
			"ID": attrDevice, "UserID": attrUser, "PublicKey": attrPublicKey, "Active": attrActive, "LastLoginNanos": attrLastLogin,
			"SessionPool": attrSessionPool, "SessionID": attrSessionRef, "SessionReq": attrSessionReq, "SessionOwner": attrSessionOwner,
		})},
		{reflect.TypeFor[sessionItem](), with(map[string]string{
			"ID": attrSessionID, "Pool": attrPool, "DeviceID": attrDevice, "UserID": attrUser, "Owner": attrOwner,
			"RequestID": attrRequest, "Version": attrVersion, "Created": attrCreated, "LastStatus": attrLastStatus,
			"Coverage": attrCoverage, "CovSince": attrCoverageSince, "Activity": attrActivity, "ActivitySeq": attrActivitySeq,
			"ResumeHash": attrResumeHash, "Conn": attrConnectivity,
		})},
		{reflect.TypeFor[taskItem](), with(map[string]string{
			"Task": attrTask, "Addr": attrTaskAddr, "Lease": attrLease, "Started": attrStarted,
		})},
	}
	for _, tt := range tests {
		t.Run(tt.item.Name(), func(t *testing.T) {
			got := itemTags(t, tt.item)
			for field, tag := range got {
				want, ok := tt.want[field]
				switch {
				case !ok:
					t.Errorf("field %s (tag %q) has no attribute constant in this table: add one to attrs.go and here", field, tag)
				case tag != want:
					t.Errorf("field %s is tagged %q, its constant says %q", field, tag, want)
				}
			}
			for field := range tt.want {
				if _, ok := got[field]; !ok {
					t.Errorf("the table names field %s, which %s does not have", field, tt.item.Name())
				}
			}
		})
	}
}

// TestEdgeAttributesAreSessionAndTaskAttributes checks the manifest's IAM
// allow-list from the items' side: every attribute the edge may update is
// one of a session item or a task item (an allowed name nothing stores is a
// stale grant), and every index projection names session attributes.
func TestEdgeAttributesAreSessionAndTaskAttributes(t *testing.T) {
	stored := map[string]bool{}
	for _, typ := range []reflect.Type{reflect.TypeFor[sessionItem](), reflect.TypeFor[taskItem]()} {
		for _, tag := range itemTags(t, typ) {
			stored[tag] = true
		}
	}
	stored[attrTTL] = true // the task item's TTL is written by expression only (RenewTaskLease)
	for _, a := range manifest.EdgeUpdatableAttributes {
		if !stored[a] {
			t.Errorf("manifest.EdgeUpdatableAttributes lists %q, which no session or task item has", a)
		}
	}
	sessionAttrs := itemTags(t, reflect.TypeFor[sessionItem]())
	for _, proj := range [][]string{manifest.ActivityIndexProjection, manifest.OwnerIndexProjection} {
		for _, a := range proj {
			found := false
			for _, tag := range sessionAttrs {
				found = found || tag == a
			}
			if !found {
				t.Errorf("an index projects %q, which a session item does not have", a)
			}
		}
	}
	if slices.Contains(manifest.EdgeUpdatableAttributes, attrResumeHash) {
		t.Error("the edge may write a session's resume token hash: only admission sets it")
	}
}
