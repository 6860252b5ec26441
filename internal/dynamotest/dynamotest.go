// Package dynamotest gives a package's tests a real DynamoDB Local: started
// once per test binary from TestMain (or reused from
// COLLABGW_DYNAMODB_ENDPOINT), with a fresh table name for every test.
package dynamotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/lambdabuild"
)

// EndpointEnv names an already running DynamoDB Local to use instead of
// starting one.
const EndpointEnv = "COLLABGW_DYNAMODB_ENDPOINT"

// CacheDirEnv overrides where DynamoDB Local is installed (default: the
// module's .cache folder).
const CacheDirEnv = "COLLABGW_CACHE_DIR"

var endpoint string

// Main starts DynamoDB Local, runs the tests, stops it and exits.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if ep := os.Getenv(EndpointEnv); ep != "" {
		endpoint = ep
		return m.Run()
	}
	cacheDir, err := CacheDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynamotest:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	proc, err := ddblocal.Start(ctx, ddblocal.Config{CacheDir: cacheDir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynamotest:", err)
		return 1
	}
	defer proc.Stop() //nolint:errcheck // the test result is what matters
	endpoint = proc.Endpoint()
	return m.Run()
}

// CacheDir is where downloaded tools are kept: $COLLABGW_CACHE_DIR, or .cache
// at the module root.
func CacheDir() (string, error) {
	if dir := os.Getenv(CacheDirEnv); dir != "" {
		return dir, nil
	}
	root, err := lambdabuild.ModuleRoot(".")
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache"), nil
}

// Endpoint is the URL of the DynamoDB Local the tests use.
func Endpoint(t testing.TB) string {
	t.Helper()
	if endpoint == "" {
		t.Fatal("dynamotest: no DynamoDB Local; call dynamotest.Main from TestMain")
	}
	return endpoint
}

// Client returns a DynamoDB client for DynamoDB Local.
func Client(t testing.TB, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	return NewClient(Endpoint(t), opts...)
}

// NewClient returns a DynamoDB client for the DynamoDB Local at endpoint.
func NewClient(endpoint string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	opts = append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	}}, opts...)
	return dynamodb.NewFromConfig(cfg, opts...)
}

// TableName returns a table name no other test uses.
func TableName(t testing.TB) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 200 {
		name = name[:200]
	}
	return "t-" + name + "-" + hex.EncodeToString(b[:])
}
