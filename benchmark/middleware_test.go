package benchmark

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	sentinel "github.com/alibaba/sentinel-golang/api"
	sbase "github.com/alibaba/sentinel-golang/core/base"
	sflow "github.com/alibaba/sentinel-golang/core/flow"
	"github.com/gin-gonic/gin"

	sluicegin "github.com/sluice-go/sluice/adapters/gin"
	sluicehttp "github.com/sluice-go/sluice/adapters/http"
	"github.com/sluice-go/sluice/core/flow"
)

// Middleware overhead: one request through a handler that writes "ok",
// served in-process (httptest.ResponseRecorder, no network), bare and
// behind each library's middleware, with one flow rule on the route so high
// that nothing is blocked.
//
// Sentinel Go's gin adapter (github.com/alibaba/sentinel-golang/pkg/adapters/gin)
// is a module of its own that the Go module proxy here does not serve; the
// SentinelGo case is the same logic written out: what that adapter does on
// each request (api.Entry on "METHOD:FullPath" as Inbound, 429 on block,
// Exit after c.Next()).

const routeGin = "/bench/gin/:id"

func init() { gin.SetMode(gin.ReleaseMode) }

func ginEngine(mw ...gin.HandlerFunc) *gin.Engine {
	r := gin.New()
	r.Use(mw...)
	r.GET(routeGin, func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	return r
}

// sentinelGin is what Sentinel Go's gin adapter does per request.
func sentinelGin(c *gin.Context) {
	e, be := sentinel.Entry(c.Request.Method+":"+c.FullPath(), sentinel.WithTrafficType(sbase.Inbound))
	if be != nil {
		c.AbortWithStatus(http.StatusTooManyRequests)
		return
	}
	defer e.Exit()
	c.Next()
}

func setupMiddleware() error {
	if err := eng.LoadFlowRules(append(eng.Rules().Flow,
		flow.Rule{Resource: "GET " + routeGin, Threshold: hugeQPS},
		flow.Rule{Resource: "GET /bench/http/{id}", Threshold: hugeQPS})); err != nil {
		return err
	}
	var rules []*sflow.Rule
	for _, r := range sflow.GetRules() {
		rules = append(rules, &r)
	}
	rules = append(rules, sentinelFlowRule("GET:"+routeGin, hugeQPS))
	if ok, err := sflow.LoadRules(rules); err != nil || !ok {
		return fmt.Errorf("sentinel middleware rule: loaded=%v err=%v", ok, err)
	}
	return nil
}

// TestMiddlewareRulesApply checks that each middleware case runs through
// its library's rule: a request each, then the rule's resource has counted
// it (Sluice) or has the rule in force (Sentinel Go).
func TestMiddlewareRulesApply(t *testing.T) {
	for _, c := range middlewareCases() {
		w := httptest.NewRecorder()
		c.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, c.path, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d", c.name, w.Code)
		}
	}
	for _, res := range []string{"GET " + routeGin, "GET /bench/http/{id}"} {
		st, ok := eng.Stats(res)
		if !ok || st.PassQPS == 0 {
			t.Errorf("Sluice: %q not counted: %+v", res, st)
		}
	}
	if n := len(sflow.GetRulesOfResource("GET:" + routeGin)); n != 1 {
		t.Errorf("Sentinel Go: %d rules on the gin route, want 1", n)
	}
}

func serve(b *testing.B, h http.Handler, path string) {
	b.ReportAllocs()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

type middlewareCase struct {
	name string
	h    http.Handler
	path string
}

func middlewareCases() []middlewareCase {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bench/http/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	return []middlewareCase{
		{"Gin/Bare", ginEngine(), "/bench/gin/1"},
		{"Gin/Sluice", ginEngine(sluicegin.Middleware(sluicegin.WithEngine(eng))), "/bench/gin/1"},
		{"Gin/SentinelGo", ginEngine(sentinelGin), "/bench/gin/1"},
		{"NetHTTP/Bare", mux, "/bench/http/1"},
		{"NetHTTP/Sluice", sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux), "/bench/http/1"},
	}
}

// BenchmarkMiddleware serves one request per iteration through each case.
func BenchmarkMiddleware(b *testing.B) {
	for _, c := range middlewareCases() {
		b.Run(c.name, func(b *testing.B) { serve(b, c.h, c.path) })
	}
}
