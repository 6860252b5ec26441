package edge

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/lambdaapi"
	"github.com/collabgw/collabgw/internal/status"
)

// scriptedLambda answers invokes from a script, one entry per call; a nil
// entry is Lambda throttling the invoke (429).
type scriptedLambda struct {
	answers []*lambda.InvokeOutput
	names   []string
}

func (s *scriptedLambda) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	s.names = append(s.names, aws.ToString(in.FunctionName))
	if len(s.answers) == 0 {
		return nil, errors.New("script exhausted")
	}
	out := s.answers[0]
	if out == nil {
		s.answers = s.answers[1:]
		return nil, &types.TooManyRequestsException{Message: aws.String("Rate Exceeded.")}
	}
	s.answers = s.answers[1:]
	return out, nil
}

func ok(payload string) *lambda.InvokeOutput { return &lambda.InvokeOutput{Payload: []byte(payload)} }

func failed(errorType string) *lambda.InvokeOutput {
	return &lambda.InvokeOutput{FunctionError: aws.String("Unhandled"),
		Payload: []byte(`{"errorType":"` + errorType + `","errorMessage":"x"}`)}
}

func TestFunctionsAuthorize(t *testing.T) {
	accepted := `{"status":"ACCEPTED","reason":"admitted","session":{"pool":"p","deviceId":"d","sessionId":"s"}}`
	tests := []struct {
		name     string
		script   []*lambda.InvokeOutput
		want     status.Code
		wantErr  error
		attempts int
	}{
		{"accepted", []*lambda.InvokeOutput{ok(accepted)}, status.Accepted, nil, 1},
		{"refused", []*lambda.InvokeOutput{ok(`{"status":"SERVER_BUSY","reason":"max"}`)}, status.ServerBusy, nil, 1},
		{"unavailable then accepted", []*lambda.InvokeOutput{failed(lambdaapi.ErrorTypeUnavailable), ok(accepted)}, status.Accepted, nil, 2},
		{"unavailable every time", []*lambda.InvokeOutput{failed(lambdaapi.ErrorTypeUnavailable), failed(lambdaapi.ErrorTypeUnavailable), failed(lambdaapi.ErrorTypeUnavailable)}, 0, ErrFunctionUnavailable, 3},
		{"config error is not retried", []*lambda.InvokeOutput{failed(lambdaapi.ErrorTypeConfig)}, 0, ErrFunctionFailed, 1},
		{"undecodable answer", []*lambda.InvokeOutput{ok(`not json`)}, 0, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &scriptedLambda{answers: tt.script}
			f, err := NewFunctions(inv, "authorize", "release", 0)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.Authorize(context.Background(), lambdaapi.AuthorizeRequest{RequestID: "r"})
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			case tt.wantErr == nil && tt.want != 0 && (err != nil || resp.Status != tt.want):
				t.Fatalf("got %v, %v; want %v", resp.Status, err, tt.want)
			case tt.want == 0 && err == nil:
				t.Fatal("no error")
			}
			if len(inv.names) != tt.attempts {
				t.Fatalf("%d invokes, want %d", len(inv.names), tt.attempts)
			}
		})
	}
}

func TestFunctionsRelease(t *testing.T) {
	inv := &scriptedLambda{answers: []*lambda.InvokeOutput{ok(`{"released":true}`)}}
	f, err := NewFunctions(inv, "authorize", "arn:aws:lambda:eu-west-1:1:function:release", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Release(context.Background(), lambdaapi.ReleaseRequest{Session: admission.SessionRef{Pool: "p", DeviceID: "d", ID: "s"}}); err != nil {
		t.Fatal(err)
	}
	if inv.names[0] != "arn:aws:lambda:eu-west-1:1:function:release" {
		t.Fatalf("invoked %q", inv.names[0])
	}
}

// TestFunctionsReleaseRetriesUntilItsContextEnds: a release is idempotent,
// so one Lambda throttled (past the SDK's own retries) or the function
// reported unavailable is tried again until its context ends — more often
// than an authorize — while a failure retrying cannot fix is not.
func TestFunctionsReleaseRetriesUntilItsContextEnds(t *testing.T) {
	released := ok(`{"released":true}`)
	unavailable := failed(lambdaapi.ErrorTypeUnavailable)
	tests := []struct {
		name     string
		script   []*lambda.InvokeOutput
		timeout  time.Duration
		wantErr  func(error) bool
		attempts int
	}{
		{"throttled, then released", []*lambda.InvokeOutput{nil, nil, nil, released}, time.Minute, nil, 4},
		{"unavailable more often than an authorize tries", []*lambda.InvokeOutput{unavailable, unavailable, unavailable, unavailable, released}, time.Minute, nil, 5},
		{"a config error is not retried", []*lambda.InvokeOutput{failed(lambdaapi.ErrorTypeConfig), released}, time.Minute, func(err error) bool { return errors.Is(err, ErrFunctionFailed) }, 1},
		{"throttled until the context ends", []*lambda.InvokeOutput{nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}, 200 * time.Millisecond, isThrottled, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := &scriptedLambda{answers: tt.script}
			f, err := NewFunctions(inv, "authorize", "release", 0)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			err = f.Release(ctx, lambdaapi.ReleaseRequest{Session: admission.SessionRef{Pool: "p", DeviceID: "d", ID: "s"}, Reason: "logout"})
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Release: %v", err)
			case tt.wantErr != nil && (err == nil || !tt.wantErr(err)):
				t.Fatalf("Release: %v, not the error expected", err)
			}
			switch {
			case tt.attempts > 0 && len(inv.names) != tt.attempts:
				t.Fatalf("%d invokes, want %d", len(inv.names), tt.attempts)
			case tt.attempts < 0 && (len(inv.names) < 2 || len(inv.names) == len(tt.script)):
				t.Fatalf("%d invokes: want several, ended by the context before the script", len(inv.names))
			}
		})
	}
}
