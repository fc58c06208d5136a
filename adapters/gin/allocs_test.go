package sluicegin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/sluice-go/sluice"
	sluicegin "github.com/sluice-go/sluice/adapters/gin"
	"github.com/sluice-go/sluice/adapters/internal/adaptertest"
	"github.com/sluice-go/sluice/core/hotspot"
)

// The allocation test serves one request in-process (httptest.NewRecorder
// and gin's Engine.ServeHTTP) through a gin engine without the middleware
// and through one with it, and checks that the middleware adds no
// allocation of its own: gin's (its Context comes from a pool; the
// recorder, the header map) are in both.

var (
	boxedTenant any   = "tenant-1" // boxed once, as a user's extractor returns values it holds
	userArgs    []any = []any{boxedTenant, 42_000}
)

func TestMiddlewareAllocatesNothing(t *testing.T) {
	eng, _ := newEngine(t)
	rules := adaptertest.AllocRules("GET /orders", "GET /users/:id", "GET (unmatched)", "OTHER (unmatched)", "GET /failing", "named", "GET /hot")
	rules.Hotspot = append(rules.Hotspot, hotspot.Rule{Resource: "GET /users/:id", ParamKey: "id", Threshold: 1e12, Duration: time.Second})
	mustLoad(t, eng, rules)

	// The middleware's answer to a blocked request, written by a handler:
	// the baseline of the blocked request.
	var blockErr *sluice.BlockError
	if _, err := eng.Entry(context.Background(), "GET /blocked"); !errors.As(err, &blockErr) {
		t.Fatalf("GET /blocked: %v, want a block", err)
	}
	writeBlocked := func(c *gin.Context) {
		h := c.Writer.Header()
		if blockErr.RetryAfter > 0 {
			h.Set("Retry-After", "1")
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		c.Writer.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(c.Writer, "429 Too Many Requests: ")
		_, _ = io.WriteString(c.Writer, "blocked by a Flow rule")
		_, _ = io.WriteString(c.Writer, "\n")
		c.Abort()
	}
	ok := func(c *gin.Context) { c.Status(http.StatusOK) }
	// routes returns a gin engine with the test's routes, behind mw if
	// it is not nil.
	routes := func(mw gin.HandlerFunc, blocked gin.HandlerFunc) *gin.Engine {
		r := gin.New()
		if mw != nil {
			r.Use(mw)
		}
		r.GET("/orders", ok)
		r.GET("/users/:id", ok)
		r.GET("/hot", ok)
		r.GET("/failing", func(c *gin.Context) { c.Status(http.StatusServiceUnavailable) })
		r.GET("/blocked", blocked)
		return r
	}
	baseline := routes(nil, ok)
	blockedBaseline := routes(nil, writeBlocked)

	withUser := httptest.NewRequest(http.MethodGet, "/hot", nil)
	withUser.Header.Set("X-User", "u-1")
	for _, tc := range []struct {
		name     string
		req      *http.Request
		status   int
		baseline *gin.Engine // if not baseline
		extra    float64     // allocations the middleware adds (see Middleware)
		opts     []sluicegin.Option
	}{
		{name: "route", req: httptest.NewRequest(http.MethodGet, "/orders", nil), status: 200},
		{name: "route with a parameter", req: httptest.NewRequest(http.MethodGet, "/users/42", nil), status: 200},
		{name: "unmatched", req: httptest.NewRequest(http.MethodGet, "/nowhere", nil), status: 404},
		{name: "unknown method", req: httptest.NewRequest("PURGE", "/nowhere", nil), status: 404},
		{name: "failure status", req: httptest.NewRequest(http.MethodGet, "/failing", nil), status: 503},
		{name: "resource extractor", req: httptest.NewRequest(http.MethodGet, "/orders", nil), status: 200,
			opts: []sluicegin.Option{sluicegin.WithResourceExtractor(func(*gin.Context) string { return "named" })}},
		{name: "skipped", req: httptest.NewRequest(http.MethodGet, "/orders", nil), status: 200,
			opts: []sluicegin.Option{sluicegin.WithSkip(func(*gin.Context) bool { return true })}},
		{name: "args and attachment", req: httptest.NewRequest(http.MethodGet, "/hot", nil), status: 200,
			opts: []sluicegin.Option{
				sluicegin.WithArgs(func(*gin.Context) []any { return userArgs }),
				sluicegin.WithAttachment("tenant", func(*gin.Context) any { return boxedTenant }),
			}},
		{name: "header attachment, header absent", req: httptest.NewRequest(http.MethodGet, "/hot", nil), status: 200,
			opts: []sluicegin.Option{sluicegin.WithHeaderAttachment("X-User")}},
		{name: "header attachment, header present", req: withUser, status: 200,
			extra: 1, // the header's value boxed as the attachment (see WithHeaderAttachment)
			opts:  []sluicegin.Option{sluicegin.WithHeaderAttachment("X-User")}},
		{name: "param attachment", req: httptest.NewRequest(http.MethodGet, "/users/42", nil), status: 200,
			extra: 1, // the parameter's value boxed as the attachment (see WithParamAttachment)
			opts:  []sluicegin.Option{sluicegin.WithParamAttachment("id")}},
		{name: "blocked", req: httptest.NewRequest(http.MethodGet, "/blocked", nil), status: 429, baseline: blockedBaseline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.baseline
			if base == nil {
				base = baseline
			}
			with := routes(sluicegin.Middleware(append([]sluicegin.Option{sluicegin.WithEngine(eng)}, tc.opts...)...), ok)
			serve := func(r *gin.Engine) func() {
				return func() {
					w := httptest.NewRecorder()
					r.ServeHTTP(w, tc.req)
					if w.Code != tc.status {
						t.Fatalf("%s %s: status %d, want %d", tc.req.Method, tc.req.URL.Path, w.Code, tc.status)
					}
				}
			}
			adaptertest.WantExtraAllocs(t, tc.extra, serve(base), serve(with))
		})
	}
}
