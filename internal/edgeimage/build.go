package edgeimage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// EdgePackage is the edge's main package, relative to the module root.
const EdgePackage = "./edge"

// buildEnv are the variables that change what `go build` writes, set
// explicitly so the caller's environment cannot change the binary (and
// with it the digest): a static binary for the baseline of each
// architecture, no VCS stamp (its "modified" flag follows untracked
// files), no extra flags from GOFLAGS.
func buildEnv(arch string) []string {
	env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch, "GOFLAGS=", "GOAMD64=v1", "GOARM64=v8.0", "GOEXPERIMENT="}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "CGO_ENABLED", "GOOS", "GOARCH", "GOFLAGS", "GOAMD64", "GOARM64", "GOEXPERIMENT":
		default:
			env = append(env, kv)
		}
	}
	return env
}

// Build compiles the edge for linux/arch into out: static, no paths or
// build ids that vary from one machine or build to the next, version
// stamped into the binary's --version. moduleRoot holds go.mod.
func Build(ctx context.Context, moduleRoot, arch, version, out string) error {
	if _, err := Platform(arch); err != nil {
		return err
	}
	if strings.ContainsAny(version, " '\"\n") {
		return fmt.Errorf("%w: version %q has spaces or quotes", ErrBadOption, version)
	}
	ldflags := "-s -w -buildid="
	if version != "" {
		ldflags += " -X main.version=" + version
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, EdgePackage)
	cmd.Dir = moduleRoot
	cmd.Env = buildEnv(arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("edgeimage: go build %s for %s: %w\n%s", EdgePackage, arch, err, stderr.String())
	}
	return nil
}

// Source describes the source an image is built from.
type Source struct {
	// Version is `git describe --tags --always --dirty` ("dev" outside a
	// git checkout).
	Version string
	// Created is SOURCE_DATE_EPOCH when set, else the commit time of HEAD,
	// else the Unix epoch: a time that belongs to the source, never to
	// the build.
	Created time.Time
}

// SourceOf reads the version and time of the source in moduleRoot.
func SourceOf(ctx context.Context, moduleRoot string) (Source, error) {
	src := Source{Version: "dev", Created: time.Unix(0, 0).UTC()}
	if v, err := git(ctx, moduleRoot, "describe", "--tags", "--always", "--dirty"); err == nil && v != "" {
		src.Version = v
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		n, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil || n < 0 {
			return src, fmt.Errorf("%w: SOURCE_DATE_EPOCH=%q is not a Unix time", ErrBadOption, epoch)
		}
		src.Created = time.Unix(n, 0).UTC()
		return src, nil
	}
	if ct, err := git(ctx, moduleRoot, "log", "-1", "--format=%ct"); err == nil {
		if n, err := strconv.ParseInt(ct, 10, 64); err == nil && n >= 0 {
			src.Created = time.Unix(n, 0).UTC()
		}
	}
	return src, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("edgeimage: git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// BuildBinaries compiles the edge for each architecture into workDir and
// returns the binaries by architecture.
func BuildBinaries(ctx context.Context, moduleRoot, workDir string, archs []string, version string) (map[string][]byte, error) {
	bins := map[string][]byte{}
	for _, arch := range archs {
		if _, ok := bins[arch]; ok {
			return nil, fmt.Errorf("%w: architecture %s named twice", ErrBadOption, arch)
		}
		out := filepath.Join(workDir, "edge-"+arch)
		if err := Build(ctx, moduleRoot, arch, version, out); err != nil {
			return nil, err
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return nil, fmt.Errorf("edgeimage: %w", err)
		}
		bins[arch] = b
	}
	return bins, nil
}
