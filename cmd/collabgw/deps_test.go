package main

import (
	"os/exec"
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
