package lambdabuild

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestZipHoldsAnExecutableBootstrapAndIsReproducible(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(bin, []byte("\x7fELF not really"), 0o755); err != nil {
		t.Fatal(err)
	}
	first, second := filepath.Join(dir, "a.zip"), filepath.Join(dir, "b.zip")
	for _, z := range []string{first, second} {
		if err := Zip(bin, z); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	if !bytes.Equal(a, b) {
		t.Error("two zips of the same binary differ: Terraform would see a change every build")
	}
	r, err := zip.OpenReader(first)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.File) != 1 || r.File[0].Name != "bootstrap" || r.File[0].Mode().Perm() != 0o755 {
		t.Fatalf("zip holds %d files, first %q mode %v; want bootstrap 0755", len(r.File), r.File[0].Name, r.File[0].Mode())
	}
	if err := Zip(filepath.Join(dir, "missing"), first); err == nil {
		t.Error("zipping a missing binary succeeded")
	}
}
