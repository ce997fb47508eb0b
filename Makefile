# Zenith's two set-up commands are `make run` (the whole pipeline on this
# machine) and `make test` (every test, with a throwaway PostgreSQL and an
# embedded NATS server). The rest are for development.

# Every Go module of the workspace, for commands that take packages.
MODULES := cmd migrations pkg services/dispatcher services/ingestor services/rule-engine tools tools/peerbench
PACKAGES := $(addprefix ./,$(addsuffix /...,$(MODULES)))
BUF_VERSION := v1.75.0
GOBIN ?= $(shell go env GOPATH)/bin

# The example source's key for `make run`: a public demo value, for local use
# only. Set SHOP_API_KEY to use your own.
SHOP_API_KEY ?= zenith-demo-shop-key-0001
export SHOP_API_KEY

# The admin token `make run` gives the admin API (zenithctl takes it as
# ZENITH_TOKEN): a public demo value, for local use only. Set
# ZENITH_ADMIN_TOKENS to your own. Only `make run` sets it, so that tests
# never open the admin API on its default port.
run: export ZENITH_ADMIN_TOKENS ?= zenith-demo-admin-token-0001

.PHONY: run test faults tools generate build lint clean bench bench-peers fuzz

## run: start NATS, PostgreSQL, the three services and a demo receiver
run:
	go build -o bin/zenith-local ./cmd/zenith-local
	./bin/zenith-local

# The short fault-injection suite runs on its own after the other tests, with
# -v, so that its progress and counts are printed (see docs/guarantees.md).
FAULT_SUITE := TestShortFaultSuite

## test: check formatting and vet, run every test, the short fault-injection
## suite, then fuzz every parser and validator briefly (installs the code
## generators first if missing)
test: tools lint
	go test -race -timeout 30m -skip '^$(FAULT_SUITE)$$' $(PACKAGES)
	go test -race -timeout 15m -run '^$(FAULT_SUITE)$$' -v ./cmd/internal/faults
	$(MAKE) fuzz FUZZTIME=10000x

# The fuzz targets of every parser and validator, as package:target. Their
# seed corpora (testdata/fuzz/<target>/) also run with every `go test`.
FUZZ_TARGETS := \
	./pkg/rules:FuzzParseCondition ./pkg/rules:FuzzMatch ./pkg/rules:FuzzCondition \
	./pkg/rules:FuzzCompareNumbers \
	./pkg/event:FuzzValidateData ./pkg/event:FuzzParseJSON ./pkg/event:FuzzFromNATS \
	./pkg/config:FuzzParse ./pkg/sinkconf:FuzzTemplate ./pkg/apikey:FuzzID \
	./services/ingestor:FuzzCheckStruct
FUZZTIME ?= 30s

## fuzz: explore each fuzz target for FUZZTIME (default 30s), one after
## another; `make fuzz FUZZTIME=5m` for a longer run. A count of inputs
## (FUZZTIME=100000x) cannot end in the Go 1.26 fuzzer's spurious "context
## deadline exceeded" at the end of a time limit on a busy machine, so
## `make test` uses one.
fuzz:
	@for target in $(FUZZ_TARGETS); do \
		pkg=$${target%%:*}; name=$${target##*:}; \
		echo "fuzzing $$name in $$pkg for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

BENCH_COUNT ?= 6
BENCHSTAT_VERSION := v0.0.0-20260908200009-22c9c6c9d4da

## bench: run the rule benchmarks BENCH_COUNT times (default 6) with
## -benchmem, keep the output in bin/bench.txt and summarise it with benchstat
bench:
	@mkdir -p bin
	go test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./pkg/rules | tee bin/bench.txt
	go run golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION) bin/bench.txt

## bench-peers: run the same rules and event through Zenith, expr and
## cel-go, and print Zenith's speed-up over each
bench-peers:
	go run ./tools/peerbench

## faults: the full fault-injection suite: three rounds of SIGTERM, SIGKILL,
## NATS restarts, PostgreSQL and sink outages under load, then the ledger
## check (`make test` runs a short version); see docs/guarantees.md
faults:
	go run ./cmd/zenith-faults

## tools: install buf, protoc-gen-go and protoc-gen-connect-go with go install
tools:
	@test -x $(GOBIN)/buf || go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@test -x $(GOBIN)/protoc-gen-go -a -x $(GOBIN)/protoc-gen-connect-go || (cd tools && go install tool)

## generate: regenerate the protobuf code in pkg/gen from proto/
generate: tools
	PATH="$(GOBIN):$$PATH" buf lint
	PATH="$(GOBIN):$$PATH" buf generate

## build: build the service binaries and tools into bin/
build:
	go build -o bin/ ./services/ingestor/cmd/ingestor ./services/rule-engine/cmd/rule-engine \
		./services/dispatcher/cmd/dispatcher ./cmd/zenith-local ./cmd/zenith-migrate \
		./cmd/zenith-healthcheck ./cmd/zenithctl

## lint: check formatting and vet every module
lint:
	@test -z "$$(gofmt -l $(MODULES))" || (gofmt -l $(MODULES) && exit 1)
	go vet $(PACKAGES)

# The state folder of `make run`: ZENITH_STATE_DIR, as zenith-local reads it.
STATE_DIR := $(abspath $(or $(ZENITH_STATE_DIR),.zenith))

# Where `make run` keeps its PostgreSQL cluster when run as root: PostgreSQL
# runs as the postgres user then, who may not reach this folder, so the
# cluster lives in the temporary folder under a name made from the state
# folder's path (see cmd/zenith-local).
ROOT_PG_DIR := $${TMPDIR:-/tmp}/zenith-local-$$(printf '%s' "$(STATE_DIR)" | sha256sum | cut -c1-12)

# The built binaries, which every pipeline of this checkout runs: cleaning
# a second pipeline's state (ZENITH_STATE_DIR set) leaves them to the first.
CLEAN_BIN := $(if $(ZENITH_STATE_DIR),,bin)

## clean: remove built binaries and the local state of `make run`; with
## ZENITH_STATE_DIR set, only the state of the pipeline it names
clean:
	@if [ -f "$(STATE_DIR)/zenith-local.pid" ] && kill -0 "$$(cat "$(STATE_DIR)/zenith-local.pid")" 2>/dev/null; then \
		echo "make run is still running (pid $$(cat "$(STATE_DIR)/zenith-local.pid")): stop it before make clean" >&2; exit 1; fi
	rm -rf $(CLEAN_BIN) "$(STATE_DIR)" "$(ROOT_PG_DIR)"
