package infratest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// roots are the configurations validated one by one: every module and
// every example.
var roots = []string{
	"modules/data",
	"modules/functions",
	"modules/edge",
	"modules/pool",
	"modules/monitoring",
	"examples/complete",
}

// TestTerraformValidates runs every check the Terraform can get without AWS:
// formatting, init against the stand-in provider, validate (arguments,
// types, nesting and required/optional flags against the real AWS schema),
// tflint's terraform ruleset, and `tofu test` with mock_provider (the
// committed tests plus the generated manifest tests).
func TestTerraformValidates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds OpenTofu on the first run; skipped with -short")
	}
	root := repoRoot(t)
	infra := filepath.Join(root, "infra")
	tl := installTools(t, root)
	cliConfig := installStandin(t, tl, infra)
	env := []string{
		"TF_CLI_CONFIG_FILE=" + cliConfig,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1",
		"NO_COLOR=1",
	}

	t.Run("fmt", func(t *testing.T) {
		run(t, infra, env, tl.tofu, "fmt", "-check", "-recursive", "-diff", "-no-color")
	})

	work := t.TempDir()
	copyTree(t, infra, work)
	writeManifestTests(t, work)

	for _, rel := range roots {
		dir := filepath.Join(work, rel)
		t.Run(rel, func(t *testing.T) {
			start := time.Now()
			run(t, dir, env, tl.tofu, "init", "-backend=false", "-no-color")
			run(t, dir, env, tl.tofu, "validate", "-no-color")
			if deps := dependsOn[rel]; len(deps) > 0 {
				checkDependencies(t, run(t, dir, env, tl.tofu, "graph", "-no-color"), deps)
			}
			run(t, dir, env, tl.tflint, "--config="+filepath.Join(work, ".tflint.hcl"), "--no-color", "--format=compact")
			if _, err := os.Stat(filepath.Join(dir, "tests")); err == nil {
				out := run(t, dir, env, tl.tofu, "test", "-no-color")
				if !strings.Contains(out, " 0 failed") || strings.Contains(out, " 0 passed") {
					t.Fatalf("tofu test reported failures:\n%s", out)
				}
				t.Logf("%s", lastLine(out))
			}
			t.Logf("%s checked in %s", rel, time.Since(start).Round(time.Millisecond))
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
