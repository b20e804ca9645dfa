# Flotilla. `make run` starts it on this machine; `make test` runs every test.
# `make help` lists the rest.

GO      ?= go
BIN     := bin/flotilla
GOFILES := $(shell find cmd internal lambdas -name '*.go' -not -path '*/node_modules/*' 2>/dev/null) go.mod go.sum
LAMBDAS := api dispatcher events sweep scheduler notifier

.DEFAULT_GOAL := help
.PHONY: help run build test go-test lint bench bench-ddb fuzz lambdas clean system-deps iam-record

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: web-build build ## build the UI and the binary, then start Flotilla on http://127.0.0.1:8080
	$(BIN) serve

build: $(BIN) ## build bin/flotilla (the CLI and `flotilla serve`)
$(BIN): $(GOFILES)
	$(GO) build -o $(BIN) ./cmd/flotilla

test: lint system-deps go-test web-test web-e2e infra-test infra-fresh-test ## run every test: Go (with -race), web unit and browser tests, CDK
	@echo "make test: all suites passed"

# The browser tests drive Debian's chromium; install it when missing (as root), else say how.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "make test needs Debian's chromium for the browser tests: sudo apt-get install chromium"; exit 1; fi; }

# The Go tests also record every AWS call the Lambdas make (build/iam), which
# infra-test evaluates against the synthesized IAM policies.
IAM_RECORDS := build/iam/.complete
go-test: fauxqs-deps ## the Go tests, with the race detector
	rm -rf build/iam
	FLOTILLA_IAM_RECORD=$(CURDIR)/build/iam $(GO) test -race -count=1 -timeout 30m ./...
	touch $(IAM_RECORDS)

iam-record: $(IAM_RECORDS) ## record the Lambdas' AWS calls for the IAM proof (the tests that make them)
$(IAM_RECORDS): $(GOFILES) | fauxqs-deps
	rm -rf build/iam
	FLOTILLA_IAM_RECORD=$(CURDIR)/build/iam $(GO) test -count=1 -run 'TestFaults|TestLambdas' ./internal/awswire ./lambdas/e2e
	touch $@

lint: ## go vet, and gofmt must have nothing to say
	$(GO) vet ./...
	@out=$$(gofmt -l cmd internal lambdas 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

bench: build fauxqs-deps web-build system-deps proof-deps $(IAM_RECORDS) ## run every benchmark; writes bench/results.json and docs/benchmarks.md
	FLOTILLA_BENCH_OUT=$(CURDIR)/bench/results.json $(GO) test -count=1 -run 'TestHybridNumbers' ./cmd/flotilla
	cd infra && FLOTILLA_BENCH_OUT=$(CURDIR)/bench/results.json $(INFRA_ENV) $(GO) test -count=1 -run 'TestIAMEveryRecordedCallIsAllowed|TestIAMCallsDeclared' .
	FLOTILLA_BENCH_OUT=$(CURDIR)/bench/results.json $(GO) test -count=1 -run 'TestLambdasEndToEnd' ./lambdas/e2e
	$(MAKE) bench-ddb
	cd web && FLOTILLA_BENCH_OUT=$(CURDIR)/bench/results.json FLOTILLA_BIN=$(CURDIR)/$(BIN) npm run e2e:daily
	cd web && FLOTILLA_BENCH_OUT=$(CURDIR)/bench/results.json FLOTILLA_BIN=$(CURDIR)/$(BIN) npm run e2e:pipelines
	$(GO) run ./cmd/flotilla-bench -out bench/results.json

# minidyn keeps its indexes sorted on every write, so seeding grows faster
# than the history (100,000 ended runs alone took ~16 minutes): 10,000 +
# 30,000 + 60,000 keep `make bench` within half an hour.
bench-ddb: ## DynamoDB read units per access pattern as history grows (10k, 30k, 60k ended runs); into bench/results.json
	FLOTILLA_BENCH_OUT=$(CURDIR)/bench/results.json FLOTILLA_DDB_SCALE=10000,30000,60000 $(GO) test -count=1 -timeout 60m -run 'TestReadsFlatAsHistoryGrows' -v ./internal/awsdynamodb

fuzz: ## run each fuzz test for a bounded time (FUZZTIME, default 20s)
	@for t in $$(grep -rl 'func Fuzz' --include='*_test.go' internal cmd | xargs -n1 dirname | sort -u); do \
		for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "fuzz $$t $$f"; $(GO) test ./$$t -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-20s} || exit 1; \
		done; \
	done

lambdas: ## build each Lambda as build/lambdas/<fn>/bootstrap (linux/arm64, static, stripped)
	@for fn in $(LAMBDAS); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
			-o build/lambdas/$$fn/bootstrap ./lambdas/$$fn || exit 1; \
	done

clean: web-clean ## remove build outputs (not your data in .flotilla)
	rm -rf bin build cdk.out

# The deployed UI is the built one.
deploy synth: web-build

include web/web.mk
include infra/infra.mk
include internal/awssqs/awssqs.mk
