package localstack

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/lambdaapi"
	"github.com/collabgw/collabgw/internal/manifest"
)

// stack is started once for the package: building the functions and
// starting the emulators is the expensive part.
var (
	stackLog  = &tail{max: 64 << 10}
	stackOnce sync.Once
	shared    *Stack
	errStart  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

func startStack(t *testing.T) *Stack {
	t.Helper()
	stackOnce.Do(func() {
		cache, err := ddblocal.CacheDir()
		if err != nil {
			errStart = err
			return
		}
		dir, err := os.MkdirTemp("", "collabgw-localstack-")
		if err != nil {
			errStart = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared, errStart = Start(ctx, Config{
			DataDir:       dir,
			InMemory:      true,
			CacheDir:      cache,
			LambdaAddr:    "127.0.0.1:0",
			SimulatorAddr: "127.0.0.1:0",
			Pool:          admission.PoolConfig{Name: "demo", MaxSessions: 5},
			DemoUsers:     62, // 1–2 in the demo pool, the rest for the fleet tests
			SweepEvery:    time.Hour,
			Log:           slog.New(slog.NewTextHandler(stackLog, &slog.HandlerOptions{Level: slog.LevelInfo})),
		})
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack log (tail):\n%s", stackLog.String())
		}
	})
	if errStart != nil {
		t.Fatalf("start the local stack: %v", errStart)
	}
	return shared
}

func lambdaClient(s *Stack) *lambda.Client { return NewLambdaClient(s.LambdaEndpoint) }

// TestEveryEventThroughTheEmulator invokes every function with every file
// in events/, through the AWS SDK's Lambda client against the local Invoke
// endpoint, the way the edge and `sam local start-lambda` users do.
func TestEveryEventThroughTheEmulator(t *testing.T) {
	s := startStack(t)
	client := lambdaClient(s)
	tests := []struct {
		file     string
		function string
		// want lists JSON fields (dotted paths) and their expected values;
		// errorType is checked when the function returns an error.
		want      map[string]any
		errorType string
	}{
		{"authorize-accept.json", manifest.FunctionAuthorize,
			map[string]any{"status": "ACCEPTED", "session.pool": "demo", "session.deviceId": SampleDeviceID, "groupwise.host": "127.0.0.1", "lease.heartbeatSeconds": admission.DefaultHeartbeatInterval.Seconds()}, ""},
		{"authorize-not-permitted.json", manifest.FunctionAuthorize, map[string]any{"status": "NOT_PERMITTED", "reason": "device-bound-to-other-user"}, ""},
		{"authorize-unknown-device.json", manifest.FunctionAuthorize, map[string]any{"status": "DEVICE_REVOKED", "reason": "device-unknown"}, ""},
		{"authorize-missing-fields.json", manifest.FunctionAuthorize, nil, "BadEventError"},
		{"authorize-malformed.json", manifest.FunctionAuthorize, nil, "BadEventError"},
		{"release.json", manifest.FunctionRelease, map[string]any{"released": true}, ""},
		{"release-missing-session.json", manifest.FunctionRelease, nil, "BadEventError"},
		{"sweep.json", manifest.FunctionSweep, map[string]any{"pools.0.pool": "demo", "pools.0.drift": 0.0}, ""},
	}
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no events: %v", err)
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("events/%s has no expectation in this test", filepath.Base(f))
		}
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join("../../events", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			// The samples carry a fixed device time; `collabgw invoke` puts
			// in the current one the same way.
			payload = lambdaapi.StampDeviceTime(payload, time.Now())
			out, err := client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(tt.function), Payload: payload})
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			var body map[string]any
			if err := json.Unmarshal(out.Payload, &body); err != nil {
				t.Fatalf("answer %s: %v", out.Payload, err)
			}
			if tt.errorType != "" {
				if aws.ToString(out.FunctionError) != "Unhandled" || body["errorType"] != tt.errorType {
					t.Fatalf("answer %s (function error %q), want errorType %s", out.Payload, aws.ToString(out.FunctionError), tt.errorType)
				}
				return
			}
			if out.FunctionError != nil {
				t.Fatalf("function error %s: %s", *out.FunctionError, out.Payload)
			}
			for path, want := range tt.want {
				if got := lookup(body, path); got != want {
					t.Errorf("%s = %v, want %v (answer %s)", path, got, want, out.Payload)
				}
			}
		})
	}
}

// TestConcurrentInvokesAreServedByThePool sends more concurrent invokes than
// there are emulators: each emulator must serve one at a time.
func TestConcurrentInvokesAreServedByThePool(t *testing.T) {
	s := startStack(t)
	client := lambdaClient(s)
	payload, err := os.ReadFile("../../events/release.json")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			out, err := client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(manifest.FunctionRelease), Payload: payload})
			if err != nil || out.FunctionError != nil || !strings.Contains(string(out.Payload), `"released":true`) {
				t.Errorf("Invoke = %v, %v", out, err)
			}
		})
	}
	wg.Wait()
}

func TestUnknownFunctionIsResourceNotFound(t *testing.T) {
	s := startStack(t)
	_, err := lambdaClient(s).Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("nope"), Payload: []byte("{}")})
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("err = %v, want ResourceNotFoundException", err)
	}
}

// maxColdStart bounds a function's first invoke on a fresh emulator: the
// process's start-up and init plus one invoke. A Go binary takes tens of
// milliseconds; the bound is half of Lambda's 10 s init phase, a margin
// that holds on a loaded 2-core machine and still fails a function whose
// init blocks (a network call, a slow key parse) or a binary that does not
// start at all.
const maxColdStart = 5 * time.Second

func TestFunctionBinariesAreSmallAndStartFast(t *testing.T) {
	s := startStack(t)
	// One invoke of each function, with an event it answers without
	// touching the demo pool's sessions, makes sure there is a cold start
	// to look at whichever tests ran before.
	events := map[string]string{
		manifest.FunctionAuthorize: "authorize-unknown-device.json",
		manifest.FunctionRelease:   "release-missing-session.json",
		manifest.FunctionSweep:     "sweep.json",
	}
	client := lambdaClient(s)
	for _, fn := range manifest.Functions {
		st, err := os.Stat(filepath.Join(s.Config.DataDir, "bin", fn.Name, "bootstrap"))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() >= 10_000_000 {
			t.Errorf("%s binary is %d bytes, want under 10 MB", fn.Name, st.Size())
		}
		payload, err := os.ReadFile(filepath.Join("../../events", events[fn.Name]))
		if err != nil {
			t.Fatalf("%s: no event to invoke it with: %v", fn.Name, err)
		}
		if _, err := client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(fn.Name), Payload: payload}); err != nil {
			t.Fatalf("invoke %s: %v", fn.Name, err)
		}
		colds := s.Functions.ColdStarts(fn.Name)
		if len(colds) == 0 {
			t.Errorf("%s: invoked, but no cold start recorded", fn.Name)
		}
		for _, d := range colds {
			if d > maxColdStart {
				t.Errorf("%s: a cold first invoke took %v, want under %v", fn.Name, d, maxColdStart)
			}
		}
		t.Logf("%s: %d bytes, cold first invokes %v", fn.Name, st.Size(), colds)
	}
}

func TestSeedIsIdempotentAndMakesKeys(t *testing.T) {
	s := startStack(t)
	for _, f := range []string{s.GatewayKeyFile, s.GatewayPubFile, filepath.Join(s.DeviceKeyDir, demo.UserID(1)+".key")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	before, err := os.ReadFile(s.GatewayPubFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.seed(context.Background(), s.Config.Pool); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(s.GatewayPubFile)
	if err != nil || string(after) != string(before) {
		t.Fatalf("gateway key changed on a second seed: %v", err)
	}
	dev, err := s.Store.GetDevice(context.Background(), demo.DeviceID(2))
	if err != nil || dev.UserID != demo.UserID(2) || !dev.Active {
		t.Fatalf("device %+v, %v", dev, err)
	}
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
