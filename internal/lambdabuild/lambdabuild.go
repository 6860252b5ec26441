// Package lambdabuild builds collabgw's function binaries exactly as Lambda
// and SAM expect (static, lambda.norpc, named bootstrap), zips them for
// deployment, and builds the Lambda Runtime Interface Emulator pinned in
// go.mod for running them locally.
package lambdabuild

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/collabgw/collabgw/internal/manifest"
)

// EmulatorPackage is the emulator's command, pinned as a tool in go.mod.
const EmulatorPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// Target is an operating system and architecture to build for.
type Target struct {
	GOOS, GOARCH string
}

// Deploy is what Lambda runs (provided.al2023 on Graviton).
var Deploy = Target{GOOS: "linux", GOARCH: "arm64"}

// Binary is one built function.
type Binary struct {
	Function string
	Path     string
	Size     int64
}

// BuildFunctions builds every function of the manifest for target into
// outDir/<name>/bootstrap. moduleRoot is the folder holding go.mod.
func BuildFunctions(ctx context.Context, moduleRoot string, target Target, outDir string) ([]Binary, error) {
	var bins []Binary
	for _, fn := range manifest.Functions {
		out := filepath.Join(outDir, fn.Name, "bootstrap")
		if err := goBuild(ctx, moduleRoot, target, out, "./functions/"+fn.Name, "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"); err != nil {
			return nil, err
		}
		st, err := os.Stat(out)
		if err != nil {
			return nil, fmt.Errorf("lambdabuild: %w", err)
		}
		bins = append(bins, Binary{Function: fn.Name, Path: out, Size: st.Size()})
	}
	return bins, nil
}

// BuildEmulator builds the pinned aws-lambda-rie for this machine into out.
func BuildEmulator(ctx context.Context, moduleRoot, out string) error {
	return goBuild(ctx, moduleRoot, Target{}, out, EmulatorPackage)
}

func goBuild(ctx context.Context, moduleRoot string, target Target, out, pkg string, flags ...string) error {
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if target.GOOS != "" {
		cmd.Env = append(cmd.Env, "GOOS="+target.GOOS, "GOARCH="+target.GOARCH)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lambdabuild: go build %s: %w\n%s", pkg, err, stderr.String())
	}
	return nil
}

// Zip writes a deployment package holding bootstrap (mode 0755) at zipPath.
// The entry's time is fixed so that the same binary gives the same zip and
// Terraform sees no change.
func Zip(bootstrap, zipPath string) error {
	in, err := os.Open(bootstrap)
	if err != nil {
		return fmt.Errorf("lambdabuild: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(zipPath), 0o755); err != nil {
		return fmt.Errorf("lambdabuild: %w", err)
	}
	tmp := zipPath + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("lambdabuild: %w", err)
	}
	defer os.Remove(tmp)
	zw := zip.NewWriter(out)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err == nil {
		_, err = io.Copy(w, in)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lambdabuild: write %s: %w", zipPath, err)
	}
	if err := os.Rename(tmp, zipPath); err != nil {
		return fmt.Errorf("lambdabuild: %w", err)
	}
	return nil
}

// ModuleRoot finds the folder holding go.mod at or above dir.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("lambdabuild: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("lambdabuild: no go.mod above %s", dir)
		}
		dir = parent
	}
}
