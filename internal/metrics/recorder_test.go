package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/metrics"
	"github.com/collabgw/collabgw/internal/metrics/metricstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// t0 is the recorders' clock: the current time (CloudWatch takes an EMF
// timestamp only within two weeks back and two hours ahead), fixed for the
// test's run. The golden file holds it as 0 (TestGolden).
var t0 = clocktest.Now()

func newRecorder(t *testing.T, w *metricstest.SyncBuffer, opts ...metrics.Option) *metrics.Recorder {
	t.Helper()
	r, err := metrics.New(w, append([]metrics.Option{metrics.WithClock(func() time.Time { return t0 })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// find returns the value of metric name in the document whose dimension
// members equal dims (and that has no other dimension member).
func find(docs []metricstest.Document, name string, dims map[string]string) (any, bool) {
	for _, d := range docs {
		v, ok := d[name]
		if !ok {
			continue
		}
		match := true
		for _, k := range []string{metrics.DimPool, metrics.DimOutcome, metrics.DimReason, metrics.DimFunction, metrics.DimErrorType, metrics.DimResultCode} {
			got, has := d[k].(string)
			want, wanted := dims[k]
			if has != wanted || got != want {
				match = false
			}
		}
		if match {
			return v, true
		}
	}
	return nil, false
}

func TestRecorderWritesValidEMF(t *testing.T) {
	type want struct {
		metric string
		dims   map[string]string
		value  any
	}
	tests := []struct {
		name   string
		record func(r *metrics.Recorder)
		want   []want
	}{
		{
			name: "counter summed per series, pool-less record skips the Pool set",
			record: func(r *metrics.Recorder) {
				r.Add(metrics.LoginAttempts, 1, metrics.Pool("main"), metrics.Outcome("ACCEPTED"))
				r.Add(metrics.LoginAttempts, 1, metrics.Pool("main"), metrics.Outcome("ACCEPTED"))
				r.Add(metrics.LoginAttempts, 1, metrics.Outcome("DEVICE_REVOKED"))
			},
			want: []want{
				{"LoginAttempts", map[string]string{"Pool": "main", "Outcome": "ACCEPTED"}, 2.0},
				{"LoginAttempts", map[string]string{"Outcome": "DEVICE_REVOKED"}, 1.0},
			},
		},
		{
			name: "distribution keeps every value",
			record: func(r *metrics.Recorder) {
				r.ObserveDuration(metrics.AdmissionLatency, 12500*time.Microsecond, metrics.Pool("main"))
				r.Observe(metrics.AdmissionLatency, 3, metrics.Pool("main"))
			},
			want: []want{{"AdmissionLatency", map[string]string{"Pool": "main"}, []any{12.5, 3.0}}},
		},
		{
			name: "gauge keeps the last value, negative drift included",
			record: func(r *metrics.Recorder) {
				r.Set(metrics.CounterDrift, 4, metrics.Pool("a"))
				r.Set(metrics.CounterDrift, -2, metrics.Pool("a"))
				r.Set(metrics.ActiveSessions, 17, metrics.Pool("a"))
			},
			want: []want{
				{"CounterDrift", map[string]string{"Pool": "a"}, -2.0},
				{"ActiveSessions", map[string]string{"Pool": "a"}, 17.0},
			},
		},
		{
			name: "dimension values cleaned to printable ASCII",
			record: func(r *metrics.Recorder) {
				r.Add(metrics.Evictions, 1, metrics.Pool("pöol\n"), metrics.Reason("idle"))
			},
			want: []want{{"Evictions", map[string]string{"Pool": "p__ol_", "Reason": "idle"}, 1.0}},
		},
		{
			name: "records that do not match the catalog are dropped and counted",
			record: func(r *metrics.Recorder) {
				r.Add(metrics.LoginAttempts, 1, metrics.Reason("x"))                  // not a LoginAttempts dimension
				r.Add(metrics.ActiveSessions, 1, metrics.Pool("a"))                   // a gauge
				r.Set(metrics.ActiveSessions, 1)                                      // needs Pool
				r.Observe(metrics.AdmissionLatency, math.NaN())                       // not JSON
				r.Add(metrics.FunctionTimeouts, 1)                                    // a log-filter metric
				r.Add(metrics.Evictions, 1, metrics.Reason("a"), metrics.Reason("b")) // repeated dimension
			},
			want: []want{
				{"MetricsDropped", map[string]string{"Reason": metrics.DropUnknownDimension}, 2.0},
				{"MetricsDropped", map[string]string{"Reason": metrics.DropWrongKind}, 2.0},
				{"MetricsDropped", map[string]string{"Reason": metrics.DropMissingDimension}, 1.0},
				{"MetricsDropped", map[string]string{"Reason": metrics.DropBadValue}, 1.0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out metricstest.SyncBuffer
			r := newRecorder(t, &out, metrics.WithProperty("function", "authorize"))
			tt.record(r)
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
			docs := metricstest.ValidateEMF(t, out.Bytes())
			for _, w := range tt.want {
				got, ok := find(docs, w.metric, w.dims)
				if !ok {
					t.Errorf("no %s %v in\n%s", w.metric, w.dims, out.Bytes())
					continue
				}
				if fmt.Sprint(got) != fmt.Sprint(w.value) {
					t.Errorf("%s %v = %v, want %v", w.metric, w.dims, got, w.value)
				}
			}
			for _, d := range docs {
				if d["function"] != "authorize" {
					t.Errorf("document without the recorder's property: %v", d)
				}
			}
			// A second flush has nothing left to write.
			before := len(out.Bytes())
			if err := r.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(out.Bytes()) != before {
				t.Errorf("second flush wrote %q", out.Bytes()[before:])
			}
		})
	}
}

// TestGolden pins the exact bytes of a flush, so a change in the document
// layout is a reviewed change (go test -run TestGolden -update).
func TestGolden(t *testing.T) {
	var out metricstest.SyncBuffer
	r := newRecorder(t, &out, metrics.WithProperty("function", "sweep"))
	r.Set(metrics.ActiveSessions, 42, metrics.Pool("main"))
	r.Set(metrics.CounterDrift, 0, metrics.Pool("main"))
	r.Add(metrics.Evictions, 3, metrics.Pool("main"), metrics.Reason("lease_expired"))
	r.Add(metrics.FunctionErrors, 1, metrics.Function("sweep"), metrics.ErrorType("UnavailableError"))
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	metricstest.ValidateEMF(t, out.Bytes())
	// Every document carries the clock's time; the golden file, 0.
	stamp := []byte(`"Timestamp":` + strconv.FormatInt(t0.UnixMilli(), 10))
	if n := bytes.Count(out.Bytes(), stamp); n != bytes.Count(out.Bytes(), []byte(`"Timestamp":`)) || n == 0 {
		t.Fatalf("%d of the documents carry the clock's time %s:\n%s", n, stamp, out.Bytes())
	}
	got := bytes.ReplaceAll(out.Bytes(), stamp, []byte(`"Timestamp":0`))
	golden := filepath.Join("testdata", "sweep.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("flush wrote\n%s\nwant\n%s", got, want)
	}
}

func TestFullDistributionIsWrittenAtOnce(t *testing.T) {
	var out metricstest.SyncBuffer
	r := newRecorder(t, &out)
	for i := range metrics.MaxValuesPerSeries + 1 {
		r.Observe(metrics.GroupWiseLoginLatency, float64(i), metrics.Pool("main"))
	}
	docs := metricstest.ValidateEMF(t, out.Bytes())
	if len(docs) != 1 {
		t.Fatalf("%d documents before the flush, want the full series alone", len(docs))
	}
	if n := len(docs[0]["GroupWiseLoginLatency"].([]any)); n != metrics.MaxValuesPerSeries {
		t.Errorf("full series wrote %d values, want %d", n, metrics.MaxValuesPerSeries)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	docs = metricstest.ValidateEMF(t, out.Bytes())
	if v := docs[1]["GroupWiseLoginLatency"].([]any); len(v) != 1 || v[0] != float64(metrics.MaxValuesPerSeries) {
		t.Errorf("the flush wrote %v, want the one value after the full series", v)
	}
}

func TestSeriesLimit(t *testing.T) {
	var out metricstest.SyncBuffer
	r := newRecorder(t, &out, metrics.WithMaxSeries(2))
	for _, p := range []string{"a", "b", "c", "d"} {
		r.Set(metrics.ActiveSessions, 1, metrics.Pool(p))
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	docs := metricstest.ValidateEMF(t, out.Bytes())
	if got, _ := find(docs, "MetricsDropped", map[string]string{"Reason": metrics.DropSeriesLimit}); got != 2.0 {
		t.Errorf("series_limit drops = %v, want 2", got)
	}
	if _, ok := find(docs, "ActiveSessions", map[string]string{"Pool": "c"}); ok {
		t.Error("a series over the limit was written")
	}
}

// TestConcurrentRecording runs the edge's pattern (many goroutines record,
// Run flushes) under the race detector and checks nothing is lost.
func TestConcurrentRecording(t *testing.T) {
	var out metricstest.SyncBuffer
	r := newRecorder(t, &out)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, metrics.MinFlushInterval, func(r *metrics.Recorder) {
			r.Set(metrics.EdgeSessionsHeld, 5)
		})
	}()
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r.Add(metrics.EdgeLogins, 1, metrics.Outcome("ACCEPTED"))
				r.Observe(metrics.EdgeLoginLatency, float64(w*each+i))
			}
		})
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	docs := metricstest.ValidateEMF(t, out.Bytes())
	var logins, latencies float64
	held := false
	for _, d := range docs {
		if v, ok := d["EdgeLogins"].(float64); ok {
			logins += v
		}
		if v, ok := d["EdgeLoginLatency"].([]any); ok {
			latencies += float64(len(v))
		}
		if d["EdgeSessionsHeld"] == 5.0 {
			held = true
		}
	}
	if logins != workers*each || latencies != workers*each {
		t.Errorf("wrote %v logins and %v latencies, want %d each", logins, latencies, workers*each)
	}
	if !held {
		t.Error("the final flush did not run collect")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }

func TestWriteFailureIsReportedAndCounted(t *testing.T) {
	var out metricstest.SyncBuffer
	w := &switchWriter{to: failingWriter{}}
	r, err := metrics.New(w)
	if err != nil {
		t.Fatal(err)
	}
	r.Add(metrics.Releases, 1)
	if err := r.Flush(); err == nil || !strings.Contains(err.Error(), "pipe closed") {
		t.Fatalf("Flush = %v, want the write error", err)
	}
	w.set(&out)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	docs := metricstest.ValidateEMF(t, out.Bytes())
	if got, _ := find(docs, "MetricsDropped", map[string]string{"Reason": metrics.DropWriteFailed}); got != 1.0 {
		t.Errorf("write_failed = %v, want 1", got)
	}
}

type switchWriter struct {
	mu sync.Mutex // guards to
	to interface{ Write([]byte) (int, error) }
}

func (w *switchWriter) set(to interface{ Write([]byte) (int, error) }) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.to = to
}

func (w *switchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.to.Write(p)
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		out  *metricstest.SyncBuffer
		opts []metrics.Option
		want error
	}{
		{"nil writer", nil, nil, metrics.ErrNilWriter},
		{"nil clock", &metricstest.SyncBuffer{}, []metrics.Option{metrics.WithClock(nil)}, metrics.ErrBadOption},
		{"no series", &metricstest.SyncBuffer{}, []metrics.Option{metrics.WithMaxSeries(0)}, metrics.ErrBadOption},
		{"property shadows a dimension", &metricstest.SyncBuffer{}, []metrics.Option{metrics.WithProperty("Pool", "x")}, metrics.ErrReservedProperty},
		{"property shadows a metric", &metricstest.SyncBuffer{}, []metrics.Option{metrics.WithProperty("LoginAttempts", "x")}, metrics.ErrReservedProperty},
		{"property shadows _aws", &metricstest.SyncBuffer{}, []metrics.Option{metrics.WithProperty("_aws", "x")}, metrics.ErrReservedProperty},
		{"valid", &metricstest.SyncBuffer{}, []metrics.Option{metrics.WithProperty("function", "release"), metrics.WithMaxSeries(10)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.out == nil {
				_, err = metrics.New(nil, tt.opts...)
			} else {
				_, err = metrics.New(tt.out, tt.opts...)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("New = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRunRejectsAShortInterval(t *testing.T) {
	r := newRecorder(t, &metricstest.SyncBuffer{})
	if err := r.Run(context.Background(), time.Millisecond, nil); !errors.Is(err, metrics.ErrInterval) {
		t.Errorf("Run = %v, want ErrInterval", err)
	}
}
