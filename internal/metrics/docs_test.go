package metrics_test

import (
	"os"
	"strings"
	"testing"

	"github.com/collabgw/collabgw/internal/metrics"
)

// TestOperationsDocExplainsEveryMetric keeps docs/operations.md in step
// with the catalog: an operator looking up a metric finds it.
func TestOperationsDocExplainsEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, m := range metrics.Catalog() {
		if !strings.Contains(doc, "| `"+m.Name+"` |") {
			t.Errorf("docs/operations.md has no table row for %s", m.Name)
		}
		if m.FilterPattern != "" && !strings.Contains(doc, "`"+m.FilterPattern+"`") {
			t.Errorf("docs/operations.md does not give %s's pattern %s", m.Name, m.FilterPattern)
		}
	}
}
