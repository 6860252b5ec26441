package bench

import (
	"math"
	"slices"
	"time"
)

// Latency summarises one phase's latencies, in milliseconds.
type Latency struct {
	N     int     `json:"n"`
	P50ms float64 `json:"p50Ms"`
	P90ms float64 `json:"p90Ms"`
	P99ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
}

// summarize sorts lat in place and returns its nearest-rank percentiles:
// the smallest value with at least p of them at or below it, as the load
// generator reports them.
func summarize(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		rank := int(math.Ceil(p * float64(len(lat))))
		return ms(lat[min(max(rank, 1), len(lat))-1])
	}
	return Latency{N: len(lat), P50ms: at(0.50), P90ms: at(0.90), P99ms: at(0.99), MaxMs: ms(lat[len(lat)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// round keeps figures readable in JSON: 3 significant decimals are more
// than any of these measurements resolve.
func round(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}
