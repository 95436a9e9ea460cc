# Build, test and demo targets. The Dockerfile calls `make build` too, so
# that a container image is built the same way as a local binary.

GO        ?= go
BIN_DIR   := $(CURDIR)/bin
PKG       := github.com/autoretouch/autoretouch_exporter
VERSION_PKG := github.com/prometheus/common/version

# promtool checks the exposition and the rule files. The version matches the
# Prometheus the end-to-end test runs.
PROMTOOL_VERSION := v0.316.0
PROMTOOL         := $(BIN_DIR)/promtool

VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)

LDFLAGS := -s -w \
	-X $(VERSION_PKG).Version=$(VERSION) \
	-X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) \
	-X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

# FUZZTIME is how long `make test` runs each fuzz target; `make fuzz` runs
# them for longer.
FUZZTIME ?= 10s

.PHONY: all build test vet unit fuzz-short fuzz promtool e2e-tools e2e rules prometheusrule bench bench-compare demo docs clean

all: build

## build: static binaries of the exporter and the demo API in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN_DIR)/autoretouch_exporter .
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN_DIR)/autoretouch_demo_api ./cmd/autoretouch_demo_api

## test: vet, every test under the race detector, and a short fuzz run
test: vet unit fuzz-short

vet:
	$(GO) vet ./...

unit: promtool
	PROMTOOL=$(PROMTOOL) $(GO) test -race -count=1 ./...

fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzParseBalance$$' -fuzztime $(FUZZTIME) ./autoretouch/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeOrganizationPage$$' -fuzztime $(FUZZTIME) ./autoretouch/

## fuzz: the fuzz targets for five minutes each
fuzz:
	$(MAKE) fuzz-short FUZZTIME=5m

## promtool: install promtool into bin/, or reuse the one there
promtool: $(PROMTOOL)

$(PROMTOOL):
	GOBIN=$(BIN_DIR) $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

# The end-to-end test runs the shipped rules and Alertmanager configuration in
# a real Prometheus and Alertmanager. Both are built from their Go modules:
# Prometheus at the version of promtool, and Alertmanager at v0.31.1, because
# later Alertmanager modules lack their web assets and do not build.
PROMETHEUS_VERSION   := $(PROMTOOL_VERSION)
ALERTMANAGER_VERSION := v0.31.1
PROMETHEUS           := $(BIN_DIR)/prometheus
ALERTMANAGER         := $(BIN_DIR)/alertmanager

## e2e-tools: install promtool, prometheus and alertmanager into bin/, or reuse the ones there
e2e-tools: $(PROMTOOL) $(PROMETHEUS) $(ALERTMANAGER)

# The order-only prerequisites build one binary after the other even under
# make -j, because each build uses every core and a lot of memory.
$(PROMETHEUS): | $(PROMTOOL)
	GOBIN=$(BIN_DIR) $(GO) install github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_VERSION)

$(ALERTMANAGER): | $(PROMETHEUS)
	GOBIN=$(BIN_DIR) $(GO) install github.com/prometheus/alertmanager/cmd/alertmanager@$(ALERTMANAGER_VERSION)

## e2e: run the exporter with Prometheus and Alertmanager on loopback and check the alerts
e2e: e2e-tools
	AUTORETOUCH_E2E=1 PROMTOOL=$(PROMTOOL) PROMETHEUS=$(PROMETHEUS) ALERTMANAGER=$(ALERTMANAGER) \
		$(GO) test -count=1 -v ./e2e/

## rules: check the rule files and run their unit tests
rules: promtool
	$(PROMTOOL) check rules deploy/prometheus/rules/*.yml deploy/prometheus/examples/*.yml
	$(PROMTOOL) test rules deploy/prometheus/tests/*_test.yml

# bench-compare writes the Go benchmarks to BENCH_NEW and compares them with
# BENCH_OLD when that file exists. Both live in bin/, which git ignores. Save
# a baseline with `make bench-compare && mv bin/bench-new.txt bin/bench-old.txt`.
# A "$" in BENCH_FILTER must be written "$$" on the make command line.
BENCH_FILTER ?= ^BenchmarkScrape
BENCH_COUNT  ?= 6
BENCH_OLD    ?= $(BIN_DIR)/bench-old.txt
BENCH_NEW    ?= $(BIN_DIR)/bench-new.txt
BENCHSTAT    := $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

## bench: measure scrapes against the fake API and print the tables of docs/benchmarks.md (about 9 minutes)
bench:
	BENCH_TABLE=1 $(GO) test -run '^TestBenchTable$$' -count=1 -timeout 30m -v ./bench/

## bench-compare: run the Go benchmarks BENCH_COUNT times and compare them with benchstat
bench-compare:
	@mkdir -p $(BIN_DIR)
	$(GO) test -run '^$$' -bench '$(BENCH_FILTER)' -benchmem -count $(BENCH_COUNT) -timeout 90m ./bench/ > $(BENCH_NEW)
	if [ -f $(BENCH_OLD) ]; then $(BENCHSTAT) $(BENCH_OLD) $(BENCH_NEW); else $(BENCHSTAT) $(BENCH_NEW); fi

## demo: run the exporter against the fake API with sample organizations
demo: build
	$(BIN_DIR)/autoretouch_demo_api --exporter=$(BIN_DIR)/autoretouch_exporter

## docs: regenerate the README's metrics table and the golden files
docs:
	$(GO) test -run 'TestReadmeMetricsTable|TestExporter' -update .

## prometheusrule: regenerate deploy/kubernetes/prometheusrule.yaml from the rule files
prometheusrule:
	$(GO) test ./deploy -run TestPrometheusRuleMatchesRuleFiles -update

clean:
	rm -rf $(BIN_DIR)
