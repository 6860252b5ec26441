package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/spf13/cobra"

	"github.com/collabgw/collabgw/internal/edgeimage"
	"github.com/collabgw/collabgw/internal/lambdabuild"
)

func newImageCmd() *cobra.Command {
	var (
		archs              []string
		push, out, version string
		digestFile         string
		groupwiseCAs       []string
	)
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the edge's container image without Docker (linux/arm64 by default), optionally push it to a registry",
		Long: `Builds the edge's OCI image: the static edge binary on an empty base, CA
roots compiled in, user 65532, entrypoint /edge, ports 3101, 8080 and 3102.
The build is reproducible: the same source gives the same digest.

With one --arch the result is an image, with several an image index. --push
uploads it to REPOSITORY by digest (REPOSITORY:TAG also tags it) and prints
REPOSITORY@sha256:..., the reference the Terraform example takes. ECR
registries get their credentials from the AWS SDK (GetAuthorizationToken:
profile, environment, SSO or instance role); other registries use what
docker login stored, else none.`,
		Example: `  collabgw image --out dist/edge-image
  collabgw image --push 123456789012.dkr.ecr.eu-west-1.amazonaws.com/collabgw-edge
  collabgw image --arch arm64,amd64 --push registry.example.com/collabgw/edge:v1.2.0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImage(cmd, imageRequest{
				archs: archs, push: push, out: out, version: version, versionSet: cmd.Flags().Changed("version"),
				digestFile: digestFile, groupwiseCAs: groupwiseCAs,
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&archs, "arch", []string{"arm64"}, "architectures: arm64 (Fargate on Graviton, the default), amd64, or both (an image index)")
	f.StringVar(&push, "push", "", "push to this repository (REPOSITORY or REPOSITORY:TAG)")
	f.StringVar(&out, "out", "", "write an OCI image layout to this folder")
	f.StringVar(&version, "version", "", "version the edge reports with --version (default: git describe --tags --always --dirty)")
	f.StringVar(&digestFile, "digest-file", "", "write the digest (sha256:...) to this file")
	f.StringSliceVar(&groupwiseCAs, "groupwise-ca", nil, "PEM bundle to add under "+edgeimage.CADir+" (a pool's relative caRef names it); repeatable")
	return cmd
}

type imageRequest struct {
	archs              []string
	push, out, version string
	versionSet         bool
	digestFile         string
	groupwiseCAs       []string
}

func runImage(cmd *cobra.Command, req imageRequest) error {
	ctx := cmd.Context()
	stdout := cmd.OutOrStdout()
	if len(req.archs) == 0 {
		return fmt.Errorf("--arch needs at least one architecture")
	}
	root, err := lambdabuild.ModuleRoot(".")
	if err != nil {
		return err
	}
	src, err := edgeimage.SourceOf(ctx, root)
	if err != nil {
		return err
	}
	if req.versionSet {
		src.Version = req.version
	}
	opts := []edgeimage.Option{edgeimage.WithVersion(src.Version), edgeimage.WithCreated(src.Created)}
	for _, ca := range req.groupwiseCAs {
		data, err := os.ReadFile(ca)
		if err != nil {
			return fmt.Errorf("--groupwise-ca: %w", err)
		}
		opts = append(opts, edgeimage.WithFile(edgeimage.File{Path: edgeimage.CADir + "/" + filepath.Base(ca), Mode: 0o444, Data: data}))
	}
	work, err := os.MkdirTemp("", "collabgw-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bins, err := edgeimage.BuildBinaries(ctx, root, work, req.archs, src.Version)
	if err != nil {
		return err
	}
	images := map[string]v1.Image{}
	for _, arch := range req.archs {
		if images[arch], err = edgeimage.New(arch, bins[arch], opts...); err != nil {
			return err
		}
		size, err := compressedSize(images[arch])
		if err != nil {
			return err
		}
		d, err := images[arch].Digest()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "edge image linux/%s %s (%.1f MB compressed, version %s)\n", arch, d, float64(size)/1e6, src.Version)
	}
	var art edgeimage.Artifact = images[req.archs[0]]
	if len(req.archs) > 1 {
		idx, err := edgeimage.NewIndex(images)
		if err != nil {
			return err
		}
		art = idx
		d, err := idx.Digest()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "edge image index %s (%s)\n", d, strings.Join(req.archs, ", "))
	}
	digest, err := art.Digest()
	if err != nil {
		return err
	}
	if req.out != "" {
		if err := edgeimage.WriteLayout(req.out, art); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote OCI layout %s\n", req.out)
	}
	if req.digestFile != "" {
		if err := os.WriteFile(req.digestFile, []byte(digest.String()+"\n"), 0o644); err != nil { //nolint:gosec // a digest is public
			return err
		}
	}
	if req.push != "" {
		keychain, err := edgeimage.NewKeychain(newECRClient)
		if err != nil {
			return err
		}
		ref, err := edgeimage.Push(ctx, req.push, art, keychain)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pushed %s\n", ref)
	}
	return nil
}

// newECRClient is the AWS SDK's default configuration for region: the
// same credentials the aws CLI uses.
func newECRClient(ctx context.Context, region string) (edgeimage.ECRTokenAPI, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return ecr.NewFromConfig(cfg), nil
}

func compressedSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, err
		}
		total += n
	}
	cfg, err := partial.RawConfigFile(img)
	return total + int64(len(cfg)), err
}
