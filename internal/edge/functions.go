package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/collabgw/collabgw/internal/lambdaapi"
)

// DefaultInvokeAttempts bounds the attempts of one authorize call whose
// function reported UnavailableError (the SDK already retries throttling
// itself); a release is tried until its context ends (Release).
const DefaultInvokeAttempts = 3

// invokeBackoff is the pause before the second attempt; it doubles after,
// up to maxInvokeBackoff.
const (
	invokeBackoff    = 50 * time.Millisecond
	maxInvokeBackoff = 2 * time.Second
)

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
	err := f.call(ctx, f.authorize, req, &resp, func(err error, attempt int) bool {
		return errors.Is(err, ErrFunctionUnavailable) && attempt < f.attempts
	})
	return resp, err
}

// Release implements Releaser. Release is idempotent, so a release the
// function reported unavailable, or Lambda throttled past the SDK's own
// retries (a burst of logouts or a drain above the function's
// concurrency), is tried again, backing off, until ctx ends: a release
// given up leaves its slot taken until the heartbeat finds it stray.
func (f *Functions) Release(ctx context.Context, req lambdaapi.ReleaseRequest) error {
	var resp lambdaapi.ReleaseResponse
	return f.call(ctx, f.release, req, &resp, func(err error, _ int) bool {
		return errors.Is(err, ErrFunctionUnavailable) || isThrottled(err)
	})
}

// call invokes a function, and again while again says so, backing off.
func (f *Functions) call(ctx context.Context, name string, req, resp any, again func(err error, attempt int) bool) error {
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("edge: %s: %w", name, err)
	}
	backoff := invokeBackoff
	for attempt := 1; ; attempt++ {
		err = f.invoke(ctx, name, payload, resp)
		if err == nil || !again(err, attempt) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
			backoff = min(2*backoff, maxInvokeBackoff)
		}
	}
}

// isThrottled reports Lambda's refusal of an invoke over the function's
// concurrency (HTTP 429).
func isThrottled(err error) bool {
	var tooMany *types.TooManyRequestsException
	return errors.As(err, &tooMany)
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
