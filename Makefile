# Every module of the repository; go.work ties them together.
MODULES := . ./adapters/gin ./adapters/grpc ./datasource/etcd ./datasource/nacos ./ext/prometheus ./ext/otel ./example ./benchmark ./scripts/modproxy

GO ?= go

.PHONY: test etcd prometheus release-check bench lint

## test: go vet and go test -race on every module, one package at a time
## (-p 1: the wall-clock tests keep their tolerances on a 2-core machine),
## the Nacos restart tests without -race, and the release check. Every step
## runs, whatever failed before it; the failed ones are listed at the end,
## and make exits non-zero if there are any.
test:
	@fails=; \
	step() { echo "== $$*"; "$$@" || fails="$$fails$$(printf '\n   %s' "$$*")"; }; \
	step $(MAKE) --no-print-directory etcd; \
	step $(MAKE) --no-print-directory prometheus; \
	for m in $(MODULES); do \
		step $(GO) -C $$m vet ./...; \
		step $(GO) -C $$m test -race -count=1 -p 1 ./...; \
	done; \
	echo "(the Nacos tests in which the SDK reconnects run without -race: see datasource/nacos/restart_test.go)"; \
	step $(GO) -C datasource/nacos test -count=1 -p 1 -run 'Restart|Unreachable' ./...; \
	step timeout 900 scripts/release-check.sh; \
	if [ -n "$$fails" ]; then echo "== FAILED:$$fails"; exit 1; fi; \
	echo "== all passed"

## release-check: would a user's module build against the modules as tagged
## from this working tree (see RELEASING.md)
release-check:
	scripts/release-check.sh

## etcd: the etcd binary the datasource/etcd tests start on loopback
## (Debian's etcd-server), installed with apt-get when missing, time-bounded
etcd:
	@command -v etcd >/dev/null 2>&1 || { \
		echo "== installing etcd-server"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		export DEBIAN_FRONTEND=noninteractive; \
		timeout 300 $$sudo apt-get install -y -q etcd-server >/dev/null 2>&1 || { \
			timeout 300 $$sudo apt-get update -q >/dev/null && \
			timeout 300 $$sudo apt-get install -y -q etcd-server >/dev/null; }; \
		command -v etcd; }

## prometheus: the Prometheus server example/prometheus's test starts on
## loopback (Debian's prometheus), installed with apt-get when missing,
## time-bounded
prometheus:
	@command -v prometheus >/dev/null 2>&1 || { \
		echo "== installing prometheus"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		export DEBIAN_FRONTEND=noninteractive; \
		timeout 300 $$sudo apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || { \
			timeout 300 $$sudo apt-get update -q >/dev/null && \
			timeout 300 $$sudo apt-get install -y -q --no-install-recommends prometheus >/dev/null; }; \
		command -v prometheus; }

## bench: the side-by-side benchmarks (Sluice, Sentinel Go, x/time/rate)
bench:
	cd benchmark && $(GO) test -run '^$$' -bench . -benchmem -count=3

## lint: gofmt check and go vet on every module
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done
