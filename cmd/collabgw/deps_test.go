package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinariesLinkNoTestCode keeps test helpers out of what ships: the CLI,
// the edge and the functions link neither the testing package nor any
// package named *test (depguard checks imports file by file; this checks
// what the linker really gets, whatever the path).
func TestBinariesLinkNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/collabgw/collabgw/cmd/collabgw",
		"github.com/collabgw/collabgw/edge", "github.com/collabgw/collabgw/functions/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || (strings.HasPrefix(pkg, "github.com/collabgw/") && strings.HasSuffix(pkg, "test")) {
			t.Errorf("a shipped binary links %s", pkg)
		}
	}
}

// TestDepguardDeniesEveryTestHelper: the lint's depguard rule names the
// test helper packages one by one (it matches import paths, not package
// names), so a new *test package must be added to it; this finds one that
// was not.
func TestDepguardDeniesEveryTestHelper(t *testing.T) {
	// Packages with code others could import (GoFiles); the suites under
	// test/ have only _test.go files.
	out, err := exec.Command("go", "list", "-f", "{{if .GoFiles}}{{.ImportPath}}{{end}}", "github.com/collabgw/collabgw/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	cfg, err := os.ReadFile(filepath.Join("..", "..", ".golangci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	helpers := 0
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasSuffix(pkg, "test") {
			continue
		}
		helpers++
		if !strings.Contains(string(cfg), "- pkg: "+pkg+"\n") {
			t.Errorf("%s is a test helper that .golangci.yml's depguard rule does not deny", pkg)
		}
	}
	if helpers == 0 {
		t.Fatal("no test helper packages found: the listing is wrong")
	}
}
