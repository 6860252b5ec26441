package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/collabgw/collabgw/internal/lambdaapi"
)

// DefaultInvokeAttempts bounds the attempts of one call whose function
// reported UnavailableError (the SDK already retries throttling itself).
const DefaultInvokeAttempts = 3

// invokeBackoff is the pause before the second attempt; it doubles after.
const invokeBackoff = 50 * time.Millisecond

// Errors of a function call.
var (
	// ErrFunctionUnavailable: the function reported UnavailableError (the
	// store failed or was contended) on every attempt.
	ErrFunctionUnavailable = errors.New("edge: function unavailable")
	// ErrFunctionFailed: the function failed in a way retrying cannot fix.
	ErrFunctionFailed = errors.New("edge: function failed")
)

// LambdaInvoker is the SDK method the functions client calls.
type LambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ LambdaInvoker = (*lambda.Client)(nil)

// FunctionError is a function's handler error, as Lambda reports it.
type FunctionError struct {
	Function string
	Type     string // errorType: BadEventError, ConfigError, UnavailableError, …
	Message  string
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("edge: function %s: %s: %s", e.Function, e.Type, e.Message)
}

// Unwrap classifies the error for callers.
func (e *FunctionError) Unwrap() error {
	if e.Type == lambdaapi.ErrorTypeUnavailable {
		return ErrFunctionUnavailable
	}
	return ErrFunctionFailed
}

// Functions calls the authorize and release functions through Lambda's
// Invoke API.
type Functions struct {
	client             LambdaInvoker
	authorize, release string
	attempts           int
}

var (
	_ Authorizer = (*Functions)(nil)
	_ Releaser   = (*Functions)(nil)
)

// NewFunctions returns a client for the named functions (names or ARNs).
// attempts bounds the tries of one call on UnavailableError (0: the default).
func NewFunctions(client LambdaInvoker, authorize, release string, attempts int) (*Functions, error) {
	if attempts == 0 {
		attempts = DefaultInvokeAttempts
	}
	if client == nil || authorize == "" || release == "" || attempts < 1 {
		return nil, fmt.Errorf("%w: functions client needs a client, both function names and attempts ≥ 1", ErrBadOption)
	}
	return &Functions{client: client, authorize: authorize, release: release, attempts: attempts}, nil
}

// Authorize implements Authorizer. Retrying is safe: authorize is
// idempotent per request id.
func (f *Functions) Authorize(ctx context.Context, req lambdaapi.AuthorizeRequest) (lambdaapi.AuthorizeResponse, error) {
	var resp lambdaapi.AuthorizeResponse
	err := f.call(ctx, f.authorize, req, &resp)
	return resp, err
}

// Release implements Releaser; release is idempotent.
func (f *Functions) Release(ctx context.Context, req lambdaapi.ReleaseRequest) error {
	var resp lambdaapi.ReleaseResponse
	return f.call(ctx, f.release, req, &resp)
}

func (f *Functions) call(ctx context.Context, name string, req, resp any) error {
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("edge: %s: %w", name, err)
	}
	backoff := invokeBackoff
	for attempt := 1; ; attempt++ {
		err = f.invoke(ctx, name, payload, resp)
		if err == nil || !errors.Is(err, ErrFunctionUnavailable) || attempt == f.attempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
			backoff *= 2
		}
	}
}

func (f *Functions) invoke(ctx context.Context, name string, payload []byte, resp any) error {
	out, err := f.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: payload})
	if err != nil {
		return fmt.Errorf("edge: invoke %s: %w", name, err)
	}
	if out.FunctionError != nil {
		var fe struct {
			Type    string `json:"errorType"`
			Message string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &fe) // a payload that is not JSON still fails the call below
		return &FunctionError{Function: name, Type: fe.Type, Message: fe.Message}
	}
	if err := json.Unmarshal(out.Payload, resp); err != nil {
		return fmt.Errorf("edge: %s answered %d bytes that do not decode: %w", name, len(out.Payload), err)
	}
	return nil
}
