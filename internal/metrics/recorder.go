package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Limits and defaults.
const (
	// DefaultMaxSeries bounds the distinct series held between two flushes.
	DefaultMaxSeries = 1000
	// MaxValuesPerSeries is the EMF limit of values in one metric array; a
	// distribution series that reaches it is written out at once.
	MaxValuesPerSeries = 100
	// MaxMetricsPerDirective is the EMF limit of metrics in one directive.
	MaxMetricsPerDirective = 100
	// MaxDimensionValueLen is the EMF limit of a dimension value.
	MaxDimensionValueLen = 1024
	// MaxDocumentBytes keeps each line under CloudWatch Logs' event size.
	MaxDocumentBytes = 256 << 10
	// MinFlushInterval is the shortest interval Run accepts.
	MinFlushInterval = time.Second
)

// Errors.
var (
	ErrNilWriter        = errors.New("metrics: nil writer")
	ErrBadOption        = errors.New("metrics: invalid option")
	ErrReservedProperty = errors.New("metrics: property name is a metric or dimension name")
	ErrInterval         = errors.New("metrics: flush interval too short")
)

// Drop reasons (the Reason of MetricsDropped).
const (
	DropSeriesLimit      = "series_limit"
	DropUnknownDimension = "unknown_dimension"
	DropMissingDimension = "missing_dimension"
	DropWrongKind        = "wrong_kind"
	DropBadValue         = "bad_value"
	DropWriteFailed      = "write_failed"
)

// Dim is one dimension value of a record.
type Dim struct{ Name, Value string }

// Pool is the Pool dimension.
func Pool(v string) Dim { return Dim{DimPool, v} }

// Outcome is the Outcome dimension: a status name such as SERVER_BUSY.
func Outcome(v string) Dim { return Dim{DimOutcome, v} }

// Reason is the Reason dimension.
func Reason(v string) Dim { return Dim{DimReason, v} }

// Function is the Function dimension.
func Function(v string) Dim { return Dim{DimFunction, v} }

// ErrorType is the ErrorType dimension.
func ErrorType(v string) Dim { return Dim{DimErrorType, v} }

// ResultCode is the ResultCode dimension: a GroupWise result code or a
// failure class (connect, tls, timeout, protocol).
func ResultCode(v string) Dim { return Dim{DimResultCode, v} }

// Recorder aggregates metric records and writes them as EMF documents.
type Recorder struct {
	out       io.Writer
	now       func() time.Time
	maxSeries int
	props     map[string]string

	mu     sync.Mutex // guards series and drops
	series map[string]*series
	drops  map[string]float64

	writeMu sync.Mutex // serialises writes to out, so documents never interleave
}

type series struct {
	metric *Metric
	dims   []Dim // sorted by name; empty values left out
	sum    float64
	values []float64
}

// Option configures a Recorder.
type Option func(*Recorder) error

// WithClock sets the clock that stamps documents (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(r *Recorder) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		r.now = now
		return nil
	}
}

// WithMaxSeries bounds the distinct series held between two flushes
// (default DefaultMaxSeries).
func WithMaxSeries(n int) Option {
	return func(r *Recorder) error {
		if n < 1 {
			return fmt.Errorf("%w: max series %d", ErrBadOption, n)
		}
		r.maxSeries = n
		return nil
	}
}

// WithProperty adds a member to every document: searchable in CloudWatch
// Logs Insights, not a dimension (e.g. the function or edge task name).
func WithProperty(name, value string) Option {
	return func(r *Recorder) error {
		if name == "" || name == "_aws" || isReserved(name) {
			return fmt.Errorf("%w: %q", ErrReservedProperty, name)
		}
		r.props[name] = value
		return nil
	}
}

func isReserved(name string) bool {
	for _, m := range catalog {
		if m.Name == name || slices.Contains(m.dimensions(), name) {
			return true
		}
	}
	return false
}

// New returns a Recorder writing EMF documents, one per line, to out.
func New(out io.Writer, opts ...Option) (*Recorder, error) {
	if out == nil {
		return nil, ErrNilWriter
	}
	r := &Recorder{
		out: out, now: time.Now, maxSeries: DefaultMaxSeries, props: map[string]string{},
		series: map[string]*series{}, drops: map[string]float64{},
	}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add adds n to a Counter.
func (r *Recorder) Add(m Metric, n float64, dims ...Dim) { r.record(&m, Counter, n, dims) }

// Observe records one value of a Distribution (a latency in milliseconds).
func (r *Recorder) Observe(m Metric, v float64, dims ...Dim) {
	if full := r.record(&m, Distribution, v, dims); full != nil {
		// The series was taken out of the map: write it now rather than
		// hold more than MaxValuesPerSeries values. A failed write is
		// counted (write_failed) and reported by the next flush.
		_ = r.write([]*series{full}, nil)
	}
}

// ObserveDuration records d in milliseconds.
func (r *Recorder) ObserveDuration(m Metric, d time.Duration, dims ...Dim) {
	r.Observe(m, float64(d.Microseconds())/1000, dims...)
}

// Set sets a Gauge.
func (r *Recorder) Set(m Metric, v float64, dims ...Dim) { r.record(&m, Gauge, v, dims) }

// record aggregates one value; it returns a distribution series that just
// became full and was removed from the map.
func (r *Recorder) record(m *Metric, kind Kind, v float64, dims []Dim) *series {
	reason := ""
	sorted, key := []Dim(nil), ""
	switch {
	case m.Kind != kind || m.Source != SourceEMF:
		reason = DropWrongKind
	case math.IsNaN(v) || math.IsInf(v, 0):
		reason = DropBadValue
	default:
		sorted, key, reason = seriesKey(m, dims)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason != "" {
		r.drops[reason]++
		return nil
	}
	s := r.series[key]
	if s == nil {
		if len(r.series) >= r.maxSeries {
			r.drops[DropSeriesLimit]++
			return nil
		}
		s = &series{metric: m, dims: sorted}
		r.series[key] = s
	}
	switch kind {
	case Counter:
		s.sum += v
	case Gauge:
		s.sum = v
	case Distribution:
		s.values = append(s.values, v)
		if len(s.values) >= MaxValuesPerSeries {
			delete(r.series, key)
			return s
		}
	}
	return nil
}

// seriesKey validates dims against the metric and returns them sorted,
// with the series key, or a drop reason.
func seriesKey(m *Metric, dims []Dim) ([]Dim, string, string) {
	allowed := m.dimensions()
	sorted := make([]Dim, 0, len(dims))
	for _, d := range dims {
		if !slices.Contains(allowed, d.Name) || slices.ContainsFunc(sorted, func(o Dim) bool { return o.Name == d.Name }) {
			return nil, "", DropUnknownDimension
		}
		if v := cleanValue(d.Value); v != "" {
			sorted = append(sorted, Dim{d.Name, v})
		}
	}
	slices.SortFunc(sorted, func(a, b Dim) int { return strings.Compare(a.Name, b.Name) })
	if len(m.setsFor(sorted)) == 0 {
		return nil, "", DropMissingDimension
	}
	var b strings.Builder
	b.WriteString(m.Name)
	for _, d := range sorted {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte(0)
		b.WriteString(d.Value)
	}
	return sorted, b.String(), ""
}

// setsFor returns the metric's dimension sets whose every dimension has a
// value in dims.
func (m *Metric) setsFor(dims []Dim) [][]string {
	var out [][]string
	for _, set := range m.Sets {
		if !slices.ContainsFunc(set, func(name string) bool {
			return !slices.ContainsFunc(dims, func(d Dim) bool { return d.Name == name })
		}) {
			out = append(out, set)
		}
	}
	return out
}

// cleanValue makes v a valid dimension value: printable ASCII only, at
// most MaxDimensionValueLen bytes, and empty when it holds no
// non-whitespace character (an empty value leaves the dimension out).
func cleanValue(v string) string {
	if strings.TrimSpace(v) == "" {
		return ""
	}
	b := []byte(v)
	if len(b) > MaxDimensionValueLen {
		b = b[:MaxDimensionValueLen]
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '_'
		}
	}
	return string(b)
}

// Flush writes everything recorded since the previous flush, and the drop
// counts, then starts afresh. Lambda handlers call it before returning.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	all := make([]*series, 0, len(r.series))
	for _, s := range r.series {
		all = append(all, s)
	}
	drops := r.drops
	r.series, r.drops = make(map[string]*series, len(all)), map[string]float64{}
	r.mu.Unlock()
	return r.write(all, drops)
}

// Run flushes every interval until ctx ends, then once more, for a
// long-lived process. collect, when not nil, runs before each flush to set
// the gauges.
func (r *Recorder) Run(ctx context.Context, interval time.Duration, collect func(*Recorder)) error {
	if interval < MinFlushInterval {
		return fmt.Errorf("%w: %s is under %s", ErrInterval, interval, MinFlushInterval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	flush := func() error {
		if collect != nil {
			collect(r)
		}
		return r.Flush()
	}
	for {
		select {
		case <-ctx.Done():
			return flush()
		case <-t.C:
			// A failed write is counted (write_failed) and reported by the
			// next flush; the ticker goes on.
			_ = flush()
		}
	}
}

// write encodes series and drop counts into documents and writes them.
func (r *Recorder) write(all []*series, drops map[string]float64) error {
	for reason, n := range drops {
		m := &MetricsDropped
		all = append(all, &series{metric: m, dims: []Dim{{DimReason, reason}}, sum: n})
	}
	if len(all) == 0 {
		return nil
	}
	docs, err := encode(all, r.props, r.now())
	if err != nil {
		r.countWriteFailure()
		return err
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	for _, d := range docs {
		if _, err := r.out.Write(d); err != nil {
			r.countWriteFailure()
			return fmt.Errorf("metrics: write: %w", err)
		}
	}
	return nil
}

func (r *Recorder) countWriteFailure() {
	r.mu.Lock()
	r.drops[DropWriteFailed]++
	r.mu.Unlock()
}
