// Package edgeimage builds the edge's OCI image without Docker: the static
// edge binary on an empty base (no shell, no package manager, no CA files:
// the edge carries its CA roots compiled in), run as a non-root user, with
// the edge's entrypoint and ports. The build is reproducible: the same
// binary and options give the same digest (fixed timestamps and owners,
// sorted entries, a deterministic gzip), so a digest names the source it
// came from. It also pushes images and indexes to any registry, with ECR
// credentials from the AWS SDK (ecr.go), and writes OCI layouts.
package edgeimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/collabgw/collabgw/internal/manifest"
)

// Layout of the image.
const (
	// Entrypoint is where the edge binary lives in the image.
	Entrypoint = "/edge"
	// User is the numeric user and group the edge runs as: distroless's
	// "nonroot", so files and volumes behave as with the Dockerfile's image.
	User = "65532:65532"
	// CADir is where GroupWise CA bundles added with WithFile usually go
	// (the edge's default COLLABGW_GROUPWISE_CA_DIR).
	CADir = "/etc/collabgw/groupwise-ca"
	// Title is the image's org.opencontainers.image.title label.
	Title = "collabgw-edge"
)

// Architectures the edge image is built for (Fargate runs both).
var Architectures = []string{"amd64", "arm64"}

// ErrBadOption reports an option the image cannot be built with.
var ErrBadOption = errors.New("edgeimage: bad option")

// ExposedPorts are the edge's listening ports: devices, health checks and
// the task-to-task link.
func ExposedPorts() []string {
	return []string{
		strconv.Itoa(manifest.DevicePort) + "/tcp",
		strconv.Itoa(manifest.HealthPort) + "/tcp",
		strconv.Itoa(manifest.PeerPort) + "/tcp",
	}
}

// File is a regular file added to the image.
type File struct {
	// Path is absolute, in the image.
	Path string
	// Mode holds the permission bits.
	Mode int64
	Data []byte
}

type options struct {
	version string
	created time.Time
	files   []File
}

// Option changes how an image is built.
type Option func(*options) error

// WithVersion sets the org.opencontainers.image.version label (the edge's
// own --version is set when it is compiled, see Build).
func WithVersion(v string) Option {
	return func(o *options) error {
		if strings.ContainsAny(v, "\x00\n") || len(v) > 128 {
			return fmt.Errorf("%w: version %q", ErrBadOption, v)
		}
		o.version = v
		return nil
	}
}

// WithCreated sets the creation time recorded in the image and on its
// files (default: the Unix epoch). Use the source's own time, such as
// its commit time, never the build's, or the digest changes every build.
func WithCreated(t time.Time) Option {
	return func(o *options) error {
		if t.Before(time.Unix(0, 0)) {
			return fmt.Errorf("%w: created before 1970", ErrBadOption)
		}
		o.created = t.UTC().Truncate(time.Second)
		return nil
	}
}

// WithFile adds a read-only file, such as a GroupWise CA bundle under
// CADir. Its folders are created as needed.
func WithFile(f File) Option {
	return func(o *options) error {
		clean := path.Clean(f.Path)
		if !path.IsAbs(f.Path) || clean != f.Path || clean == "/" || clean == Entrypoint {
			return fmt.Errorf("%w: file path %q must be absolute, clean and not the entrypoint", ErrBadOption, f.Path)
		}
		if f.Mode&^0o777 != 0 {
			return fmt.Errorf("%w: file %s mode %o", ErrBadOption, f.Path, f.Mode)
		}
		for _, g := range o.files {
			if g.Path == f.Path {
				return fmt.Errorf("%w: file %s added twice", ErrBadOption, f.Path)
			}
		}
		o.files = append(o.files, f)
		return nil
	}
}

// Platform returns the OCI platform of an architecture.
func Platform(arch string) (v1.Platform, error) {
	switch arch {
	case "amd64":
		return v1.Platform{OS: "linux", Architecture: "amd64"}, nil
	case "arm64":
		return v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, nil
	}
	return v1.Platform{}, fmt.Errorf("%w: architecture %q (want %s)", ErrBadOption, arch, strings.Join(Architectures, " or "))
}

// New builds the image for arch around edge, the static edge binary built
// for that architecture (Build).
func New(arch string, edge []byte, opts ...Option) (v1.Image, error) {
	o := options{created: time.Unix(0, 0).UTC()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	platform, err := Platform(arch)
	if err != nil {
		return nil, err
	}
	if len(edge) == 0 {
		return nil, fmt.Errorf("%w: empty edge binary", ErrBadOption)
	}
	layer, err := newLayer(edge, o)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: o.created}
	ports := map[string]struct{}{}
	for _, p := range ExposedPorts() {
		ports[p] = struct{}{}
	}
	labels := map[string]string{"org.opencontainers.image.title": Title}
	if o.version != "" {
		labels["org.opencontainers.image.version"] = o.version
	}
	cfg := &v1.ConfigFile{
		Architecture: platform.Architecture,
		Variant:      platform.Variant,
		OS:           platform.OS,
		Created:      created,
		Config: v1.Config{
			User:         User,
			Entrypoint:   []string{Entrypoint},
			ExposedPorts: ports,
			WorkingDir:   "/",
			Labels:       labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, fmt.Errorf("edgeimage: config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "collabgw image", Comment: "the static edge binary"},
	})
	if err != nil {
		return nil, fmt.Errorf("edgeimage: layer: %w", err)
	}
	return img, nil
}

// NewIndex puts one image per architecture in an OCI image index, in a
// fixed order, so that the same images give the same index digest.
func NewIndex(images map[string]v1.Image) (v1.ImageIndex, error) {
	if len(images) == 0 {
		return nil, fmt.Errorf("%w: an index needs at least one image", ErrBadOption)
	}
	archs := make([]string, 0, len(images))
	for arch := range images {
		archs = append(archs, arch)
	}
	slices.Sort(archs)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range archs {
		platform, err := Platform(arch)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        images[arch],
			Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &platform},
		})
	}
	return idx, nil
}

// newLayer writes the image's one layer: the entrypoint, the added files
// and their folders, sorted, owned by root, with the creation time, then
// gzips it with no name or time in the gzip header.
func newLayer(edge []byte, o options) (v1.Layer, error) {
	type entry struct {
		hdr  tar.Header
		data []byte
	}
	entries := map[string]entry{
		strings.TrimPrefix(Entrypoint, "/"): {hdr: tar.Header{Typeflag: tar.TypeReg, Mode: 0o555}, data: edge},
	}
	for _, f := range o.files {
		name := strings.TrimPrefix(f.Path, "/")
		entries[name] = entry{hdr: tar.Header{Typeflag: tar.TypeReg, Mode: f.Mode}, data: f.Data}
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			entries[dir+"/"] = entry{hdr: tar.Header{Typeflag: tar.TypeDir, Mode: 0o755}}
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)

	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	for _, name := range names {
		e := entries[name]
		hdr := e.hdr
		hdr.Name, hdr.Size, hdr.ModTime, hdr.Format = name, int64(len(e.data)), o.created, tar.FormatPAX
		if err := tw.WriteHeader(&hdr); err != nil {
			return nil, fmt.Errorf("edgeimage: tar %s: %w", name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("edgeimage: tar %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("edgeimage: tar: %w", err)
	}

	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("edgeimage: gzip: %w", err)
	}
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return nil, fmt.Errorf("edgeimage: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("edgeimage: gzip: %w", err)
	}
	compressed := gz.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("edgeimage: layer: %w", err)
	}
	return layer, nil
}
