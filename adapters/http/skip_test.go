package sluicehttp_test

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-go/sluice"
	sluicehttp "github.com/sluice-go/sluice/adapters/http"
	"github.com/sluice-go/sluice/adapters/internal/adaptertest"
	"github.com/sluice-go/sluice/core/flow"
)

// Under a system rule that refuses every inbound request, a skipped
// health check still answers, and makes no entry at all.
func TestSkipExemptsHealthCheckFromSystemRule(t *testing.T) {
	eng, _ := newEngine(t)
	adaptertest.ShedAllInbound(t, eng)
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", counting(&calls, http.StatusOK, "ok"))
	mux.Handle("GET /orders", counting(&calls, http.StatusOK, "orders"))
	// r.Pattern is set when the predicate runs.
	skip := sluicehttp.WithSkip(func(r *http.Request) bool { return r.Pattern == "GET /healthz" })
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng), skip)(mux))

	adaptertest.WantHealthzSkipped(t, srv.Client(), srv.URL, calls.Load)
	adaptertest.WantRefusedOnly(t, eng, "GET /orders")
}

func TestSkipOnRoundTripper(t *testing.T) {
	eng, _ := newEngine(t)
	var calls atomic.Int64
	srv := serve(t, counting(&calls, http.StatusOK, "ok"))
	host := strings.TrimPrefix(srv.URL, "http://")
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET " + host, Threshold: 0}}})
	client := &http.Client{Transport: sluicehttp.RoundTripper(srv.Client().Transport, sluicehttp.WithEngine(eng),
		sluicehttp.WithSkip(func(r *http.Request) bool { return r.URL.Path == "/healthz" }))}

	res, err := client.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatalf("skipped request: %v", err)
	}
	res.Body.Close()
	if _, err := client.Get(srv.URL + "/orders"); !errors.Is(err, sluice.ErrBlocked) {
		t.Fatalf("guarded request: %v, want blocked", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("server saw %d requests, want 1", calls.Load())
	}
	if st, _ := eng.Stats("GET " + host); st.PassQPS != 0 || st.BlockQPS != 1 {
		t.Fatalf("stats %+v: the skipped request was counted", st)
	}
}

// A nil predicate, and a later WithSkip(nil), skip nothing.
func TestSkipNilSkipsNothing(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /healthz", Threshold: 0}}})
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", counting(new(atomic.Int64), http.StatusOK, "ok"))
	always := sluicehttp.WithSkip(func(*http.Request) bool { return true })
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng), always, sluicehttp.WithSkip(nil))(mux))
	if a := get(t, srv, "/healthz"); a.status != http.StatusTooManyRequests {
		t.Fatalf("answer %+v, want 429", a)
	}
}
