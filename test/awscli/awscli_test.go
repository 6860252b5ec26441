package awscli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/localstack"
	"github.com/collabgw/collabgw/internal/manifest"
)

// findCLI returns an AWS CLI v2: Debian's /usr/bin/aws, or the first aws
// in PATH when it is v2 (a pip-installed v1 earlier in PATH is skipped).
func findCLI(t *testing.T) string {
	t.Helper()
	var candidates []string
	if p, err := exec.LookPath("aws"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/aws")
	for _, c := range candidates {
		out, err := exec.Command(c, "--version").CombinedOutput()
		if err == nil && strings.HasPrefix(string(out), "aws-cli/2.") {
			t.Logf("AWS CLI %s: %s", c, strings.TrimSpace(string(out)))
			return c
		}
	}
	t.Fatal("no AWS CLI v2 (Debian package awscli): run make deps")
	return ""
}

// cli runs the AWS CLI with an environment of its own: static local
// credentials, the local region, no config or credentials files, no
// instance metadata, no pager.
type cli struct {
	bin, home string
}

func (c cli) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"HOME="+c.home,
		"AWS_CONFIG_FILE="+filepath.Join(c.home, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(c.home, "no-credentials"),
		"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_REGION="+localstack.LocalRegion, "AWS_DEFAULT_REGION="+localstack.LocalRegion,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=", "AWS_CLI_AUTO_PROMPT=off", "AWS_MAX_ATTEMPTS=1",
	)
}

func (c cli) run(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = c.env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// withCurrentTime copies an event into dir, with deviceTime set to now
// when the event has one (authorize refuses a login dated outside its
// clock window, and a time at or before the device's last login is a
// replay). Files that are not a JSON object are copied as they are.
func withCurrentTime(t *testing.T, src, dir string, now time.Time) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if json.Unmarshal(b, &ev) == nil {
		if _, ok := ev["deviceTime"]; ok {
			ev["deviceTime"] = now.UTC().Format(time.RFC3339Nano)
			if b, err = json.MarshalIndent(ev, "", "  "); err != nil {
				t.Fatal(err)
			}
		}
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestAWSCLIAgainstTheLocalStack invokes every function with every file
// in events/ through `aws lambda invoke --endpoint-url`, checks each
// answer, then reads the seeded pool with `aws dynamodb get-item`.
func TestAWSCLIAgainstTheLocalStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack; skipped with -short")
	}
	c := cli{bin: findCLI(t), home: t.TempDir()}
	cache, err := ddblocal.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const maxSessions = 7
	stack, err := localstack.Start(ctx, localstack.Config{
		DataDir: t.TempDir(), InMemory: true, CacheDir: cache,
		LambdaAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0", // DynamoDB Local: a free port
		Pool:      admission.PoolConfig{Name: localstack.DefaultPool, MaxSessions: maxSessions},
		DemoUsers: 2, SweepEvery: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()

	// In order: the accept comes first, so the device has a session when
	// the others run.
	tests := []struct {
		file     string
		function string
		// want lists dotted JSON paths of the answer and their values;
		// errorType, when set, is the function error's type.
		want      map[string]any
		errorType string
	}{
		{"authorize-accept.json", manifest.FunctionAuthorize,
			map[string]any{"status": "ACCEPTED", "session.pool": localstack.DefaultPool, "session.deviceId": localstack.SampleDeviceID}, ""},
		{"authorize-not-permitted.json", manifest.FunctionAuthorize, map[string]any{"status": "NOT_PERMITTED"}, ""},
		{"authorize-unknown-device.json", manifest.FunctionAuthorize, map[string]any{"status": "DEVICE_REVOKED"}, ""},
		{"authorize-missing-fields.json", manifest.FunctionAuthorize, nil, "BadEventError"},
		{"authorize-malformed.json", manifest.FunctionAuthorize, nil, "BadEventError"},
		{"release.json", manifest.FunctionRelease, map[string]any{"released": true}, ""},
		{"release-missing-session.json", manifest.FunctionRelease, nil, "BadEventError"},
		{"sweep.json", manifest.FunctionSweep, map[string]any{"pools.0.pool": localstack.DefaultPool, "pools.0.drift": 0.0}, ""},
	}
	events, err := filepath.Glob("../../events/*.json")
	if err != nil || len(events) == 0 {
		t.Fatalf("no events: %v", err)
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
	}
	for _, f := range events {
		if !covered[filepath.Base(f)] {
			t.Errorf("events/%s has no expectation in this test", filepath.Base(f))
		}
	}

	eventDir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			payload := withCurrentTime(t, filepath.Join("../../events", tt.file), eventDir, time.Now())
			answer := filepath.Join(t.TempDir(), "answer.json")
			meta := c.run(t, "lambda", "invoke", "--endpoint-url", stack.LambdaEndpoint,
				"--function-name", tt.function, "--payload", "fileb://"+payload, "--output", "json", answer)
			var m struct {
				StatusCode    int
				FunctionError string
			}
			if err := json.Unmarshal(meta, &m); err != nil {
				t.Fatalf("aws lambda invoke printed %s: %v", meta, err)
			}
			body, err := os.ReadFile(answer)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("answer %s: %v", body, err)
			}
			if m.StatusCode != 200 {
				t.Fatalf("StatusCode %d, want 200 (answer %s)", m.StatusCode, body)
			}
			if tt.errorType != "" {
				if m.FunctionError != "Unhandled" || got["errorType"] != tt.errorType {
					t.Fatalf("FunctionError %q answer %s, want Unhandled %s", m.FunctionError, body, tt.errorType)
				}
				return
			}
			if m.FunctionError != "" {
				t.Fatalf("FunctionError %q: %s", m.FunctionError, body)
			}
			for path, want := range tt.want {
				if v := lookup(got, path); v != want {
					t.Errorf("%s = %v, want %v (answer %s)", path, v, want, body)
				}
			}
		})
	}

	t.Run("unknown function", func(t *testing.T) {
		cmd := exec.Command(c.bin, "lambda", "invoke", "--endpoint-url", stack.LambdaEndpoint,
			"--function-name", "no-such-function", "--payload", "fileb://"+filepath.Join("../../events", "sweep.json"), filepath.Join(t.TempDir(), "out.json"))
		cmd.Env = c.env()
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !strings.Contains(string(out), "ResourceNotFoundException") {
			t.Fatalf("aws lambda invoke of an unknown function = %v\n%s; want ResourceNotFoundException", err, out)
		}
	})

	t.Run("dynamodb get-item of the seeded pool", func(t *testing.T) {
		// The pool's configuration item (docs/data-model.md): CONFIG / POOL#<name>.
		out := c.run(t, "dynamodb", "get-item", "--endpoint-url", stack.DynamoEndpoint,
			"--table-name", stack.Config.Table, "--consistent-read", "--output", "json",
			"--key", `{"pk":{"S":"CONFIG"},"sk":{"S":"POOL#`+localstack.DefaultPool+`"}}`)
		var item struct {
			Item map[string]map[string]string
		}
		if err := json.Unmarshal(out, &item); err != nil {
			t.Fatalf("get-item printed %s: %v", out, err)
		}
		if item.Item["pool"]["S"] != localstack.DefaultPool || item.Item["maxSessions"]["N"] != "7" {
			t.Errorf("pool item %s, want pool %s with maxSessions %d", out, localstack.DefaultPool, maxSessions)
		}
		if gw := item.Item["gwHost"]["S"]; gw != "127.0.0.1" {
			t.Errorf("pool's GroupWise host %q, want the simulator's 127.0.0.1", gw)
		}
	})

	t.Run("dynamodb describe-table", func(t *testing.T) {
		out := c.run(t, "dynamodb", "describe-table", "--endpoint-url", stack.DynamoEndpoint,
			"--table-name", stack.Config.Table, "--query", "Table.KeySchema[].AttributeName", "--output", "text")
		if got := strings.Fields(string(out)); len(got) != 2 || got[0] != manifest.AttrPartitionKey || got[1] != manifest.AttrSortKey {
			t.Errorf("key schema %q, want %s %s", out, manifest.AttrPartitionKey, manifest.AttrSortKey)
		}
	})
}

// lookup follows a dotted path ("pools.0.pool") through decoded JSON.
func lookup(v any, path string) any {
	for _, part := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i := 0
			for _, c := range part {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
