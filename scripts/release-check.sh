#!/usr/bin/env bash
# release-check: would a user's module build against the Sluice modules as
# tagged from this working tree, with no replace and no go.work?
#
# It writes a module proxy directory (scripts/modproxy) serving the root
# module and each library module (adapters/gin, adapters/grpc,
# datasource/etcd, datasource/nacos) at the version the nested go.mod files
# require of the root; then, in a throwaway module, with GOPROXY=file://
# that directory first (then the local module cache, then the GOPROXY
# configured), GOFLAGS=-mod=mod, GONOSUMDB for the Sluice modules, GOWORK=off
# and an empty module cache of its own, it runs the README's go get for each
# module, builds every library package, and runs a program that guards a
# gin route. It prints the tags to push for that version. See RELEASING.md.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
libs=(adapters/gin adapters/grpc datasource/etcd datasource/nacos ext/prometheus ext/otel)
base=github.com/sluice-go/sluice

tmp=$(mktemp -d)
cleanup() {
	GOMODCACHE="$tmp/modcache" go clean -modcache 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# quiet runs a command with its output in a log, shown if it fails.
quiet() {
	"$@" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; echo "release-check: failed: $*" >&2; exit 1; }
}

dirs=("$repo")
for l in "${libs[@]}"; do dirs+=("$repo/$l"); done
echo "== writing the module proxy from $repo"
GOWORK=off go -C "$repo/scripts/modproxy" run . -out "$tmp/proxy" "${dirs[@]}" >"$tmp/tags"
version=$(head -n 1 "$tmp/tags")

cache=$(go env GOMODCACHE)
export GOPROXY="file://$tmp/proxy,file://$cache/cache/download,$(go env GOPROXY)"
export GOFLAGS="$(go env GOFLAGS) -mod=mod"
export GONOSUMDB=$base GOPRIVATE= GONOPROXY= GOWORK=off GOMODCACHE="$tmp/modcache"

mkdir "$tmp/user"
cd "$tmp/user"
go mod init example.com/sluiceuser >/dev/null 2>&1
cat >main.go <<'GO'
// A user's program: a gin route guarded by a flow rule of 1 per second.
package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/sluice-go/sluice"
	sluicegin "github.com/sluice-go/sluice/adapters/gin"
	"github.com/sluice-go/sluice/core/flow"
)

func main() {
	eng := sluice.New()
	defer eng.Close()
	if err := eng.LoadFlowRules([]flow.Rule{{Resource: "GET /ping", Threshold: 1}}); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(sluicegin.Middleware(sluicegin.WithEngine(eng)))
	r.GET("/ping", func(c *gin.Context) { c.String(http.StatusOK, "pong") })
	for i := 0; i < 2; i++ {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ping", nil))
		fmt.Println(w.Code)
	}
}
GO

# What the README's Install section says, one module at a time, each
# nested module first so that its own requirements must resolve.
for m in "${libs[@]}" ""; do
	echo "== go get $base${m:+/$m}"
	quiet go get "$base${m:+/$m}"
done
for m in "" "${libs[@]}"; do
	got=$(go list -m -f '{{.Version}}' "$base${m:+/$m}")
	if [ "$got" != "$version" ]; then
		echo "release-check: $base${m:+/$m} resolved to $got, want $version" >&2
		exit 1
	fi
done

echo "== go build of every package of the $version modules"
pkgs=("$base/...")
for m in "${libs[@]}"; do pkgs+=("$base/$m/..."); done
quiet go build "${pkgs[@]}"

echo "== the user's program"
quiet go build -o "$tmp/user/user" .
out=$("$tmp/user/user" 2>"$tmp/log" | tr '\n' ' ')
if [ "$out" != "200 429 " ]; then
	echo "release-check: the user's program printed \"$out\", want \"200 429 \"" >&2
	exit 1
fi

echo "== release check passed for $version; the tags to push:"
tail -n +2 "$tmp/tags" | sed 's/^/   /'
