package edgeimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Artifact is what Push and WriteLayout take: a v1.Image (one
// architecture) or a v1.ImageIndex (several).
type Artifact interface {
	Digest() (v1.Hash, error)
}

// ErrBadReference reports a push target that is not a repository.
var ErrBadReference = errors.New("edgeimage: bad repository")

// Target parses where Push sends an artifact: REPOSITORY pushes by digest
// only (the deployment names images by digest, and an immutable ECR
// repository accepts the same push twice), REPOSITORY:TAG also tags it.
func Target(repository string) (repo name.Repository, tag string, err error) {
	if _, err := name.NewDigest(repository, name.StrictValidation); err == nil {
		return repo, "", fmt.Errorf("%w: %q names a digest; give the repository, the digest comes from the build", ErrBadReference, repository)
	}
	if repo, err := name.NewRepository(repository, name.StrictValidation); err == nil {
		return repo, "", nil
	}
	t, err := name.NewTag(repository, name.StrictValidation)
	if err != nil {
		return repo, "", fmt.Errorf("%w: %q: %w", ErrBadReference, repository, err)
	}
	return t.Repository, t.TagStr(), nil
}

// Push uploads art to repository (REPOSITORY or REPOSITORY:TAG) and
// returns its reference by digest. keychain supplies credentials (see
// NewKeychain).
func Push(ctx context.Context, repository string, art Artifact, keychain authn.Keychain, opts ...remote.Option) (name.Digest, error) {
	repo, tag, err := Target(repository)
	if err != nil {
		return name.Digest{}, err
	}
	d, err := art.Digest()
	if err != nil {
		return name.Digest{}, fmt.Errorf("edgeimage: digest: %w", err)
	}
	byDigest := repo.Digest(d.String())
	target := name.Reference(byDigest)
	if tag != "" {
		target = repo.Tag(tag)
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain), remote.WithUserAgent("collabgw-image")}, opts...)
	switch a := art.(type) {
	case v1.ImageIndex:
		err = remote.WriteIndex(target, a, opts...)
	case v1.Image:
		err = remote.Write(target, a, opts...)
	default:
		return name.Digest{}, fmt.Errorf("edgeimage: cannot push a %T", art)
	}
	if err != nil {
		return name.Digest{}, fmt.Errorf("edgeimage: push %s: %w", target, err)
	}
	return byDigest, nil
}

// WriteLayout writes art as an OCI image layout in dir (what `crane`,
// `skopeo` and `docker buildx imagetools` read), replacing a layout
// already there. It refuses a dir that holds anything else.
func WriteLayout(dir string, art Artifact) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("edgeimage: %w", err)
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			return fmt.Errorf("edgeimage: %s is not empty and not an OCI layout; refusing to replace it", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("edgeimage: %w", err)
		}
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("edgeimage: layout %s: %w", dir, err)
	}
	switch a := art.(type) {
	case v1.ImageIndex:
		err = p.AppendIndex(a)
	case v1.Image:
		err = p.AppendImage(a)
	default:
		return fmt.Errorf("edgeimage: cannot write a %T", art)
	}
	if err != nil {
		return fmt.Errorf("edgeimage: layout %s: %w", dir, err)
	}
	return nil
}
