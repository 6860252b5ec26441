package status

import (
	"encoding/json"
	"testing"
)

func TestCodesAreStable(t *testing.T) {
	// These numbers are on the wire: changing one breaks deployed devices.
	tests := []struct {
		name string
		code Code
		want uint16
	}{
		{"ACCEPTED", Accepted, 1},
		{"SERVER_BUSY", ServerBusy, 2},
		{"FAILED_300", Failed300, 3},
		{"NOT_PERMITTED", NotPermitted, 4},
		{"BAD_CREDENTIALS", BadCredentials, 5},
		{"ACCOUNT_LOCKED", AccountLocked, 6},
		{"GROUPWISE_UNAVAILABLE", GroupWiseUnavailable, 7},
		{"DEVICE_REVOKED", DeviceRevoked, 8},
		{"RATE_LIMITED", RateLimited, 9},
		{"LOGGED_OUT", LoggedOut, 10},
		{"SIGNED_ON_ELSEWHERE", SignedOnElsewhere, 11},
		{"PROTOCOL_ERROR", ProtocolError, 12},
	}
	if len(tests) != len(All()) {
		t.Fatalf("table covers %d codes, package defines %d", len(tests), len(All()))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if uint16(tt.code) != tt.want {
				t.Errorf("%s = %d, want %d", tt.name, tt.code, tt.want)
			}
			if got := tt.code.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			parsed, err := Parse(tt.name)
			if err != nil || parsed != tt.code {
				t.Errorf("Parse(%q) = %v, %v", tt.name, parsed, err)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	type payload struct {
		Status Code `json:"status"`
	}
	b, err := json.Marshal(payload{Failed300})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"status":"FAILED_300"}` {
		t.Fatalf("got %s", b)
	}
	var back payload
	if err := json.Unmarshal(b, &back); err != nil || back.Status != Failed300 {
		t.Fatalf("round trip = %v, %v", back.Status, err)
	}
	for _, bad := range []string{`{"status":"NOPE"}`, `{"status":3}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
	if _, err := json.Marshal(payload{Code(99)}); err == nil {
		t.Error("marshalling an undefined code succeeded")
	}
	if Failed300.Text() != "Failed (300)" || ServerBusy.Text() != "Server Busy" {
		t.Error("device texts changed")
	}
}
