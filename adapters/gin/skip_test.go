package sluicegin_test

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/sluice-go/sluice"
	sluicegin "github.com/sluice-go/sluice/adapters/gin"
	"github.com/sluice-go/sluice/adapters/internal/adaptertest"
	"github.com/sluice-go/sluice/core/flow"
)

// Under a system rule that refuses every inbound request (one is held in
// flight, above a Concurrency trigger of 0), a skipped health check still
// answers, and makes no entry at all.
func TestSkipExemptsHealthCheckFromSystemRule(t *testing.T) {
	eng, _ := newEngine(t)
	adaptertest.ShedAllInbound(t, eng)
	s := newServer(t, eng, sluicegin.WithSkip(func(c *gin.Context) bool { return c.FullPath() == "/healthz" }))
	s.r.GET("/healthz", s.ok)
	s.r.GET("/orders", s.ok)
	s.start()

	adaptertest.WantHealthzSkipped(t, s.srv.Client(), s.srv.URL, s.ran.Load)
	adaptertest.WantRefusedOnly(t, eng, "GET /orders")
}

// A later WithSkip(nil) skips nothing, and a nil Option is ignored.
func TestSkipNilSkipsNothing(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /healthz", Threshold: 0}}})
	always := sluicegin.WithSkip(func(*gin.Context) bool { return true })
	s := newServer(t, eng, always, sluicegin.WithSkip(nil), nil)
	s.r.GET("/healthz", s.ok)
	s.start()
	if r := s.get("/healthz"); r.status != http.StatusTooManyRequests {
		t.Fatalf("answer %+v, want 429", r)
	}
}
