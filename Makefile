# dispatchhub developer tasks. `make` (or `make help`) lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# A fresh root shell (CI) does not have Go on its PATH.
export PATH := /usr/local/go/bin:$(PATH)

GO       ?= go
GOFMT    ?= gofmt
BIN      := bin/dispatchhub
FUZZTIME ?= 10s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS  := -X github.com/pilotx/dispatchhub/internal/buildinfo.Version=$(VERSION) \
            -X github.com/pilotx/dispatchhub/internal/buildinfo.Commit=$(COMMIT)

SERVICES := scripts/services.sh

# make bench: BENCH is the -bench expression, PKGS the packages, BENCHTIME an optional
# -benchtime (e.g. 1x: every benchmark once), BENCH_TIMEOUT go test's -timeout.
BENCH         ?= .
PKGS          ?= ./...
BENCHTIME     ?=
BENCH_TIMEOUT ?= 90m
BENCH_DIR     := bench/results

.PHONY: help build run test bench bench-readme demo lint fuzz clean services-up services-down services-status

help: ## list the targets
	@echo "usage: make <target>"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/dispatchhub with version information
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) .

services-up: ## start the project-private PostgreSQL and Redis (installs them as root)
	bash $(SERVICES) up

services-down: ## stop the project-private PostgreSQL and Redis
	bash $(SERVICES) down

services-status: ## show whether PostgreSQL and Redis are up
	bash $(SERVICES) status

run: services-up build ## start services, migrate and serve in dev mode
	$(BIN) migrate up
	$(BIN) serve --dev

test: services-up ## go vet and the race-enabled test suite (what CI runs)
	$(GO) vet ./...
	$(GO) test -count=1 -run 'DoesNotAllocate' ./geo/ ./hooks/ ./dispatch/matching/
	$(GO) test -race -count=1 -timeout 20m ./...

bench: services-up ## every benchmark with its baseline -> bench/results/<date>.json and .md (BENCH=regex PKGS=...)
	@mkdir -p $(BENCH_DIR)/raw bin
	$(GO) build -o bin/benchreport ./scripts/benchreport
	@stamp=$$(date -u +%Y-%m-%dT%H%M%SZ); raw=$(BENCH_DIR)/raw/$$stamp.jsonl; \
	cp /proc/stat $$raw.stat 2>/dev/null || true; \
	echo "==> go test -p 1 -bench '$(BENCH)' $(PKGS) (raw output: $$raw; this takes long with the defaults)"; \
	$(GO) test -p 1 -run '^$$' -bench '$(BENCH)' -benchmem -count 1 $(if $(BENCHTIME),-benchtime $(BENCHTIME)) \
		-timeout $(BENCH_TIMEOUT) -json $(PKGS) 2>&1 | \
	bin/benchreport -raw $$raw -out $(BENCH_DIR) -commit '$(VERSION)' -cpustat $$raw.stat \
		-bench '$(BENCH)' -packages '$(PKGS)' -benchtime '$(BENCHTIME)'; \
	echo "==> make bench-readme puts this run's comparison table into README.md"

bench-readme: ## put the newest bench/results/<date>.json's table into README's Performance section
	$(GO) run ./scripts/benchreport -readme README.md -out $(BENCH_DIR)

demo: services-up build ## the hub (serve --dev) and the simulator: 50 drivers, 5 stores, lunch burst; Ctrl-C stops both
	bash scripts/demo.sh

lint: ## gofmt (must list nothing) and go vet
	@files=$$(find . \( -path ./.git -o -path ./.data -o -path ./bin -o -path ./vendor \) -prune \
		-o -name '*.go' -print); \
	if [ -n "$$files" ]; then \
		unformatted=$$($(GOFMT) -l $$files); \
		if [ -n "$$unformatted" ]; then \
			echo "gofmt: these files need formatting (run gofmt -w):"; \
			echo "$$unformatted"; \
			exit 1; \
		fi; \
	fi
	$(GO) vet ./...

fuzz: ## run every Fuzz target for FUZZTIME (default 10s) each
	@files=$$(grep -rl --include='*_test.go' --exclude-dir=.git --exclude-dir=.data \
		--exclude-dir=bin --exclude-dir=vendor '^func Fuzz' . || true); \
	if [ -z "$$files" ]; then echo "no fuzz targets found"; exit 0; fi; \
	for f in $$files; do \
		pkg=./$$(dirname "$${f#./}"); \
		for name in $$(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$$f"); do \
			echo "==> $$pkg $$name ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
		done; \
	done

clean: services-down ## stop services and remove .data/ and bin/
	rm -rf .data bin
