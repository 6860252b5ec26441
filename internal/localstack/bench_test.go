package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/collabgw/collabgw/internal/admission"
	"github.com/collabgw/collabgw/internal/ddblocal"
	"github.com/collabgw/collabgw/internal/demo"
	"github.com/collabgw/collabgw/internal/devproto"
	"github.com/collabgw/collabgw/internal/lambdaapi"
	"github.com/collabgw/collabgw/internal/manifest"
)

// benchInFlight are the concurrencies the local endpoint is measured at:
// from a quiet stack to a reconnect storm.
var benchInFlight = []int{1, 4, 16, 64}

// BenchmarkLocalInvoke measures the local Lambda endpoint's authorize rate
// through the AWS SDK, as the edge calls it: each worker logs its own demo
// device in again and again (a later device time each time, so every
// invoke is a full admission: device and user reads, one transaction that
// replaces the device's previous session). The sub-benchmarks compare
// emulator pool sizes side by side in one run; instances=0 is the
// default.
//
//	go test -run '^$' -bench LocalInvoke -benchtime 400x ./internal/localstack/
func BenchmarkLocalInvoke(b *testing.B) {
	for _, instances := range []int{2, 0} {
		b.Run(fmt.Sprintf("instances=%d", instances), func(b *testing.B) {
			s := startBenchStack(b, instances)
			for _, inFlight := range benchInFlight {
				b.Run(fmt.Sprintf("inflight=%d", inFlight), func(b *testing.B) {
					benchAuthorize(b, s, inFlight)
				})
			}
		})
	}
}

func startBenchStack(b *testing.B, instances int) *Stack {
	b.Helper()
	cache, err := ddblocal.CacheDir()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := Start(ctx, Config{
		DataDir: b.TempDir(), InMemory: true, CacheDir: cache,
		LambdaAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		Pool:      admission.PoolConfig{Name: "bench"},
		DemoUsers: slices.Max(benchInFlight), SweepEvery: time.Hour,
		FunctionInstances: instances,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

func benchAuthorize(b *testing.B, s *Stack, inFlight int) {
	// The edge's retry policy: throttles are retried, without a client-side
	// retry quota.
	client := lambda.New(NewLambdaClient(s.LambdaEndpoint).Options(), func(o *lambda.Options) {
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
	})
	keys := make([][]byte, inFlight)
	for w := range inFlight {
		pub, err := devproto.LoadPublicKey(filepath.Join(s.DeviceKeyDir, demo.UserID(w+1)+devproto.PublicKeySuffix))
		if err != nil {
			b.Fatal(err)
		}
		keys[w] = pub[:]
	}
	var (
		next      atomic.Int64
		failed    atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range inFlight {
		wg.Go(func() {
			var own []time.Duration
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				req := lambdaapi.AuthorizeRequest{
					RequestID: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), DeviceID: demo.DeviceID(w + 1),
					DevicePublicKey: keys[w], DeviceTime: time.Now(), UserID: demo.UserID(w + 1),
					ClientVersion: "bench/1", EdgeTask: "bench-edge", SourceAddr: "127.0.0.1:1",
				}
				payload, err := json.Marshal(req)
				if err != nil {
					b.Error(err)
					return
				}
				t0 := time.Now()
				out, err := client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(manifest.FunctionAuthorize), Payload: payload})
				own = append(own, time.Since(t0))
				var resp lambdaapi.AuthorizeResponse
				if err != nil || out.FunctionError != nil || json.Unmarshal(out.Payload, &resp) != nil || resp.Status.String() != "ACCEPTED" {
					if failed.Add(1) == 1 {
						b.Logf("first failed invoke: %v %s", err, outPayload(out))
					}
				}
			}
			mu.Lock()
			latencies = append(latencies, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "invokes/s")
	b.ReportMetric(ms(percentile(latencies, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(latencies, 0.99)), "p99-ms")
	b.ReportMetric(float64(failed.Load()), "failed")
}

func outPayload(out *lambda.InvokeOutput) []byte {
	if out == nil {
		return nil
	}
	return out.Payload
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
