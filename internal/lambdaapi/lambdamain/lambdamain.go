// Package lambdamain wires a collabgw function: environment, AWS SDK
// clients, handler, lambda.Start. It is shared by the three functions'
// main packages so that each stays one line.
package lambdamain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/lambdaapi"
	"github.com/collabgw/collabgw/internal/manifest"
	"github.com/collabgw/collabgw/internal/metrics"
)

// Function selects the handler a binary serves.
type Function int

// The functions.
const (
	Authorize Function = iota
	Release
	Sweep
)

var names = map[Function]string{
	Authorize: manifest.FunctionAuthorize,
	Release:   manifest.FunctionRelease,
	Sweep:     manifest.FunctionSweep,
}

// Run reads the environment, builds the clients and serves fn until the
// runtime stops the process. Configuration errors end the process at init,
// which Lambda reports as an init failure.
func Run(fn Function) {
	if err := run(fn); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		os.Exit(1)
	}
}

func run(fn Function) error {
	started := time.Now()
	env, err := lambdaapi.EnvFrom(os.Getenv)
	if err != nil {
		return err
	}
	name, ok := names[fn]
	if !ok {
		return fmt.Errorf("unknown function %d", fn)
	}
	// Logs and EMF metrics share stdout: the runtime ships each line to the
	// function's log group, where CloudWatch extracts the metrics.
	log := env.Logger(os.Stdout).With("function", name)
	rec, err := metrics.New(os.Stdout, metrics.WithProperty("function", name))
	if err != nil {
		return err
	}
	db, err := dynamoFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	store, err := admission.New(db, env.Table, env.StoreOptions(log)...)
	if err != nil {
		return err
	}
	h, err := lambdaapi.New(store, lambdaapi.WithLogger(log), lambdaapi.WithMetrics(rec))
	if err != nil {
		return err
	}
	var handle func(ctx context.Context, raw json.RawMessage) (any, error)
	switch fn {
	case Authorize:
		handle = func(ctx context.Context, raw json.RawMessage) (any, error) { return h.Authorize(ctx, raw) }
	case Release:
		handle = func(ctx context.Context, raw json.RawMessage) (any, error) { return h.Release(ctx, raw) }
	case Sweep:
		handle = func(ctx context.Context, raw json.RawMessage) (any, error) { return h.Sweep(ctx, raw) }
	}
	log.Info("init complete", "init_ms", float64(time.Since(started).Microseconds())/1000)
	lambda.StartWithOptions(rawHandler(handle), lambda.WithEnableSIGTERM())
	return nil
}

// dynamoFromEnv builds the DynamoDB client from the variables the Lambda
// runtime sets (AWS_REGION and the execution role's AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), plus the SDK's standard
// AWS_ENDPOINT_URL_DYNAMODB override for local runs. Reading them directly
// instead of through the SDK's config package keeps SSO and STS code out of
// the binary: a third smaller and faster to start.
func dynamoFromEnv(getenv func(string) string) (*dynamodb.Client, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		return nil, errors.New("AWS_REGION is not set")
	}
	cfg := aws.Config{
		Region: region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
			getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN"))),
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ep := getenv("AWS_ENDPOINT_URL_DYNAMODB"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	}), nil
}

// rawHandler hands the handler the raw event, so that even malformed JSON
// comes back as a typed *BadEventError rather than the runtime's own
// decoding error.
type rawHandler func(ctx context.Context, raw json.RawMessage) (any, error)

// Invoke implements lambda.Handler.
func (h rawHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := h(ctx, payload)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode answer: %w", err)
	}
	return b, nil
}
