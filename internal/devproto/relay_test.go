package devproto

import (
	"reflect"
	"testing"
)

// TestPayloadFormOutsideALink: the exported payload codec is the one a
// DATA frame encrypts, for every message type, and SentBy is the rule
// Seal and Open apply.
func TestPayloadFormOutsideALink(t *testing.T) {
	for _, tt := range messageCases {
		t.Run(tt.name, func(t *testing.T) {
			p, err := AppendPayload(nil, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := appendPayload(nil, tt.msg)
			if !reflect.DeepEqual(p, want) {
				t.Fatal("AppendPayload differs from the DATA frame's payload")
			}
			m, err := DecodePayload(p)
			if err != nil || !reflect.DeepEqual(m, tt.msg) {
				t.Fatalf("DecodePayload = %#v, %v", m, err)
			}
			for _, r := range []Role{RoleDevice, RoleGateway} {
				if tt.msg.Type().SentBy(r) != tt.msg.Type().sentBy(r) {
					t.Fatalf("SentBy(%v) differs", r)
				}
			}
		})
	}
}
