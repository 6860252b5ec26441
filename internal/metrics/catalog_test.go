package metrics_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/collabgw/collabgw/internal/metrics"
)

var validName = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{2,62}$`)

// TestCatalog checks the catalog's own rules: unique CloudWatch-safe names,
// units the EMF schema accepts, known dimensions, a filter pattern exactly
// for the log-filter metrics, known emitters.
func TestCatalog(t *testing.T) {
	dims := []string{metrics.DimPool, metrics.DimOutcome, metrics.DimReason, metrics.DimFunction, metrics.DimErrorType, metrics.DimResultCode}
	emitters := []string{metrics.EmitterAuthorize, metrics.EmitterRelease, metrics.EmitterSweep, metrics.EmitterEdge, metrics.EmitterLogs}
	seen := map[string]bool{}
	for _, m := range metrics.Catalog() {
		t.Run(m.Name, func(t *testing.T) {
			if !validName.MatchString(m.Name) || seen[m.Name] || slices.Contains(dims, m.Name) {
				t.Errorf("name %q is invalid, repeated or a dimension name", m.Name)
			}
			seen[m.Name] = true
			if !slices.Contains([]metrics.Unit{metrics.UnitCount, metrics.UnitMilliseconds, metrics.UnitBytes}, m.Unit) {
				t.Errorf("unit %q", m.Unit)
			}
			if m.Kind < metrics.Counter || m.Kind > metrics.Gauge {
				t.Errorf("kind %d", m.Kind)
			}
			if len(m.Sets) == 0 || m.Help == "" || len(m.Emitters) == 0 {
				t.Error("needs dimension sets, help and emitters")
			}
			for _, set := range m.Sets {
				if set == nil {
					t.Error("a nil dimension set encodes as null; write {}")
				}
				for _, d := range set {
					if !slices.Contains(dims, d) {
						t.Errorf("unknown dimension %q", d)
					}
				}
			}
			for _, e := range m.Emitters {
				if !slices.Contains(emitters, e) {
					t.Errorf("unknown emitter %q", e)
				}
			}
			switch m.Source {
			case metrics.SourceEMF:
				if m.FilterPattern != "" || slices.Contains(m.Emitters, metrics.EmitterLogs) {
					t.Error("an EMF metric has no filter pattern and is not emitted by logs")
				}
			case metrics.SourceLogFilter:
				if m.FilterPattern == "" || !slices.Equal(m.Emitters, []string{metrics.EmitterLogs}) || m.Kind != metrics.Counter {
					t.Error("a log-filter metric is a counter with a pattern, emitted by logs")
				}
			default:
				t.Errorf("source %q", m.Source)
			}
			if got, ok := metrics.Lookup(m.Name); !ok || got.Name != m.Name {
				t.Error("Lookup does not find it")
			}
		})
	}
}
