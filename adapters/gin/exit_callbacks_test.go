package sluicegin_test

import (
	"github.com/sluice-go/sluice/adapters/internal/adaptertest"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/sluice-go/sluice"
	sluicegin "github.com/sluice-go/sluice/adapters/gin"
	"github.com/sluice-go/sluice/core/isolation"
)

// A WithStatusIsFailure function that panics is contained: before, the
// panic went on up the chain (to gin.Recovery, or to net/http, which
// dropped the connection with the route's answer unsent). Now it is
// logged, the status counts as no failure, the entry exits and the answer
// goes out; under an isolation rule of 1 the next request is admitted.
func TestPanickingStatusClassifierIsContained(t *testing.T) {
	logs := adaptertest.CaptureDefaultLog(t)
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Isolation: []isolation.Rule{{Resource: "GET /x", Threshold: 1}}})
	var calls atomic.Int64
	var reached atomic.Value // a panic that got past the middleware
	s := &server{t: t, r: gin.New()}
	s.r.Use(func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				reached.Store(v)
			}
		}()
		c.Next()
	}, sluicegin.Middleware(sluicegin.WithEngine(eng), sluicegin.WithStatusIsFailure(func(st int) bool {
		if calls.Add(1) == 1 {
			panic("classifier bug")
		}
		return st >= 500
	})))
	s.r.GET("/x", func(c *gin.Context) { c.String(http.StatusBadGateway, "upstream down") })
	s.start()

	if r := s.get("/x"); r.status != http.StatusBadGateway || r.body != "upstream down" {
		t.Fatalf("answer %+v, want the route's", r)
	}
	if v := reached.Load(); v != nil {
		t.Fatalf("the classifier's panic got past the middleware: %v", v)
	}
	if st := stats(t, eng, "GET /x"); st.Concurrency != 0 || st.CompleteQPS != 1 || st.ErrorQPS != 0 {
		t.Fatalf("stats %+v, want the entry released with no failure", st)
	}
	if l := logs.String(); !strings.Contains(l, "WithStatusIsFailure function panicked") ||
		!strings.Contains(l, "classifier bug") || !strings.Contains(l, "GET /x") {
		t.Fatalf("the panic was not logged with the resource: %q", l)
	}
	if r := s.get("/x"); r.status != http.StatusBadGateway {
		t.Fatalf("next request under an isolation rule of 1: %+v", r)
	}
	if st := stats(t, eng, "GET /x"); st.Concurrency != 0 || st.BlockQPS != 0 || st.ErrorQPS != 1 {
		t.Fatalf("stats %+v, want the next 502 admitted and counted", st)
	}
}
