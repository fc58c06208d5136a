# Every module of the repository; go.work ties them together.
MODULES := . ./adapters/gin ./adapters/grpc ./datasource/etcd ./datasource/nacos ./example ./benchmark

GO ?= go

.PHONY: test bench lint

## test: go vet and go test -race on every module, one package at a time
## (-p 1: the wall-clock CPU test in core/system must not compete with the others)
test:
	@set -e; for m in $(MODULES); do \
		echo "== $$m"; \
		(cd $$m && $(GO) vet ./... && $(GO) test -race -count=1 -p 1 ./...); \
	done

## bench: the side-by-side benchmarks (Sluice, Sentinel Go, x/time/rate)
bench:
	cd benchmark && $(GO) test -run '^$$' -bench . -benchmem -count=3

## lint: gofmt check and go vet on every module
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done
