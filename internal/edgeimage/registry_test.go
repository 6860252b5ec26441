package edgeimage

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/collabgw/collabgw/internal/clocktest"
	"github.com/collabgw/collabgw/internal/lambdabuild"
	"github.com/collabgw/collabgw/internal/registrytest"
)

// registryUser is the user ECR tokens carry; the test registry accepts
// it with the password the stand-in ECR endpoint hands out.
const registryUser = "AWS"

// fakeECREndpoint answers GetAuthorizationToken the way ECR does, with a
// token for the test registry's password.
func fakeECREndpoint(t *testing.T, password string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken" {
			http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"authorizationData": []map[string]any{{
			"authorizationToken": base64.StdEncoding.EncodeToString([]byte(registryUser + ":" + password)),
			"expiresAt":          float64(time.Now().Add(12 * time.Hour).Unix()),
		}}})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPushPullRunAgainstARealRegistry builds the real edge for both
// architectures, pushes the index to a real registry with credentials
// from (a stand-in of) ECR through the AWS SDK, pulls it back, checks the
// digests and the configuration, runs the amd64 binary taken from the
// layer, and checks that a second build gives the same digest.
func TestPushPullRunAgainstARealRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the edge twice for two architectures; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		t.Fatal(err)
	}
	password := hex.EncodeToString(pw[:])
	host := registrytest.Start(t, registryUser, password)
	ecrSrv := fakeECREndpoint(t, password)

	keychain, err := NewECRKeychain(func(_ context.Context, region string) (ECRTokenAPI, error) {
		return ecr.New(ecr.Options{Region: region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), BaseEndpoint: aws.String(ecrSrv.URL)}), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The registry runs on loopback, not on an ECR host name: let the
	// keychain treat it as ECR in eu-west-1.
	keychain.match = func(h string) (string, string, bool) { return "123456789012", "eu-west-1", h == host }

	root, err := lambdabuild.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	version := "test-" + hex.EncodeToString(pw[:4])
	created := clocktest.Now().Truncate(time.Second)
	build := func() (v1.ImageIndex, map[string]v1.Image) {
		t.Helper()
		bins, err := BuildBinaries(ctx, root, t.TempDir(), Architectures, version)
		if err != nil {
			t.Fatal(err)
		}
		images := map[string]v1.Image{}
		for arch, bin := range bins {
			if images[arch], err = New(arch, bin, WithVersion(version), WithCreated(created)); err != nil {
				t.Fatal(err)
			}
		}
		idx, err := NewIndex(images)
		if err != nil {
			t.Fatal(err)
		}
		return idx, images
	}
	start := time.Now()
	idx, images := build()
	t.Logf("first build (both architectures) in %s", time.Since(start).Round(time.Millisecond))
	want := digestOf(t, idx)

	repo := host + "/collabgw-edge"
	ref, err := Push(ctx, repo, idx, keychain)
	if err != nil {
		t.Fatal(err)
	}
	if ref.DigestStr() != want.String() || ref.Context().String() != repo {
		t.Fatalf("pushed %s, want %s@%s", ref, repo, want)
	}

	t.Run("anonymous pull is refused", func(t *testing.T) {
		_, err := remote.Head(ref, remote.WithContext(ctx))
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous HEAD = %v, want 401: without it the push proves nothing about the credentials", err)
		}
	})

	pullOpts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain)}
	pulled, err := remote.Index(ref, pullOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if got := digestOf(t, pulled); got != want {
		t.Fatalf("pulled index %s, pushed %s", got, want)
	}
	im, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		arch := m.Platform.Architecture
		t.Run("config "+arch, func(t *testing.T) {
			if m.Digest != digestOf(t, images[arch]) {
				t.Fatalf("index entry %s = %s, built %s", arch, m.Digest, digestOf(t, images[arch]))
			}
			img, err := remote.Image(ref.Context().Digest(m.Digest.String()), pullOpts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := digestOf(t, img); got != m.Digest {
				t.Fatalf("pulled %s, want %s", got, m.Digest)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			c := cf.Config
			if cf.OS != "linux" || cf.Architecture != arch || c.User != User || strings.Join(c.Entrypoint, " ") != Entrypoint {
				t.Errorf("config: %s/%s user %q entrypoint %v", cf.OS, cf.Architecture, c.User, c.Entrypoint)
			}
			for _, p := range ExposedPorts() {
				if _, ok := c.ExposedPorts[p]; !ok {
					t.Errorf("port %s not exposed: %v", p, c.ExposedPorts)
				}
			}
		})
	}

	t.Run("the amd64 edge from the layer runs", func(t *testing.T) {
		img, err := remote.Image(ref, append(pullOpts, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))...)
		if err != nil {
			t.Fatal(err)
		}
		bin := extract(t, img, "edge")
		path := filepath.Join(t.TempDir(), "edge")
		if err := os.WriteFile(path, bin, 0o755); err != nil { //nolint:gosec // an executable
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(rctx, path, "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("edge --version: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "collabgw edge "+version+" ") || !strings.Contains(string(out), "linux/amd64") {
			t.Errorf("edge --version = %q, want version %s on linux/amd64", out, version)
		}
	})

	t.Run("a second build has the same digest", func(t *testing.T) {
		again, _ := build()
		if got := digestOf(t, again); got != want {
			t.Fatalf("second build %s, first %s", got, want)
		}
		// Pushing it again (as a deploy run twice does) is a no-op.
		if ref2, err := Push(ctx, repo, again, keychain); err != nil || ref2 != ref {
			t.Fatalf("second push = %s, %v; want %s", ref2, err, ref)
		}
	})

	t.Run("a tag names the same image", func(t *testing.T) {
		if _, err := Push(ctx, repo+":"+version, idx, keychain); err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag(repo + ":" + version)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(tag, pullOpts...)
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest != want {
			t.Errorf("tag %s = %s, want %s", tag, desc.Digest, want)
		}
	})
}

// extract returns a file's content from an image's layers.
func extract(t *testing.T, img v1.Image, file string) []byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Name == file {
				b, err := io.ReadAll(tr)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
		rc.Close()
	}
	t.Fatalf("no %s in the image", file)
	return nil
}

var _ authn.Keychain = (*ECRKeychain)(nil)
