package edgeimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/collabgw/collabgw/internal/clocktest"
)

// fakeEdge stands in for the edge binary where only the image assembly
// is under test (registry_test.go builds the real one).
var fakeEdge = []byte("\x7fELF not really an edge binary")

type tarEntry struct {
	hdr  tar.Header
	data string
}

func layerEntries(t *testing.T, img v1.Image) []tarEntry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want exactly one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []tarEntry
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{*hdr, string(b)})
	}
}

func digestOf(t *testing.T, a Artifact) v1.Hash {
	t.Helper()
	d, err := a.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestImageIsReproducible(t *testing.T) {
	created := clocktest.Now().Truncate(time.Second)
	ca := File{Path: CADir + "/corp.pem", Mode: 0o444, Data: []byte("-----BEGIN CERTIFICATE-----\n")}
	build := func(edge []byte, opts ...Option) v1.Hash {
		img, err := New("arm64", edge, append([]Option{WithVersion("v1.2.3"), WithCreated(created), WithFile(ca)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return digestOf(t, img)
	}
	first := build(fakeEdge)
	tests := []struct {
		name string
		got  v1.Hash
		same bool
	}{
		{"same input", build(fakeEdge), true},
		{"another binary", build(append([]byte("x"), fakeEdge...)), false},
		{"another version", build(fakeEdge, WithVersion("v1.2.4")), false},
		{"another time", build(fakeEdge, WithCreated(created.Add(time.Second))), false},
		{"sub-second time is dropped", build(fakeEdge, WithCreated(created.Add(300*time.Millisecond))), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.got == first) != tt.same {
				t.Errorf("digest %s vs first %s; want same = %v", tt.got, first, tt.same)
			}
		})
	}
}

func TestImageConfig(t *testing.T) {
	created := clocktest.Now().UTC().Truncate(time.Second)
	for _, arch := range Architectures {
		t.Run(arch, func(t *testing.T) {
			img, err := New(arch, fakeEdge, WithVersion("v9"), WithCreated(created))
			if err != nil {
				t.Fatal(err)
			}
			mt, err := img.MediaType()
			if err != nil || mt != types.OCIManifestSchema1 {
				t.Errorf("media type %s, %v; want OCI", mt, err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cf.Config
			if cf.OS != "linux" || cf.Architecture != arch || (arch == "arm64") != (cf.Variant == "v8") {
				t.Errorf("platform %s/%s/%s", cf.OS, cf.Architecture, cf.Variant)
			}
			if c.User != User || strings.HasPrefix(c.User, "0") || c.User == "root" {
				t.Errorf("user %q, want the non-root %s", c.User, User)
			}
			if !slices.Equal(c.Entrypoint, []string{Entrypoint}) || len(c.Cmd) != 0 {
				t.Errorf("entrypoint %v cmd %v", c.Entrypoint, c.Cmd)
			}
			var ports []string
			for p := range c.ExposedPorts {
				ports = append(ports, p)
			}
			slices.Sort(ports)
			if !slices.Equal(ports, []string{"3101/tcp", "3102/tcp", "8080/tcp"}) {
				t.Errorf("exposed ports %v", ports)
			}
			if !cf.Created.Equal(created) || len(cf.History) != 1 || !cf.History[0].Created.Equal(created) {
				t.Errorf("created %v history %+v; want %v everywhere", cf.Created, cf.History, created)
			}
			if c.Labels["org.opencontainers.image.version"] != "v9" || c.Labels["org.opencontainers.image.title"] != Title {
				t.Errorf("labels %v", c.Labels)
			}
			if len(c.Env) != 0 {
				t.Errorf("env %v: the task definition sets the environment", c.Env)
			}
		})
	}
}

func TestLayerEntriesAreSortedOwnedByRootAndDated(t *testing.T) {
	created := clocktest.Now().UTC().Truncate(time.Second)
	img, err := New("amd64", fakeEdge, WithCreated(created),
		WithFile(File{Path: CADir + "/b.pem", Mode: 0o444, Data: []byte("B")}),
		WithFile(File{Path: CADir + "/a.pem", Mode: 0o444, Data: []byte("A")}))
	if err != nil {
		t.Fatal(err)
	}
	entries := layerEntries(t, img)
	var names []string
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.Uname != "" || e.hdr.Gname != "" {
			t.Errorf("%s owned by %d:%d %q:%q, want root with no names", e.hdr.Name, e.hdr.Uid, e.hdr.Gid, e.hdr.Uname, e.hdr.Gname)
		}
		if !e.hdr.ModTime.Equal(created) {
			t.Errorf("%s dated %v, want %v", e.hdr.Name, e.hdr.ModTime, created)
		}
	}
	want := []string{"edge", "etc/", "etc/collabgw/", "etc/collabgw/groupwise-ca/", "etc/collabgw/groupwise-ca/a.pem", "etc/collabgw/groupwise-ca/b.pem"}
	if !slices.Equal(names, want) {
		t.Fatalf("entries %v, want %v", names, want)
	}
	if e := entries[0]; e.hdr.Mode != 0o555 || e.data != string(fakeEdge) || e.hdr.Typeflag != tar.TypeReg {
		t.Errorf("edge entry mode %o type %c, %d bytes", e.hdr.Mode, e.hdr.Typeflag, len(e.data))
	}
	if e := entries[4]; e.hdr.Mode != 0o444 || e.data != "A" {
		t.Errorf("CA entry mode %o data %q", e.hdr.Mode, e.data)
	}
	if e := entries[1]; e.hdr.Typeflag != tar.TypeDir || e.hdr.Mode != 0o755 {
		t.Errorf("folder entry type %c mode %o", e.hdr.Typeflag, e.hdr.Mode)
	}
}

func TestBadOptions(t *testing.T) {
	tests := []struct {
		name string
		arch string
		edge []byte
		opts []Option
	}{
		{"unknown architecture", "riscv64", fakeEdge, nil},
		{"empty binary", "arm64", nil, nil},
		{"relative file", "arm64", fakeEdge, []Option{WithFile(File{Path: "etc/x.pem", Mode: 0o444})}},
		{"unclean file path", "arm64", fakeEdge, []Option{WithFile(File{Path: "/etc/../x.pem", Mode: 0o444})}},
		{"file over the entrypoint", "arm64", fakeEdge, []Option{WithFile(File{Path: Entrypoint, Mode: 0o555})}},
		{"setuid file", "arm64", fakeEdge, []Option{WithFile(File{Path: "/x", Mode: 0o4555})}},
		{"file twice", "arm64", fakeEdge, []Option{WithFile(File{Path: "/x", Mode: 0o444}), WithFile(File{Path: "/x", Mode: 0o444})}},
		{"version with a newline", "arm64", fakeEdge, []Option{WithVersion("v1\nX-Injected: 1")}},
		{"time before 1970", "arm64", fakeEdge, []Option{WithCreated(time.Unix(-1, 0))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.arch, tt.edge, tt.opts...); !errors.Is(err, ErrBadOption) {
				t.Errorf("New = %v, want ErrBadOption", err)
			}
		})
	}
	if _, err := NewIndex(nil); !errors.Is(err, ErrBadOption) {
		t.Errorf("NewIndex(nil) = %v, want ErrBadOption", err)
	}
}

func TestIndexListsEachArchitectureInOrder(t *testing.T) {
	images := map[string]v1.Image{}
	for _, arch := range []string{"arm64", "amd64"} {
		img, err := New(arch, fakeEdge)
		if err != nil {
			t.Fatal(err)
		}
		images[arch] = img
	}
	var digests []v1.Hash
	for range 3 { // map order varies between runs; the index must not
		idx, err := NewIndex(images)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, digestOf(t, idx))
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(im.Manifests) != 2 || im.Manifests[0].Platform.Architecture != "amd64" || im.Manifests[1].Platform.Variant != "v8" || im.MediaType != types.OCIImageIndex {
			t.Fatalf("index %+v", im)
		}
		if im.Manifests[0].Digest != digestOf(t, images["amd64"]) {
			t.Errorf("amd64 entry %s, want the amd64 image", im.Manifests[0].Digest)
		}
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Errorf("index digests differ: %v", digests)
	}
}

func TestTarget(t *testing.T) {
	tests := []struct {
		in, repo, tag string
		bad           bool
	}{
		{in: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/collabgw-edge", repo: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/collabgw-edge"},
		{in: "127.0.0.1:5000/collabgw/edge:v1.2.0", repo: "127.0.0.1:5000/collabgw/edge", tag: "v1.2.0"},
		{in: "registry.example.com/edge@sha256:" + strings.Repeat("a", 64), bad: true},
		{in: "Not A Repository", bad: true},
		{in: "", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			repo, tag, err := Target(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadReference) {
					t.Errorf("Target = %v, want ErrBadReference", err)
				}
				return
			}
			if err != nil || repo.String() != tt.repo || tag != tt.tag {
				t.Errorf("Target = %s, %q, %v; want %s, %q", repo, tag, err, tt.repo, tt.tag)
			}
		})
	}
}

func TestWriteLayout(t *testing.T) {
	img, err := New("arm64", fakeEdge)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	for range 2 { // the second write replaces the first layout
		if err := WriteLayout(dir, img); err != nil {
			t.Fatal(err)
		}
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Digest != digestOf(t, img) {
		t.Fatalf("layout index %+v, %v; want the image once", im, err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayout(other, img); err == nil {
		t.Fatal("WriteLayout replaced a folder that is not an OCI layout")
	}
	if _, err := os.Stat(filepath.Join(other, "notes.txt")); err != nil {
		t.Fatalf("the folder's file is gone: %v", err)
	}
}

// TestDockerignoreKeepsSecretsOutOfTheContext guards edge/Dockerfile's
// build context: local keys, tools and build output never reach a Docker
// daemon.
func TestDockerignoreKeepsSecretsOutOfTheContext(t *testing.T) {
	b, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{".cache/", ".local/", "dist/", "**/*.tfstate", "**/*.tfvars"} {
		if !lines[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
