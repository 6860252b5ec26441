package metrics_test

import (
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/metrics"
)

// termsMatch applies a CloudWatch Logs filter pattern of plain terms (every
// term must occur, a quoted term as an exact phrase, case-sensitive) to one
// log event. JSON patterns and the ?/- operators are not supported; a
// pattern that uses them fails the test instead of passing by accident.
func termsMatch(t *testing.T, pattern, event string) bool {
	t.Helper()
	var terms []string
	rest := strings.TrimSpace(pattern)
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, `"`):
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				t.Fatalf("unterminated quote in pattern %s", pattern)
			}
			terms = append(terms, rest[1:1+end])
			rest = strings.TrimSpace(rest[2+end:])
		case strings.ContainsAny(rest[:1], "{?-"):
			t.Fatalf("pattern %s uses syntax this matcher does not implement", pattern)
		default:
			word, after, _ := strings.Cut(rest, " ")
			terms = append(terms, word)
			rest = strings.TrimSpace(after)
		}
	}
	for _, term := range terms {
		if !strings.Contains(event, term) {
			return false
		}
	}
	return len(terms) > 0
}

// TestFunctionTimeoutPatternMatchesTheRuntime checks the timeout filter
// against the lines the Lambda runtime writes to a function's log group
// (Text log format, provided.al2023): it must count a REPORT line that
// ends a timed-out invocation, and nothing else, including our own JSON
// lines that talk about timeouts.
func TestFunctionTimeoutPatternMatchesTheRuntime(t *testing.T) {
	tests := []struct {
		name  string
		event string
		want  bool
	}{
		{"timed-out invocation", "REPORT RequestId: 3f1e9a52-5c0e-4f55-9a8b-0c8b7e4f2d11\tDuration: 10000.00 ms\tBilled Duration: 10000 ms\tMemory Size: 256 MB\tMax Memory Used: 31 MB\tStatus: timeout", true},
		{"timed-out cold start", "REPORT RequestId: 9b2c7d10-1a2b-4c3d-8e9f-0a1b2c3d4e5f\tDuration: 60000.00 ms\tBilled Duration: 60000 ms\tMemory Size: 256 MB\tMax Memory Used: 40 MB\tInit Duration: 71.20 ms\tStatus: timeout", true},
		{"successful invocation", "REPORT RequestId: 3f1e9a52-5c0e-4f55-9a8b-0c8b7e4f2d11\tDuration: 12.31 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\tMax Memory Used: 30 MB", false},
		{"crashed invocation", "REPORT RequestId: 3f1e9a52-5c0e-4f55-9a8b-0c8b7e4f2d11\tDuration: 2.00 ms\tBilled Duration: 3 ms\tMemory Size: 256 MB\tMax Memory Used: 30 MB\tStatus: error\tError Type: Runtime.ExitError", false},
		{"start line", "START RequestId: 3f1e9a52-5c0e-4f55-9a8b-0c8b7e4f2d11 Version: $LATEST", false},
		{"our own log line", `{"time":"t","level":"WARN","msg":"GroupWise login: Status: timeout","function":"authorize"}`, false},
	}
	pattern := metrics.FunctionTimeouts.FilterPattern
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := termsMatch(t, pattern, tt.event); got != tt.want {
				t.Errorf("pattern %s on %q = %v, want %v", pattern, tt.event, got, tt.want)
			}
		})
	}
}
