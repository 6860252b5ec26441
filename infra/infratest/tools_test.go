package infratest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// toolsTimeout bounds the first run, which builds OpenTofu from source
// (about 4 minutes, tflint about 3, more on a busy machine); it stays under
// the 30-minute go test timeout of `make test`.
const toolsTimeout = 25 * time.Minute

// stepTimeout bounds one tofu or tflint command.
const stepTimeout = 10 * time.Minute

type tools struct {
	tofu, tflint, awsPackage, standinDir string
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("repo root: %v", err)
	}
	return dir
}

// installTools runs scripts/infra-tools.sh, which builds what is missing
// from the cache and prints where everything is.
func installTools(t *testing.T, root string) tools {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "infra-tools.sh"))
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/infra-tools.sh failed after %s: %v\n%s", time.Since(start).Round(time.Second), err, stderr.String())
	}
	t.Logf("infra tools ready in %s", time.Since(start).Round(time.Second))
	paths := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			paths[k] = v
		}
	}
	tl := tools{tofu: paths["TOFU"], tflint: paths["TFLINT"], awsPackage: paths["AWS_PACKAGE"], standinDir: paths["STANDIN_DIR"]}
	if tl.tofu == "" || tl.tflint == "" || tl.awsPackage == "" || tl.standinDir == "" {
		t.Fatalf("scripts/infra-tools.sh printed an incomplete tool list:\n%s", out)
	}
	return tl
}

var reAWSType = regexp.MustCompile(`(?m)^\s*(resource|data)\s+"(aws_\w+)"`)

// awsTypes lists the AWS resource and data source types the .tf files
// under dir use, so the stand-in serves exactly those (a new type is picked
// up with no change here).
func awsTypes(t *testing.T, dir string) (resources, dataSources []string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".tf") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		for _, m := range reAWSType.FindAllStringSubmatch(string(b), -1) {
			key := m[1] + " " + m[2]
			if seen[key] {
				continue
			}
			seen[key] = true
			if m[1] == "resource" {
				resources = append(resources, m[2])
			} else {
				dataSources = append(dataSources, m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	sort.Strings(resources)
	sort.Strings(dataSources)
	return resources, dataSources
}

// installStandin extracts the schema of the used types, lays the stand-in
// out as a filesystem mirror and returns a CLI config that installs
// hashicorp/aws from it (and from nowhere else).
func installStandin(t *testing.T, tl tools, infraDir string) (cliConfig string) {
	t.Helper()
	resources, dataSources := awsTypes(t, infraDir)
	base := t.TempDir()
	mirror := filepath.Join(base, "mirror")
	version := "6.25.0"
	pluginDir := filepath.Join(mirror, "registry.opentofu.org", "hashicorp", "aws", version, runtime.GOOS+"_"+runtime.GOARCH)
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, base, nil, filepath.Join(tl.standinDir, "aws-schema-extract"),
		"-package", tl.awsPackage,
		"-resources", strings.Join(resources, ","),
		"-data-sources", strings.Join(dataSources, ","),
		"-o", filepath.Join(pluginDir, "schema.json"))
	bin, err := os.ReadFile(filepath.Join(tl.standinDir, "terraform-provider-aws"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pluginDir, "terraform-provider-aws_v"+version), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cliConfig = filepath.Join(base, "tofu.rc")
	conf := fmt.Sprintf("provider_installation {\n  filesystem_mirror {\n    path    = %q\n    include = [\"registry.opentofu.org/hashicorp/aws\"]\n  }\n}\n", mirror)
	if err := os.WriteFile(cliConfig, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("stand-in provider serves %d resource and %d data source types: %s; data %s",
		len(resources), len(dataSources), strings.Join(resources, " "), strings.Join(dataSources, " "))
	return cliConfig
}

// run executes a command and fails the test with its whole output when it
// fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s (in %s) failed after %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, time.Since(start).Round(time.Millisecond), err, out)
	}
	return string(out)
}

// copyTree copies src into dst, leaving out OpenTofu working files.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return fmt.Errorf("copy %s: %w", path, err)
		}
		if d.IsDir() && (d.Name() == ".terraform" || d.Name() == "providers" || d.Name() == "infratest") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasSuffix(d.Name(), ".tfstate") || d.Name() == ".terraform.lock.hcl" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("copy %s: %w", path, err)
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}
