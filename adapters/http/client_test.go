package sluicehttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	sluicehttp "github.com/sluice-go/sluice/adapters/http"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/system"
)

// guardedClient returns a client sending through srv's transport guarded by
// RoundTripper with opts, and the resource name of GET requests to srv.
func guardedClient(t *testing.T, srv *httptest.Server, opts ...sluicehttp.Option) (*http.Client, string) {
	t.Helper()
	c := &http.Client{Transport: sluicehttp.RoundTripper(srv.Client().Transport, opts...)}
	t.Cleanup(c.CloseIdleConnections)
	u, _ := url.Parse(srv.URL)
	return c, "GET " + u.Host
}

func TestClientPassesAndExitsOnClose(t *testing.T) {
	eng, _ := newEngine(t)
	// Would block every Inbound entry once one is in flight: client
	// entries are Outbound, so it must not apply.
	mustLoad(t, eng, sluice.Rules{System: []system.Rule{{MetricType: system.Concurrency, TriggerCount: 0}}})
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") }))
	client, res := guardedClient(t, srv, sluicehttp.WithEngine(eng))

	r1, err := client.Get(srv.URL + "/a/1")
	if err != nil {
		t.Fatal(err)
	}
	if c := concurrency(eng, res); c != 1 {
		t.Fatalf("concurrency %d with the body open, want 1", c)
	}
	r2, err := client.Get(srv.URL + "/b/2") // same resource: named by host
	if err != nil {
		t.Fatalf("second request while the first is open: %v", err)
	}
	if c := concurrency(eng, res); c != 2 {
		t.Fatalf("concurrency %d, want 2", c)
	}
	r1.Body.Close()
	if b, err := io.ReadAll(r2.Body); err != nil || string(b) != "hello" {
		t.Fatalf("body %q, %v", b, err)
	}
	if c := concurrency(eng, res); c != 0 { // read to EOF exits, before Close
		t.Fatalf("concurrency %d after close and EOF, want 0", c)
	}
	r2.Body.Close()
	r1.Body.Close()
	st, _ := eng.Stats(res)
	if st.PassQPS != 2 || st.CompleteQPS != 2 || st.ErrorQPS != 0 {
		t.Fatalf("stats %+v", st)
	}
	if ss := eng.SystemStats(); ss.PassQPS != 0 {
		t.Fatalf("inbound PassQPS %v: client entries must be Outbound", ss.PassQPS)
	}
}

// closeRecorder is a request body that records being closed.
type closeRecorder struct {
	io.Reader
	closed atomic.Bool
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

func TestClientBlockReturnsBlockError(t *testing.T) {
	eng, _ := newEngine(t)
	var calls atomic.Int64
	srv := serve(t, counting(&calls, 200, "ok"))
	client, _ := guardedClient(t, srv, sluicehttp.WithEngine(eng))
	u, _ := url.Parse(srv.URL)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "POST " + u.Host, Threshold: 0}}})

	body := &closeRecorder{Reader: strings.NewReader("payload")}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", body)
	res, err := client.Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("status %d, want blocked", res.StatusCode)
	}
	var ue *url.Error
	var be *sluice.BlockError
	if !errors.As(err, &ue) || !errors.As(err, &be) || !errors.Is(err, sluice.ErrBlocked) {
		t.Fatalf("error %T %v", err, err)
	}
	if be.Type != sluice.BlockTypeFlow || be.Resource != "POST "+u.Host || be.RetryAfter != time.Second {
		t.Fatalf("block error %+v", be)
	}
	if !body.closed.Load() {
		t.Fatal("request body not closed on block")
	}
	if calls.Load() != 0 {
		t.Fatal("request sent despite the block")
	}
}

func TestClientBlockFallback(t *testing.T) {
	eng, _ := newEngine(t)
	srv := serve(t, http.NotFoundHandler())
	client, res := guardedClient(t, srv, sluicehttp.WithEngine(eng),
		sluicehttp.WithClientBlockFallback(func(r *http.Request, err *sluice.BlockError) (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader("cached: " + err.Type.String())), Request: r}, nil
		}))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: res, Threshold: 0}}})
	r, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 503 || string(b) != "cached: Flow" {
		t.Fatalf("fallback answer %d %q", r.StatusCode, b)
	}
}

// 5xx answers and transport errors feed a circuit breaker until it opens.
func TestClientBreakerOn5xxAndTransportErrors(t *testing.T) {
	eng, _ := newEngine(t)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	client, res := guardedClient(t, srv, sluicehttp.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{Resource: res,
		Strategy: circuitbreaker.ErrorCount, Threshold: 3, MinRequestAmount: 3, RetryTimeout: 5 * time.Second}}})

	for i := 0; i < 2; i++ {
		r, err := client.Get(srv.URL)
		if err != nil || r.StatusCode != 502 {
			t.Fatalf("request %d: %v", i+1, err)
		}
		r.Body.Close()
	}
	client.CloseIdleConnections()
	srv.Close() // the next request cannot connect
	if r, err := client.Get(srv.URL); err == nil {
		r.Body.Close()
		t.Fatal("request to a closed server succeeded")
	} else if errors.Is(err, sluice.ErrBlocked) {
		t.Fatalf("blocked too early: %v", err)
	}
	_, err := client.Get(srv.URL)
	var be *sluice.BlockError
	if !errors.As(err, &be) || be.Type != sluice.BlockTypeCircuitBreaker || be.RetryAfter != 5*time.Second {
		t.Fatalf("4th request: %v, want blocked by the open breaker", err)
	}
	st, _ := eng.Stats(res)
	if st.ErrorQPS != 3 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A request its caller cancels is no failure under the default classifier.
func TestClientCanceledIsNoFailure(t *testing.T) {
	eng, _ := newEngine(t)
	arrived := make(chan struct{}, 1)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			arrived <- struct{}{}
			<-r.Context().Done()
		}
	}))
	client, res := guardedClient(t, srv, sluicehttp.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{Resource: res,
		Strategy: circuitbreaker.ErrorCount, Threshold: 1, MinRequestAmount: 1, RetryTimeout: time.Minute}}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/hang", nil)
	go func() { <-arrived; cancel() }()
	if r, err := client.Do(req); err == nil {
		r.Body.Close()
		t.Fatal("cancelled request succeeded")
	} else if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	r, err := client.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatalf("after a cancelled request: %v (the breaker opened)", err)
	}
	r.Body.Close()
	if st, _ := eng.Stats(res); st.ErrorQPS != 0 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A body that fails mid-read counts as a failure and exits the entry.
func TestClientBodyErrorCounts(t *testing.T) {
	eng, _ := newEngine(t)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "short")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // cut the body off
	}))
	client, res := guardedClient(t, srv, sluicehttp.WithEngine(eng))
	r, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r.Body); err == nil {
		t.Fatal("truncated body read without error")
	}
	if st, _ := eng.Stats(res); st.ErrorQPS != 1 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
	r.Body.Close()
	if st, _ := eng.Stats(res); st.CompleteQPS != 1 {
		t.Fatalf("stats after Close %+v", st)
	}
}

// A client request waiting its turn under a Throttling rule stops waiting
// when its context is cancelled.
func TestClientThrottlingWaitEndsWithContext(t *testing.T) {
	eng := newEngineWith(t) // the real clock: the wait is real
	var calls atomic.Int64
	srv := serve(t, counting(&calls, 200, "ok"))
	client, res := guardedClient(t, srv, sluicehttp.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: res, Threshold: 1,
		ControlBehavior: flow.Throttling, MaxQueueingTime: time.Minute, StatInterval: 30 * time.Second}}})

	r, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	done := make(chan error, 1)
	go func() {
		r, err := client.Do(req)
		if err == nil {
			r.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the request to queue", func() bool { return concurrency(eng, res) == 1 })
	cancel()
	err = within(t, done, 2*time.Second, "cancelled request")
	var be *sluice.BlockError
	if !errors.As(err, &be) || !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want a block caused by the cancellation", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("server called %d times, want 1", calls.Load())
	}
}

func TestRoundTripperNilNextIsDefaultTransport(t *testing.T) {
	eng, _ := newEngine(t)
	srv := serve(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	client := &http.Client{Transport: sluicehttp.RoundTripper(nil, sluicehttp.WithEngine(eng))}
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	r, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if len(eng.Resources()) != 1 {
		t.Fatalf("resources %q", eng.Resources())
	}
}
