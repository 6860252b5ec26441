package lambdaapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/clocktest"
)

// TestEventsRoundTrip decodes each fixture strictly and encodes it again:
// every field survives, and none is unknown.
func TestEventsRoundTrip(t *testing.T) {
	tests := []struct {
		file string
		into func() any
	}{
		{"authorize-request.json", func() any { return new(AuthorizeRequest) }},
		{"authorize-response.json", func() any { return new(AuthorizeResponse) }},
		{"release-request.json", func() any { return new(ReleaseRequest) }},
		{"sweep-request.json", func() any { return new(SweepRequest) }},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			v := tt.into()
			if err := decode(raw, v); err != nil {
				t.Fatalf("decode: %v", err)
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			w, _ := json.Marshal(want)
			g, _ := json.Marshal(got)
			if !bytes.Equal(w, g) {
				t.Fatalf("round trip changed the event:\nwant %s\ngot  %s", w, g)
			}
		})
	}
}

func TestMalformedEventsAreBadEvents(t *testing.T) {
	valid, err := os.ReadFile("testdata/authorize-request.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		raw     string
		wantMsg string
	}{
		{"empty", ``, "malformed JSON"},
		{"truncated", string(valid[:40]), "malformed JSON"},
		{"unknown field", `{"requestId":"r","password":"hunter2"}`, "unknown field"},
		{"wrong type", `{"requestId":7}`, "malformed JSON"},
		{"bad base64 key", `{"devicePublicKey":"hunter2!"}`, "field devicePublicKey: invalid value"},
		{"bad time", `{"deviceTime":"hunter2"}`, "field deviceTime: invalid value"},
		{"an array, not an object", `["hunter2"]`, "the event is a JSON array, not an object"},
		{"wrong type names the field", `{"userId":["hunter2"]}`, "field userId: a JSON array is not a string"},
		{"two documents", string(valid) + `{}`, "data after the event"},
		{"oversized", `{"requestId":"` + strings.Repeat("x", MaxEventBytes) + `"}`, "exceeds"},
		{"missing fields", `{"requestId":"r"}`, "missing [deviceId devicePublicKey deviceTime edgeTask resumeTokenHash userId]"},
		{"resume token hash of 1 byte", strings.Replace(string(valid), `"resumeTokenHash":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="`, `"resumeTokenHash":"AQ=="`, 1), "field resumeTokenHash: 1 bytes, want 32"},
		{"short device key", strings.Replace(string(valid), `"devicePublicKey":"Y29sbGFiZ3ctc2FtcGxlLWRldmljZS1rZXktMDAwMDE="`, `"devicePublicKey":"AAAA"`, 1), "field devicePublicKey: 3 bytes, want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req AuthorizeRequest
			err := decode([]byte(tt.raw), &req)
			if err == nil {
				err = req.validate()
			}
			var bad *BadEventError
			if !errors.As(err, &bad) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want a BadEventError containing %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("the error repeats a field value")
			}
		})
	}
}

// TestStampDeviceTime puts the current time into every sample event in
// events/ that has a deviceTime, and leaves the others byte for byte.
func TestStampDeviceTime(t *testing.T) {
	now := clocktest.Now()
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events: %v", err)
	}
	stamped := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := StampDeviceTime(raw, now)
			if !bytes.Contains(raw, []byte(`"deviceTime"`)) {
				if !bytes.Equal(got, raw) {
					t.Fatalf("an event without deviceTime changed:\n%s", got)
				}
				return
			}
			stamped++
			var req AuthorizeRequest
			if err := decode(got, &req); err != nil {
				if json.Valid(raw) {
					t.Fatalf("stamped event does not decode: %v", err)
				}
				return // a malformed sample stays malformed
			}
			if !req.DeviceTime.Equal(now) {
				t.Fatalf("deviceTime %v, want %v", req.DeviceTime, now)
			}
		})
	}
	if stamped == 0 {
		t.Fatal("no sample event has a deviceTime")
	}
}

// TestStoreErrorsAreClassifiedForTheCaller checks classify through
// errorType, the function that names the error to Lambda's metrics: the
// two must agree on every store error.
func TestStoreErrorsAreClassifiedForTheCaller(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantType string
		// keepsCause: the classified error still matches err (a bad event
		// carries only the reason's text).
		keepsCause bool
	}{
		{"outage is retryable", admission.ErrUnavailable, ErrorTypeUnavailable, true},
		{"contention is retryable", fmt.Errorf("admit: %w", admission.ErrContention), ErrorTypeUnavailable, true},
		{"unknown pool is configuration", admission.ErrUnknownPool, ErrorTypeConfig, true},
		{"invalid pool config is configuration", &admission.ConfigError{Field: "maxSessions", Reason: "must be positive"}, ErrorTypeConfig, true},
		{"invalid request is a bad event", admission.ErrInvalidRequest, ErrorTypeBadEvent, false},
		{"anything else is internal", errors.New("decode item: boom"), ErrorTypeInternal, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			if typ := errorType(got); typ != tt.wantType {
				t.Fatalf("errorType(classify(%v)) = %s (%T), want %s", tt.err, typ, got, tt.wantType)
			}
			if tt.keepsCause && !errors.Is(got, tt.err) {
				t.Fatalf("classify(%v) = %v, which no longer matches the cause", tt.err, got)
			}
		})
	}
	if classify(nil) != nil {
		t.Fatal("classify(nil) is not nil")
	}
}

// FuzzDecodeEvents feeds arbitrary bytes to every event decoder: each must
// answer with a decoded event or a *BadEventError, never panic.
func FuzzDecodeEvents(f *testing.F) {
	for _, file := range []string{"authorize-request.json", "authorize-response.json", "release-request.json", "sweep-request.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"requestId":7}`))
	f.Add([]byte(`{"session":{"pool":""}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var (
			a AuthorizeRequest
			r ReleaseRequest
			s SweepRequest
		)
		for _, check := range []func() error{
			func() error {
				if err := decode(raw, &a); err != nil {
					return err
				}
				return a.validate()
			},
			func() error {
				if err := decode(raw, &r); err != nil {
					return err
				}
				return r.validate()
			},
			func() error { return decode(raw, &s) },
		} {
			var bad *BadEventError
			if err := check(); err != nil && !errors.As(err, &bad) {
				t.Fatalf("error %T %v is not a BadEventError", err, err)
			}
		}
	})
}
