package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/collabgw/collabgw/internal/metrics/metricstest"
)

// TestSchemaFixtures proves the schema and the target-member checks are not
// vacuous: every valid fixture passes, every invalid one fails.
func TestSchemaFixtures(t *testing.T) {
	for _, dir := range []string{"valid", "invalid"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
		}
		for _, f := range files {
			t.Run(dir+"/"+filepath.Base(f), func(t *testing.T) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				var d metricstest.Document
				if err := json.Unmarshal(b, &d); err != nil {
					t.Fatal(err)
				}
				err = metricstest.ValidateDocument(t, d)
				if dir == "valid" && err != nil {
					t.Errorf("valid fixture rejected: %v", err)
				}
				if dir == "invalid" && err == nil {
					t.Errorf("invalid fixture accepted")
				}
			})
		}
	}
}
