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
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/ddblocal"
)

// EndpointEnv names an already running DynamoDB Local to use instead of
// starting one.
const EndpointEnv = "COLLABGW_DYNAMODB_ENDPOINT"

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
	cacheDir, err := ddblocal.CacheDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynamotest:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Under a clock offset (clocktest), DynamoDB Local's TTL process runs in
	// the same future as the tests' clocks.
	proc, err := ddblocal.Start(ctx, ddblocal.Config{CacheDir: cacheDir, ClockOffset: clocktest.Offset()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dynamotest:", err)
		return 1
	}
	defer proc.Stop() //nolint:errcheck // the test result is what matters
	endpoint = proc.Endpoint()
	return m.Run()
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
	return ddblocal.NewClient(Endpoint(t), opts...)
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
