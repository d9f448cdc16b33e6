# Comet: `make run` plays on http://localhost:8080; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin/comet
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.Version=$(VERSION)
# Browser tests find Chromium here (Debian's package installs /usr/bin/chromium).
CHROME_PATH ?= $(shell command -v chromium || command -v chromium-browser || command -v google-chrome || true)
export CHROME_PATH

.PHONY: run build test test-go test-cluster vet typecheck deps chromium nginx postgresql bench fuzz clean

run: ## bundle the frontend and serve on :8080 with data/comet.db
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/comet serve --addr :8080 --db data/comet.db

build: ## one binary in bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/comet

test: deps vet typecheck test-go ## vet, typecheck, every Go test (race) including browser and nginx tests

vet:
	$(GO) vet ./...

# The browser tests run last and alone: their timing checks (60 fps frames,
# interpolation, a phone's shots) are about the page, so the other packages'
# builds and servers must not share the two cores with Chromium.
BROWSER_PKG := comet/frontend/browsertest
test-go:
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -vx '$(BROWSER_PKG)')
	$(GO) test -race -count=1 -timeout 20m ./frontend/browsertest/

# The cluster end to end alone (part of test-go): nats-server built from the
# module in go.mod, a throwaway PostgreSQL, three nodes, nginx round-robin.
test-cluster: nginx postgresql
	$(GO) test -race -count=1 -timeout 10m -run 'TestClusterEndToEnd' -v ./cmd/comet/
	$(GO) test -race -count=1 -timeout 10m ./internal/clustertest/ ./internal/nginxtest/

typecheck: node_modules/.package-lock.json
	npm run --silent typecheck

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

deps: chromium nginx postgresql node_modules/.package-lock.json

# Install Debian's chromium (browser tests) and nginx (proxy test) when missing:
# as root with apt-get; otherwise stop and name the package.
chromium:
	@if [ -n "$(CHROME_PATH)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian package chromium for the browser tests"; \
		(apt-get install -y chromium || (apt-get update && apt-get install -y chromium)); \
	else echo "browser tests need Chromium: install the Debian package 'chromium' (or set CHROME_PATH)"; exit 1; fi

nginx:
	@if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian package nginx for the reverse-proxy test"; \
		(apt-get install -y nginx || (apt-get update && apt-get install -y nginx)); \
	else echo "the proxy test needs nginx: install the Debian package 'nginx'"; exit 1; fi

# The PostgreSQL store's tests start a throwaway cluster with initdb/pg_ctl
# (internal/pgtest); COMET_SKIP_POSTGRES=1 skips them instead.
postgresql:
	@if [ "$$COMET_SKIP_POSTGRES" = 1 ] || command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian package postgresql for the PostgreSQL store tests"; \
		(apt-get install -y postgresql || (apt-get update && apt-get install -y postgresql)); \
	else echo "the PostgreSQL store tests need PostgreSQL: install the Debian package 'postgresql' (or set COMET_SKIP_POSTGRES=1)"; exit 1; fi

bench: ## hot-path Go benchmarks, then the load tool's short run (under 3 minutes); see docs/PERFORMANCE.md
	$(GO) test -run '^$$' -bench 'SessionSend|Broadcast15k|Fanout4k|FrameBatch|LobbyPresence' -benchmem ./server/ ./server/push/
	$(GO) test -run '^$$' -bench 'BenchmarkArena1000' -benchtime 400x ./gameloop/
	$(GO) run ./cmd/cometbench short

FUZZTIME ?= 20s
fuzz: ## run every fuzz target for FUZZTIME each
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; done

clean:
	rm -rf bin
