# Every module of the repository; go.work ties them together.
MODULES := . ./adapters/gin ./adapters/grpc ./datasource/etcd ./datasource/nacos ./example ./benchmark

GO ?= go

.PHONY: test etcd bench lint

## test: go vet and go test -race on every module, one package at a time
## (-p 1: the wall-clock CPU test in core/system must not compete with the others)
test: etcd
	@set -e; for m in $(MODULES); do \
		echo "== $$m"; \
		(cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 -p 1 ./...); \
	done
	@echo "== ./datasource/nacos, without -race: the tests in which the Nacos SDK reconnects (see restart_test.go)"
	cd datasource/nacos && $(GO) test -count=1 -p 1 -run 'Restart' ./...

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

## bench: the side-by-side benchmarks (Sluice, Sentinel Go, x/time/rate)
bench:
	cd benchmark && $(GO) test -run '^$$' -bench . -benchmem -count=3

## lint: gofmt check and go vet on every module
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done
