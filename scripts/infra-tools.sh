#!/usr/bin/env bash
# Installs the tools that validate infra/ into the project cache, once each:
#
#   tofu      OpenTofu, built from its Go module (it has replace directives, so
#             `go install` refuses it; `go build` inside a copy of the module works)
#   tflint    with its bundled terraform ruleset (no plugin downloads)
#   package   npm @cdktf/provider-aws, unpacked: its .jsii assembly and
#             generated code carry the real AWS provider schema
#   standin   the schema stand-in provider and its schema extractor
#             (infra/providers/aws-schema), rebuilt every run from the Go
#             build cache so they always match the source
#
# A tool already in the cache is not built again. On success the script prints
# KEY=path lines on stdout (TOFU, TFLINT, AWS_PACKAGE, STANDIN_DIR); progress
# goes to stderr.
# The cache is $COLLABGW_CACHE_DIR, else <repo>/.cache.
set -euo pipefail

TOFU_VERSION=v1.12.6
TFLINT_VERSION=v0.64.0
PROVIDER_AWS_NPM_VERSION=21.22.1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${COLLABGW_CACHE_DIR:-$repo/.cache}
tools=$cache/tools
mkdir -p "$tools"
# Checkouts that share a cache (COLLABGW_CACHE_DIR) take turns: a tool half
# built or half unpacked by one must never be used by another.
exec 9>"$tools/.infra-tools.lock"
flock 9

log() { echo "infra-tools: $*" >&2; }

# Module downloads and builds run outside the repository so the project's
# go.mod and go.sum are never touched.
outside=$(mktemp -d)
trap 'rm -rf "$outside"' EXIT

tofu=$tools/opentofu-$TOFU_VERSION/tofu
if [ ! -x "$tofu" ]; then
	log "building OpenTofu $TOFU_VERSION (once; several minutes)"
	dir=$(cd "$outside" && GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/opentofu/opentofu@$TOFU_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$dir" ] || { log "go mod download found no module directory"; exit 1; }
	src=$outside/opentofu
	cp -R "$dir" "$src"
	chmod -R u+w "$src"
	mkdir -p "$(dirname "$tofu")"
	(cd "$src" && GOWORK=off GOFLAGS=-mod=mod nice -n 10 go build -trimpath -ldflags="-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$tofu.tmp" ./cmd/tofu)
	mv "$tofu.tmp" "$tofu"
fi

tflint=$tools/tflint-$TFLINT_VERSION/tflint
if [ ! -x "$tflint" ]; then
	log "installing tflint $TFLINT_VERSION (once)"
	(cd "$outside" && GOWORK=off GOBIN=$(dirname "$tflint") nice -n 10 go install "github.com/terraform-linters/tflint@$TFLINT_VERSION")
fi

pkgdir=$tools/cdktf-provider-aws-$PROVIDER_AWS_NPM_VERSION
if [ ! -s "$pkgdir/package/.jsii" ]; then
	log "fetching @cdktf/provider-aws@$PROVIDER_AWS_NPM_VERSION with npm (once)"
	tarball=$(cd "$outside" && npm pack --silent "@cdktf/provider-aws@$PROVIDER_AWS_NPM_VERSION")
	rm -rf "$pkgdir.tmp" && mkdir -p "$pkgdir.tmp"
	tar -xzf "$outside/$tarball" -C "$pkgdir.tmp"
	rm -rf "$pkgdir" && mv "$pkgdir.tmp" "$pkgdir"
fi

standin=$tools/aws-schema-standin
mkdir -p "$standin"
(cd "$repo/infra/providers/aws-schema" &&
	GOWORK=off nice -n 10 go build -trimpath -o "$standin/terraform-provider-aws" . &&
	GOWORK=off nice -n 10 go build -trimpath -o "$standin/aws-schema-extract" ./cmd/aws-schema-extract)

echo "TOFU=$tofu"
echo "TFLINT=$tflint"
echo "AWS_PACKAGE=$pkgdir/package"
echo "STANDIN_DIR=$standin"
