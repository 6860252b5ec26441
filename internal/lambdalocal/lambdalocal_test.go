package lambdalocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/collabgw/collabgw/internal/lambdabuild"
)

// The emulator and the test function are built once for the package.
var emulatorPath, sleeperPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lambdalocal-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := lambdabuild.ModuleRoot(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	emulatorPath = filepath.Join(dir, "aws-lambda-rie")
	if err := lambdabuild.BuildEmulator(ctx, root, emulatorPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sleeperPath = filepath.Join(dir, "sleeper", "bootstrap")
	build := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", sleeperPath, "./internal/lambdalocal/testdata/sleeper")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the test function: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs the sleeper function under the runtime, serves the Invoke API
// on a free loopback port and returns both.
func start(t testing.TB, opts ...Option) (*Runtime, string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	opts = append([]Option{WithLogger(slog.New(slog.NewTextHandler(logs, nil)))}, opts...)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rt, err := Start(ctx, emulatorPath, []Function{{Name: "sleeper", Bootstrap: sleeperPath}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rt.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		rt.Close()
		if t.Failed() {
			t.Logf("runtime log:\n%s", logs.String())
		}
	})
	return rt, "http://" + ln.Addr().String(), logs
}

func sdkClient(endpoint string, attempts int) *lambda.Client {
	return lambda.New(lambda.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer:      retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = attempts }),
	})
}

type answer struct {
	Pid     int `json:"pid"`
	SleptMs int `json:"sleptMs"`
	PadLen  int `json:"padLen"`
}

func invokeOK(ctx context.Context, c *lambda.Client, event string) (answer, error) {
	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("sleeper"), Payload: []byte(event)})
	if err != nil {
		return answer{}, err
	}
	if out.FunctionError != nil {
		return answer{}, fmt.Errorf("function error %s: %s", *out.FunctionError, out.Payload)
	}
	var a answer
	if err := json.Unmarshal(out.Payload, &a); err != nil || a.Pid == 0 {
		return answer{}, fmt.Errorf("answer %s: %w", out.Payload, err)
	}
	return a, nil
}

// fortyInvokes sends 40 concurrent invokes and fails the test unless all of
// them succeed.
func fortyInvokes(t *testing.T, endpoint string) {
	t.Helper()
	c := sdkClient(endpoint, 5)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			if _, err := invokeOK(ctx, c, fmt.Sprintf(`{"sleepMs":%d}`, i%5)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n == 0 {
			t.Errorf("invoke: %v", err)
		}
		n++
	}
	if n > 0 {
		t.Fatalf("%d of 40 invokes failed", n)
	}
}

// TestAbandonedInvokesDoNotLoseEmulators is the regression test of an
// emulator handed a second invoke while its abandoned first one still ran:
// the emulator crashed and was lost for good. Two callers leave while
// their functions run, one in each way a caller leaves: an SDK call whose
// context is cancelled, and a raw client that sent a 6 MB payload and
// hangs up. Then 40 invokes arrive while the abandoned ones still run.
func TestAbandonedInvokesDoNotLoseEmulators(t *testing.T) {
	// The queue holds all 40: this test is about emulators, not throttling.
	rt, endpoint, _ := start(t, WithInstances(2), WithWarm(2), WithQueue(64))
	var wg sync.WaitGroup
	conn, err := net.Dial("tcp", strings.TrimPrefix(endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"sleepMs":3000,"pad":"` + strings.Repeat("x", MaxPayload-64) + `"}`
	wg.Go(func() {
		fmt.Fprintf(conn, "POST /2015-03-31/functions/sleeper/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
	waitStats(t, rt, "the 6 MB invoke running", func(st FunctionStats) bool { return st.Busy == 1 })
	ctx, cancel := context.WithCancel(t.Context())
	wg.Go(func() {
		if _, err := invokeOK(ctx, sdkClient(endpoint, 1), `{"sleepMs":3000}`); err == nil {
			t.Error("a cancelled invoke returned an answer")
		}
	})
	waitStats(t, rt, "both emulators busy", func(st FunctionStats) bool { return st.Busy == 2 })
	cancel()
	conn.Close()
	wg.Wait()
	waitStats(t, rt, "both callers gone", func(st FunctionStats) bool { return st.Abandoned == 2 })
	fortyInvokes(t, endpoint)
	if st := rt.Stats()[0]; st.Replaced != 0 || st.EmulatorErrors != 0 {
		t.Errorf("an emulator failed: %+v", st)
	}
}

func waitStats(t *testing.T, rt *Runtime, what string, cond func(FunctionStats) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond(rt.Stats()[0]) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, rt.Stats()[0])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeadEmulatorIsReplaced(t *testing.T) {
	tests := []struct {
		name string
		kill func(t *testing.T, rt *Runtime, endpoint string)
	}{
		{"idle emulator killed", func(t *testing.T, rt *Runtime, _ string) {
			insts := rt.Instances("sleeper")
			if len(insts) == 0 {
				t.Fatal("no emulator running")
			}
			for _, inst := range insts { // every emulator, so the next invoke meets a dead one
				if err := syscall.Kill(inst.Pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			// Straight away and without the SDK's retries: an emulator that
			// died before the invoke reached it is not the caller's problem.
			res, err := rt.Invoke(t.Context(), "sleeper", []byte(`{}`))
			if err != nil || res.FunctionError != "" {
				t.Fatalf("invoke right after the kill: %v %s", err, res.Payload)
			}
		}},
		{"function process exits mid-invoke", func(t *testing.T, _ *Runtime, endpoint string) {
			out, err := sdkClient(endpoint, 1).Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("sleeper"), Payload: []byte(`{"exit":true}`)})
			if err == nil && out.FunctionError == nil {
				t.Fatalf("an invoke whose function exited succeeded: %s", out.Payload)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, endpoint, logs := start(t, WithInstances(2), WithWarm(2), WithQueue(64))
			tt.kill(t, rt, endpoint)
			deadline := time.Now().Add(10 * time.Second)
			for rt.Stats()[0].Replaced == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			fortyInvokes(t, endpoint)
			if st := rt.Stats()[0]; st.Replaced < 1 || st.Instances > st.Max {
				t.Errorf("stats %+v: want a replacement and at most max instances", st)
			}
			if !strings.Contains(logs.String(), "starting a replacement") {
				t.Errorf("the replacement was not logged:\n%s", logs.String())
			}
		})
	}
}

func TestThrottledBeyondTheQueue(t *testing.T) {
	rt, endpoint, _ := start(t, WithInstances(1), WithQueue(1))
	c := sdkClient(endpoint, 1)
	var wg sync.WaitGroup
	for range 2 { // one runs, one waits
		wg.Go(func() {
			if _, err := invokeOK(t.Context(), c, `{"sleepMs":600}`); err != nil {
				t.Error(err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for st := rt.Stats()[0]; st.Busy+st.Waiting < 2 && time.Now().Before(deadline); st = rt.Stats()[0] {
		time.Sleep(5 * time.Millisecond)
	}
	_, err := invokeOK(t.Context(), c, `{}`)
	var tmr *types.TooManyRequestsException
	if !errors.As(err, &tmr) || tmr.Reason != types.ThrottleReasonConcurrentInvocationLimitExceeded {
		t.Fatalf("third invoke: %v, want TooManyRequestsException", err)
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Errorf("the SDK does not treat %v as throttling", err)
	}
	// With the SDK's retries it gets through once the emulator is free.
	if _, err := invokeOK(t.Context(), sdkClient(endpoint, 10), `{}`); err != nil {
		t.Errorf("with retries: %v", err)
	}
	wg.Wait()
	if st := rt.Stats()[0]; st.Throttled < 1 {
		t.Errorf("throttles not counted: %+v", st)
	}
}

func TestPoolGrowsOnDemandToItsLimit(t *testing.T) {
	rt, endpoint, _ := start(t, WithInstances(3))
	if n := len(rt.Instances("sleeper")); n != DefaultWarm {
		t.Fatalf("%d emulators at start, want %d", n, DefaultWarm)
	}
	c := sdkClient(endpoint, 1)
	pids := map[int]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 9 {
		wg.Go(func() {
			a, err := invokeOK(t.Context(), c, `{"sleepMs":300}`)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			pids[a.Pid] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if st := rt.Stats()[0]; st.Instances != 3 || len(pids) > 3 || len(pids) < 2 {
		t.Fatalf("stats %+v, %d function processes served: want the pool grown to 3 and no more", st, len(pids))
	}
}

func TestOversizedInvokeIs413(t *testing.T) {
	_, endpoint, _ := start(t, WithInstances(1))
	for _, size := range []int{MaxPayload + 1, 20 << 20} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			resp, err := http.Post(endpoint+"/2015-03-31/functions/sleeper/invocations", "application/json", bytes.NewReader(make([]byte, size)))
			if err != nil {
				t.Fatalf("a %d-byte invoke: %v, want a 413 answer", size, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("X-Amzn-ErrorType") != "RequestTooLargeException" {
				t.Fatalf("HTTP %d %s: %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
			}
			_, err = sdkClient(endpoint, 1).Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("sleeper"), Payload: make([]byte, size)})
			var tooLarge *types.RequestTooLargeException
			if !errors.As(err, &tooLarge) {
				t.Fatalf("SDK: %v, want RequestTooLargeException", err)
			}
		})
	}
}

func TestTimeoutIsAFunctionErrorAndTheEmulatorIsReplaced(t *testing.T) {
	rt, endpoint, _ := start(t, WithInstances(1), WithTimeout(time.Second))
	out, err := sdkClient(endpoint, 1).Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("sleeper"), Payload: []byte(`{"sleepMs":3000}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out.FunctionError == nil || !strings.Contains(string(out.Payload), `"errorType":"Sandbox.Timedout"`) {
		t.Fatalf("function error %v, payload %s: want Sandbox.Timedout", out.FunctionError, out.Payload)
	}
	if _, err := invokeOK(t.Context(), sdkClient(endpoint, 3), `{}`); err != nil {
		t.Fatalf("after the timeout: %v", err)
	}
	if st := rt.Stats()[0]; st.Replaced != 1 {
		t.Errorf("stats %+v: want the timed-out emulator replaced", st)
	}
}

func TestFunctionErrorKeepsTheEmulator(t *testing.T) {
	rt, endpoint, _ := start(t, WithInstances(1))
	out, err := sdkClient(endpoint, 1).Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("sleeper"), Payload: []byte(`{"fail":"no"}`)})
	if err != nil || aws.ToString(out.FunctionError) != "Unhandled" {
		t.Fatalf("Invoke = %v, %v; want an Unhandled function error", out, err)
	}
	if _, err := invokeOK(t.Context(), sdkClient(endpoint, 1), `{}`); err != nil {
		t.Fatal(err)
	}
	if st := rt.Stats()[0]; st.Replaced != 0 || st.EmulatorErrors != 0 {
		t.Errorf("a handler error cost an emulator: %+v", st)
	}
}

func TestUnknownFunctionIsNotFound(t *testing.T) {
	_, endpoint, _ := start(t, WithInstances(1))
	_, err := sdkClient(endpoint, 1).Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:nope"), Payload: []byte(`{}`)})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want ResourceNotFoundException", err)
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	rt, endpoint, _ := start(t, WithInstances(2), WithWarm(2))
	if _, err := invokeOK(t.Context(), sdkClient(endpoint, 1), `{}`); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, inst := range rt.Instances("sleeper") {
		pids = append(pids, inst.Pid)
		pids = append(pids, children(inst.Pid)...)
	}
	if len(pids) < 3 {
		t.Fatalf("processes %v: want two emulators and a function process", pids)
	}
	rt.Close()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d still runs after Close", pid)
		}
	}
}

func TestOptionsAreValidated(t *testing.T) {
	fns := []Function{{Name: "sleeper", Bootstrap: sleeperPath}}
	tests := []struct {
		name string
		fns  []Function
		opt  Option
	}{
		{"no instances", fns, WithInstances(0)},
		{"negative queue", fns, WithQueue(-1)},
		{"short timeout", fns, WithTimeout(time.Millisecond)},
		{"nil logger", fns, WithLogger(nil)},
		{"nil picker", fns, WithAddrPicker(nil)},
		{"function twice", append(fns, fns...), WithWarm(0)},
		{"function without a name", []Function{{Bootstrap: sleeperPath}}, WithWarm(0)},
		{"missing bootstrap", []Function{{Name: "x", Bootstrap: "/nonexistent"}}, WithWarm(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := Start(t.Context(), emulatorPath, tt.fns, tt.opt)
			if err == nil {
				rt.Close()
				t.Fatal("Start accepted it")
			}
		})
	}
}

func TestAddrPickerIsUsed(t *testing.T) {
	var mu sync.Mutex
	var picked []string
	pick := func() (string, error) {
		a, err := freeLoopbackAddr()
		mu.Lock()
		picked = append(picked, a)
		mu.Unlock()
		return a, err
	}
	_, endpoint, _ := start(t, WithInstances(1), WithAddrPicker(pick))
	if _, err := invokeOK(t.Context(), sdkClient(endpoint, 1), `{}`); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(picked) != 2 {
		t.Fatalf("picker called for %v, want the emulator's two addresses", picked)
	}
}
