package sluicehttp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	sluicehttp "github.com/sluice-go/sluice/adapters/http"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

// counting returns a handler that counts its calls and writes body.
func counting(calls *atomic.Int64, status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestMiddlewarePasses(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /hello", Threshold: 10}}})
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("GET /hello", counting(&calls, http.StatusOK, "hi"))
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))

	if a := get(t, srv, "/hello"); a.status != http.StatusOK || a.body != "hi" || a.retryAfter != "" {
		t.Fatalf("answer %+v", a)
	}
	st, ok := eng.Stats("GET /hello")
	if !ok || st.PassQPS != 1 || st.CompleteQPS != 1 || st.ErrorQPS != 0 || st.Concurrency != 0 {
		t.Fatalf("stats %+v (tracked %v)", st, ok)
	}
	if ss := eng.SystemStats(); ss.PassQPS != 1 {
		t.Fatalf("inbound PassQPS %v, want 1: the entry is not Inbound", ss.PassQPS)
	}
}

func TestResourceNamesFromServeMuxPatterns(t *testing.T) {
	eng, _ := newEngine(t)
	mux := http.NewServeMux()
	var ids []string
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		ids = append(ids, r.PathValue("id")) // the mux still routes and sets path values
	})
	mux.HandleFunc("/static/", func(http.ResponseWriter, *http.Request) {})
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/items/1", 200},
		{"GET", "/items/2", 200},
		{"GET", "/static/a.css", 200},
		{"POST", "/static/b.css", 200},
		{"PURGE", "/static/c.css", 200}, // a made-up method mints no resource
		{"GET", "/nowhere", 404},
		{"DELETE", "/items/1", 405},
	} {
		if a := do(t, srv, tc.method, tc.path); a.status != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, a.status, tc.status)
		}
	}
	want := []string{"DELETE (unmatched)", "GET (unmatched)", "GET /items/{id}",
		"GET /static/", "OTHER /static/", "POST /static/"}
	if got := eng.Resources(); !slices.Equal(got, want) {
		t.Fatalf("resources %q, want %q", got, want)
	}
	if st, _ := eng.Stats("GET /items/{id}"); st.PassQPS != 2 {
		t.Fatalf("GET /items/{id} PassQPS %v, want 2", st.PassQPS)
	}
	if !slices.Equal(ids, []string{"1", "2"}) {
		t.Fatalf("path values %q", ids)
	}
}

func TestResourceNameWithoutServeMux(t *testing.T) {
	eng, _ := newEngine(t)
	var calls atomic.Int64
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(counting(&calls, 200, "")))
	get(t, srv, "/a")
	get(t, srv, "/b/c")
	if got := eng.Resources(); !slices.Equal(got, []string{"GET " + sluicehttp.UnmatchedRoute}) {
		t.Fatalf("resources %q", got)
	}
	if calls.Load() != 2 {
		t.Fatalf("handler called %d times", calls.Load())
	}
}

func TestResourceExtractor(t *testing.T) {
	eng, _ := newEngine(t)
	mw := sluicehttp.Middleware(sluicehttp.WithEngine(eng),
		sluicehttp.WithResourceExtractor(func(r *http.Request) string { return "api:" + r.Header.Get("X-Tenant") }))
	srv := serve(t, mw(http.NotFoundHandler()))
	get(t, srv, "/x", "X-Tenant", "acme")
	if got := eng.Resources(); !slices.Equal(got, []string{"api:acme"}) {
		t.Fatalf("resources %q", got)
	}
}

func TestFlowBlockAnswers429WithRetryAfter(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /x", Threshold: 0}}})
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("GET /x", counting(&calls, 200, "ok"))
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))

	a := get(t, srv, "/x")
	// The body names the kind of rule, and nothing of the rule itself.
	if a.status != http.StatusTooManyRequests || a.retryAfter != "1" || a.body != "429 Too Many Requests: blocked by a Flow rule" {
		t.Fatalf("answer %+v", a)
	}
	if calls.Load() != 0 {
		t.Fatal("handler called on block")
	}
}

// Retry-After is the rule's wait rounded up to whole seconds.
func TestRetryAfterRoundsUp(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{
		{Resource: "short", Threshold: 0, StatInterval: 10 * time.Millisecond},
		{Resource: "long", Threshold: 0, StatInterval: 2500 * time.Millisecond},
	}})
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng),
		sluicehttp.WithResourceExtractor(func(r *http.Request) string { return r.URL.Path[1:] }))(http.NotFoundHandler()))
	if a := get(t, srv, "/short"); a.status != 429 || a.retryAfter != "1" {
		t.Errorf("short: %+v", a)
	}
	if a := get(t, srv, "/long"); a.status != 429 || a.retryAfter != "3" {
		t.Errorf("long: %+v", a)
	}
}

func TestIsolationBlockHasNoRetryAfter(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Isolation: []isolation.Rule{{Resource: "GET /x", Threshold: 0}}})
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("GET /x", counting(&calls, 200, "ok"))
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))
	if a := get(t, srv, "/x"); a.status != 429 || a.retryAfter != "" || a.body != "429 Too Many Requests: blocked by an Isolation rule" {
		t.Fatalf("answer %+v", a)
	}
	if calls.Load() != 0 {
		t.Fatal("handler called on block")
	}
}

func TestBreakerOpensOnHandler5xx(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{Resource: "GET /flaky",
		Strategy: circuitbreaker.ErrorCount, Threshold: 3, MinRequestAmount: 3, RetryTimeout: 5 * time.Second}}})
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("GET /flaky", counting(&calls, http.StatusInternalServerError, "down"))
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))

	for i := 0; i < 3; i++ {
		if a := get(t, srv, "/flaky"); a.status != 500 {
			t.Fatalf("request %d: %+v", i+1, a)
		}
	}
	if a := get(t, srv, "/flaky"); a.status != 429 || a.retryAfter != "5" || a.body != "429 Too Many Requests: blocked by a CircuitBreaker rule" {
		t.Fatalf("4th request: %+v", a)
	}
	if calls.Load() != 3 {
		t.Fatalf("handler called %d times, want 3", calls.Load())
	}
	st, _ := eng.Stats("GET /flaky")
	if st.ErrorQPS != 3 || len(st.CircuitBreakers) != 1 || st.CircuitBreakers[0].State != circuitbreaker.Open {
		t.Fatalf("stats %+v", st)
	}
}

func TestStatusIsFailure(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{Resource: "GET /x",
		Strategy: circuitbreaker.ErrorCount, Threshold: 1, MinRequestAmount: 1, RetryTimeout: time.Second}}})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("s") {
		case "503":
			w.WriteHeader(503)
		case "early-hints":
			w.WriteHeader(http.StatusEarlyHints) // informational: the answer is the 200 after it
			w.WriteHeader(200)
		case "404":
			http.NotFound(w, r)
		}
	})
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng),
		sluicehttp.WithStatusIsFailure(func(s int) bool { return s == 404 }))(mux))
	for _, q := range []string{"503", "early-hints", ""} {
		if a := get(t, srv, "/x?s="+q); a.status == 429 {
			t.Fatalf("s=%s: blocked, yet only 404 counts", q)
		}
	}
	if st, _ := eng.Stats("GET /x"); st.ErrorQPS != 0 {
		t.Fatalf("ErrorQPS %v, want 0", st.ErrorQPS)
	}
	get(t, srv, "/x?s=404")
	if a := get(t, srv, "/x"); a.status != 429 {
		t.Fatalf("after a 404: %+v, want the breaker open", a)
	}
}

func TestHandlerPanicCountsAsFailure(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{Resource: "GET /x",
		Strategy: circuitbreaker.ErrorCount, Threshold: 2, MinRequestAmount: 2, RetryTimeout: time.Second}}})
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		panic("boom")
	})
	// http.ErrAbortHandler is how httputil.ReverseProxy says the client went
	// away: no failure of the route.
	mux.HandleFunc("GET /abort", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))
	for _, path := range []string{"/x", "/x", "/abort", "/abort"} {
		// net/http recovers the panic and drops the connection.
		if res, err := srv.Client().Get(srv.URL + path); err == nil {
			res.Body.Close()
			t.Fatalf("%s: status %d, want the connection dropped", path, res.StatusCode)
		}
	}
	if a := get(t, srv, "/x"); a.status != 429 {
		t.Fatalf("after two panics: %+v", a)
	}
	st, _ := eng.Stats("GET /x")
	if st.ErrorQPS != 2 || st.Concurrency != 0 || calls.Load() != 2 {
		t.Fatalf("stats %+v, calls %d", st, calls.Load())
	}
	if st, _ := eng.Stats("GET /abort"); st.ErrorQPS != 0 || st.CompleteQPS != 2 || st.Concurrency != 0 {
		t.Fatalf("ErrAbortHandler: %+v, want 2 completed without error", st)
	}
}

// A ServeMux redirect to the path with a trailing slash is no route: a
// wildcard route's redirects must not mint one resource per path.
func TestSlashRedirectIsUnmatched(t *testing.T) {
	eng, _ := newEngine(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/a/{x}/", func(w http.ResponseWriter, r *http.Request) {})
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))
	for _, p := range []string{"/a/foo", "/a/bar"} {
		for _, m := range []string{http.MethodGet, http.MethodConnect} {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\n\r\n", m, p)
			if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
				t.Fatalf("%s %s: %v", m, p, err)
			}
			conn.Close()
		}
	}
	for _, name := range eng.Resources() {
		if strings.Contains(name, "foo") || strings.Contains(name, "bar") {
			t.Fatalf("resources %q: a redirect minted a resource per path", eng.Resources())
		}
	}
}

// System rules check the middleware's entries, since they are Inbound.
func TestSystemRuleAppliesToRequests(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{System: []system.Rule{{MetricType: system.Concurrency, TriggerCount: 1}}})
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			entered <- struct{}{}
		}
		<-release
	})
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))

	first := make(chan answer, 1)
	go func() {
		res, err := srv.Client().Get(srv.URL + "/slow")
		if err != nil {
			first <- answer{status: -1, body: err.Error()}
			return
		}
		res.Body.Close()
		first <- answer{status: res.StatusCode}
	}()
	within(t, entered, 5*time.Second, "first request")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/slow", nil)
	if res, err := srv.Client().Do(req); err != nil {
		t.Errorf("second concurrent request: %v (it reached the handler)", err)
	} else if res.Body.Close(); res.StatusCode != 429 {
		t.Errorf("second concurrent request: status %d", res.StatusCode)
	}
	close(release)
	if a := within(t, first, 5*time.Second, "first answer"); a.status != 200 {
		t.Fatalf("first request: %+v", a)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler called %d times, want 1", calls.Load())
	}
	if a := get(t, srv, "/nothing"); a.status != 404 {
		t.Fatalf("once idle: %+v", a)
	}
}

func TestHotspotPerHeader(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Hotspot: []hotspot.Rule{{Resource: "GET /x", ParamKey: "X-User", Threshold: 1}}})
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("GET /x", counting(&calls, 200, "ok"))
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng), sluicehttp.WithHeaderAttachment("X-User"))(mux))

	for i, tc := range []struct {
		user   string
		status int
	}{
		{"alice", 200}, {"alice", 429}, {"bob", 200}, {"", 200}, {"", 200},
	} {
		var kv []string
		if tc.user != "" {
			kv = []string{"X-User", tc.user}
		}
		if a := get(t, srv, "/x", kv...); a.status != tc.status {
			t.Errorf("#%d user %q: %+v, want %d", i, tc.user, a, tc.status)
		} else if a.status == 429 && (a.retryAfter != "1" || a.body != "429 Too Many Requests: blocked by a Hotspot rule") {
			t.Errorf("#%d: %+v, want Retry-After 1 and blocked by a Hotspot rule", i, a)
		}
	}
	if calls.Load() != 4 {
		t.Fatalf("handler called %d times, want 4", calls.Load())
	}
}

func TestHotspotArgsAndAttachments(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Hotspot: []hotspot.Rule{
		{Resource: "GET (unmatched)", ParamIndex: 0, Threshold: 1},
		{Resource: "GET (unmatched)", ParamKey: "region", Threshold: 2},
	}})
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng),
		sluicehttp.WithArgs(func(r *http.Request) []any { return []any{r.URL.Query().Get("tenant")} }),
		sluicehttp.WithAttachment("region", func(r *http.Request) any { return r.URL.Query().Get("region") }),
	)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	for i, tc := range []struct {
		query  string
		status int
	}{
		{"tenant=a&region=eu", 200},
		{"tenant=a&region=us", 429}, // tenant a's second
		{"tenant=b&region=eu", 200},
		{"tenant=c&region=eu", 429}, // region eu's third
	} {
		if a := get(t, srv, "/?"+tc.query); a.status != tc.status {
			t.Errorf("#%d %s: %+v, want %d", i, tc.query, a, tc.status)
		}
	}
}

func TestBlockFallback(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /x", Threshold: 0}}})
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("GET /x", counting(&calls, 200, "ok"))
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng),
		sluicehttp.WithBlockFallback(func(w http.ResponseWriter, r *http.Request, err *sluice.BlockError) {
			if !errors.Is(err, sluice.ErrBlocked) {
				t.Errorf("fallback given %v", err)
			}
			http.Error(w, "busy: "+err.Resource+" by "+err.Type.String(), http.StatusServiceUnavailable)
		}))(mux))
	a := get(t, srv, "/x")
	if a.status != 503 || a.body != "busy: GET /x by Flow" || a.retryAfter != "" {
		t.Fatalf("answer %+v", a)
	}
	if calls.Load() != 0 {
		t.Fatal("handler called on block")
	}
}

// The wrapped ResponseWriter still flushes, directly and through
// http.ResponseController, and a handler that writes nothing sends 200.
func TestResponseWriterFeatures(t *testing.T) {
	eng, _ := newEngine(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("not an http.Flusher")
			return
		}
		_, _ = w.Write([]byte("a"))
		f.Flush()
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		_, _ = w.Write([]byte("b"))
		if err := rc.Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	})
	mux.HandleFunc("GET /empty", func(http.ResponseWriter, *http.Request) {})
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng),
		sluicehttp.WithStatusIsFailure(func(s int) bool { return s != 200 }))(mux))
	if a := get(t, srv, "/stream"); a.status != 200 || a.body != "ab" {
		t.Fatalf("stream: %+v", a)
	}
	if a := get(t, srv, "/empty"); a.status != 200 {
		t.Fatalf("empty: %+v", a)
	}
	for _, res := range []string{"GET /stream", "GET /empty"} {
		if st, _ := eng.Stats(res); st.ErrorQPS != 0 || st.CompleteQPS != 1 {
			t.Errorf("%s: stats %+v", res, st)
		}
	}
}

// A request waiting its turn under a Throttling rule stops waiting when its
// client goes away, and the handler never runs.
func TestThrottlingWaitEndsWhenClientLeaves(t *testing.T) {
	eng := newEngineWith(t) // the real clock: the wait is real
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /q", Threshold: 1,
		ControlBehavior: flow.Throttling, MaxQueueingTime: time.Minute, StatInterval: 30 * time.Second}}})
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("GET /q", counting(&calls, 200, "ok"))
	mw := sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux)
	returned := make(chan struct{}, 2)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.ServeHTTP(w, r)
		returned <- struct{}{}
	}))

	if a := get(t, srv, "/q"); a.status != 200 { // takes the slot; the next waits 30 s
		t.Fatalf("first: %+v", a)
	}
	<-returned
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/q", nil)
	clientErr := make(chan error, 1)
	go func() {
		res, err := srv.Client().Do(req)
		if err == nil {
			res.Body.Close()
		}
		clientErr <- err
	}()
	waitFor(t, "the second request to queue", func() bool { return concurrency(eng, "GET /q") == 1 })
	cancel()
	within(t, returned, 2*time.Second, "middleware return after the client left")
	if err := within(t, clientErr, 2*time.Second, "client"); !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler called %d times, want 1", calls.Load())
	}
	if c := concurrency(eng, "GET /q"); c != 0 {
		t.Fatalf("concurrency %d after the wait ended", c)
	}
}
