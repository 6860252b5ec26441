package edge

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/lambdaapi"
	"github.com/collabgw/collabgw/internal/status"
)

// scriptedLambda answers invokes from a script, one entry per call.
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
