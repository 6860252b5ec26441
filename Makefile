# collabgw: the two commands a developer needs are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Downloaded and built tools; COLLABGW_CACHE_DIR lets several checkouts share one.
COLLABGW_CACHE_DIR ?= $(CURDIR)/.cache
CACHE      := $(COLLABGW_CACHE_DIR)
TOOLS      := $(CACHE)/tools
GOLANGCI_VERSION := v2.15.0
GOLANGCI   := $(TOOLS)/golangci-lint-$(GOLANGCI_VERSION)/golangci-lint
export COLLABGW_CACHE_DIR

.PHONY: help run test clock-guard check fmt-check vet lint tidy-check gotest fuzz deps build image deploy invoke infra-tools infra-check stand-in-check build-Authorize build-Release build-Sweep

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## start the whole local stack (Ctrl-C stops it); ARGS="--edges 3 --max-sessions 5" passes options
	@case " $(ARGS) " in *" --edges"*) bash scripts/deps.sh haproxy java ;; *) bash scripts/deps.sh java ;; esac
	go build -o $(CACHE)/bin/collabgw ./cmd/collabgw
	exec $(CACHE)/bin/collabgw local $(ARGS)

build: ## build the functions for Lambda: dist/<name>/bootstrap and dist/<name>.zip (arm64)
	go run ./cmd/collabgw build --arch arm64 --out dist

image: ## build the edge image without Docker into dist/edge-image (linux/arm64; ARGS="--push REPO" pushes)
	go run ./cmd/collabgw image --out dist/edge-image --digest-file dist/edge-image.digest $(ARGS)

deploy: ## the first deployment to AWS (README "Deploy"): builds, then stops where a person must act
	bash scripts/deploy.sh

invoke: ## invoke a function of the running stack: make invoke FN=authorize EVENT=events/authorize-accept.json
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=authorize EVENT=events/authorize-accept.json"; exit 2; }
	go build -o $(CACHE)/bin/collabgw ./cmd/collabgw
	$(CACHE)/bin/collabgw invoke --function $(FN) --event $(EVENT)

# `sam build` (BuildMethod: makefile) runs build-<LogicalId> with ARTIFACTS_DIR set.
LAMBDA_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags="-s -w"
build-Authorize:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/authorize
build-Release:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/release
build-Sweep:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/sweep

test: check gotest clock-guard fuzz ## every check and every test (what CI runs)

check: fmt-check vet lint tidy-check stand-in-check ## style checks only

fmt-check:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	go vet ./...

$(GOLANGCI):
	GOBIN=$(dir $(GOLANGCI)) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

lint: $(GOLANGCI)
	$(GOLANGCI) run --allow-parallel-runners ./...

tidy-check:
	go mod tidy -diff

deps: ## install what the tests need from Debian (libpurple for the Pidgin proof)
	bash scripts/deps.sh

infra-tools: ## build OpenTofu, tflint and the AWS schema stand-in provider into .cache (once)
	bash scripts/infra-tools.sh >/dev/null

infra-check: infra-tools ## validate infra/: fmt, init, validate, tflint, tofu test with mocks
	go test -count=1 -v ./infra/...

# The AWS schema stand-in provider is its own Go module (infra/providers/aws-schema).
stand-in-check: $(GOLANGCI)
	cd infra/providers/aws-schema && go vet ./... && go mod tidy -diff && $(GOLANGCI) run --allow-parallel-runners --config $(CURDIR)/.golangci.yml ./...

gotest: deps infra-tools
	go test -race -timeout 30m ./...
	cd infra/providers/aws-schema && go test ./...

# The packages whose test clocks (internal/clocktest) reach DynamoDB Local.
CLOCK_PACKAGES := ./internal/admission/ ./internal/lambdaapi/

clock-guard: deps ## run the date-sensitive tests a month and a year ahead (internal/clocktest)
	COLLABGW_TEST_CLOCK_OFFSET=720h go test -count=1 $(CLOCK_PACKAGES)
	COLLABGW_TEST_CLOCK_OFFSET=8760h go test -count=1 $(CLOCK_PACKAGES)

fuzz: ## run every fuzz target for FUZZTIME (default 5s) each
	bash scripts/fuzz.sh
