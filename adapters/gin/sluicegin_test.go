package sluicegin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/sluice-go/sluice"
	sluicegin "github.com/sluice-go/sluice/adapters/gin"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/system"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	goleak.VerifyTestMain(m)
}

var t0 = time.Unix(1_700_000_000, 0)

// newEngine returns a fresh engine on a manual clock, closed when the test
// ends.
func newEngine(t *testing.T) (*sluice.Engine, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(t0)
	eng := sluice.New(sluice.WithClock(clk),
		sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(func() { eng.Close() })
	return eng, clk
}

func mustLoad(t *testing.T, eng *sluice.Engine, r sluice.Rules) {
	t.Helper()
	if err := eng.LoadRules(r); err != nil {
		t.Fatal(err)
	}
}

// server is a gin engine behind a real listener on 127.0.0.1.
type server struct {
	t   *testing.T
	r   *gin.Engine
	srv *httptest.Server
	ran atomic.Int64 // how many times a route handler ran
	// done, if set before start, is called when the server has finished
	// with a request.
	done func()
}

// newServer returns a gin engine with gin.Recovery and the middleware made
// from opts; add routes to s.r, then call s.start.
func newServer(t *testing.T, eng *sluice.Engine, opts ...sluicegin.Option) *server {
	t.Helper()
	r := gin.New()
	r.Use(gin.RecoveryWithWriter(io.Discard), sluicegin.Middleware(append([]sluicegin.Option{sluicegin.WithEngine(eng)}, opts...)...))
	return &server{t: t, r: r}
}

func (s *server) start() {
	var h http.Handler = s.r
	if done := s.done; done != nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer done()
			s.r.ServeHTTP(w, r)
		})
	}
	s.srv = httptest.NewServer(h) // binds 127.0.0.1:0
	s.t.Cleanup(s.srv.Close)
}

// ok is a handler answering 200 "ok", counted in s.ran.
func (s *server) ok(c *gin.Context) {
	s.ran.Add(1)
	c.String(http.StatusOK, "ok")
}

type response struct {
	status     int
	retryAfter string
	body       string
}

func (s *server) get(path string, header ...string) response {
	s.t.Helper()
	return s.do(context.Background(), path, header...)
}

// do sends GET path, with header given as name, value pairs.
func (s *server) do(ctx context.Context, path string, header ...string) response {
	s.t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body)}
}

func stats(t *testing.T, eng *sluice.Engine, resource string) sluice.ResourceStats {
	t.Helper()
	st, ok := eng.Stats(resource)
	if !ok {
		t.Fatalf("resource %q not tracked; tracked: %q", resource, eng.Resources())
	}
	return st
}

func TestPass(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /hello", Threshold: 10}}})
	s := newServer(t, eng)
	s.r.GET("/hello", s.ok)
	s.start()

	for i := 0; i < 3; i++ {
		if r := s.get("/hello"); r.status != http.StatusOK || r.body != "ok" || r.retryAfter != "" {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	st := stats(t, eng, "GET /hello")
	if st.PassQPS != 3 || st.CompleteQPS != 3 || st.BlockQPS != 0 || st.ErrorQPS != 0 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
	if s.ran.Load() != 3 {
		t.Fatalf("handler ran %d times, want 3", s.ran.Load())
	}
}

func TestResourceIsRoutePattern(t *testing.T) {
	eng, _ := newEngine(t)
	s := newServer(t, eng)
	s.r.GET("/users/:id", s.ok)
	s.start()

	s.get("/users/1")
	s.get("/users/2")
	if st := stats(t, eng, "GET /users/:id"); st.PassQPS != 2 {
		t.Fatalf("GET /users/:id passed %v, want 2 (one resource for both ids)", st.PassQPS)
	}
	if r := s.get("/nowhere/at/all"); r.status != http.StatusNotFound {
		t.Fatalf("unmatched route: %+v", r)
	}
	s.get("/nowhere/else")
	if st := stats(t, eng, "GET "+sluicegin.UnmatchedRoute); st.PassQPS != 2 || st.ErrorQPS != 0 {
		t.Fatalf("unmatched routes: %+v, want 2 passes and no error (404 is no failure)", st)
	}
	want := []string{"GET " + sluicegin.UnmatchedRoute, "GET /users/:id"} // sorted: "(" < "/"
	if got := eng.Resources(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("resources %q, want %q", got, want)
	}
}

func TestResourceExtractor(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "tenant:acme", Threshold: 0}}})
	s := newServer(t, eng, sluicegin.WithResourceExtractor(func(c *gin.Context) string {
		return "tenant:" + c.GetHeader("X-Tenant")
	}))
	s.r.GET("/x", s.ok)
	s.start()

	if r := s.get("/x", "X-Tenant", "acme"); r.status != http.StatusTooManyRequests {
		t.Fatalf("acme: %+v", r)
	}
	if r := s.get("/x", "X-Tenant", "other"); r.status != http.StatusOK {
		t.Fatalf("other: %+v", r)
	}
}

func TestFlowBlock(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /hello", Threshold: 0}}})
	s := newServer(t, eng)
	s.r.GET("/hello", s.ok)
	s.start()

	r := s.get("/hello")
	if r.status != http.StatusTooManyRequests || r.retryAfter != "1" || r.body != "429 Too Many Requests: blocked by a Flow rule\n" {
		t.Fatalf("blocked: %+v, want 429, Retry-After: 1 and a text body", r)
	}
	if s.ran.Load() != 0 {
		t.Fatal("the handler ran for a blocked request")
	}
	if st := stats(t, eng, "GET /hello"); st.BlockQPS != 1 || st.PassQPS != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFallback(t *testing.T) {
	for _, abort := range []bool{true, false} {
		name := map[bool]string{true: "aborts", false: "forgets to abort"}[abort]
		t.Run(name, func(t *testing.T) {
			eng, _ := newEngine(t)
			mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /hello", Threshold: 0}}})
			var got *sluice.BlockError
			s := newServer(t, eng, sluicegin.WithBlockFallback(func(c *gin.Context, err *sluice.BlockError) {
				got = err
				c.String(http.StatusServiceUnavailable, "busy: %v", err.Type)
				if abort {
					c.Abort()
				}
			}))
			after := 0 // a second handler in the chain
			s.r.GET("/hello", func(c *gin.Context) { after++; c.Next() }, s.ok)
			s.start()

			r := s.get("/hello")
			if r.status != http.StatusServiceUnavailable || r.body != "busy: Flow" || r.retryAfter != "" {
				t.Fatalf("response %+v", r)
			}
			if s.ran.Load() != 0 || after != 0 {
				t.Fatalf("route handlers ran (%d, %d) for a blocked request", after, s.ran.Load())
			}
			if got == nil || got.Resource != "GET /hello" || got.Type != sluice.BlockTypeFlow || !errors.Is(got, sluice.ErrBlocked) {
				t.Fatalf("fallback got %v", got)
			}
		})
	}
}

func TestBreakerOpensAfterServerErrors(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{Resource: "GET /flaky",
		Strategy: circuitbreaker.ErrorCount, Threshold: 3, MinRequestAmount: 3, RetryTimeout: 5 * time.Second}}})
	s := newServer(t, eng)
	s.r.GET("/flaky", func(c *gin.Context) {
		s.ran.Add(1)
		c.String(http.StatusInternalServerError, "oops")
	})
	s.start()

	for i := 0; i < 3; i++ {
		if r := s.get("/flaky"); r.status != http.StatusInternalServerError {
			t.Fatalf("request %d: %+v", i, r)
		}
	}
	r := s.get("/flaky")
	if r.status != http.StatusTooManyRequests || r.retryAfter != "5" || r.body != "429 Too Many Requests: blocked by a CircuitBreaker rule\n" {
		t.Fatalf("after 3 failures: %+v, want 429 with Retry-After: 5", r)
	}
	if s.ran.Load() != 3 {
		t.Fatalf("handler ran %d times, want 3", s.ran.Load())
	}
	st := stats(t, eng, "GET /flaky")
	if st.ErrorQPS != 3 || len(st.CircuitBreakers) != 1 || st.CircuitBreakers[0].State != circuitbreaker.Open {
		t.Fatalf("stats %+v", st)
	}
}

func TestStatusIsFailure(t *testing.T) {
	eng, _ := newEngine(t)
	s := newServer(t, eng, sluicegin.WithStatusIsFailure(func(status int) bool { return status == http.StatusTeapot }))
	s.r.GET("/teapot", func(c *gin.Context) { c.Status(http.StatusTeapot) })
	s.r.GET("/boom", func(c *gin.Context) { c.Status(http.StatusInternalServerError) })
	s.start()

	s.get("/teapot")
	s.get("/boom")
	if st := stats(t, eng, "GET /teapot"); st.ErrorQPS != 1 {
		t.Fatalf("418 with a classifier that says so: %+v, want an error", st)
	}
	if st := stats(t, eng, "GET /boom"); st.ErrorQPS != 0 {
		t.Fatalf("500 with a classifier that says no: %+v, want no error", st)
	}
}

// c.Errors is recorded when the status is a failure; a client error (4xx)
// with an error attached, such as c.Bind's, is not a failure of the route.
func TestContextErrorIsFailure(t *testing.T) {
	eng, _ := newEngine(t)
	s := newServer(t, eng)
	s.r.GET("/down", func(c *gin.Context) {
		_ = c.AbortWithError(http.StatusBadGateway, errors.New("downstream failed"))
	})
	s.r.GET("/bad", func(c *gin.Context) {
		_ = c.AbortWithError(http.StatusBadRequest, errors.New("malformed body"))
	})
	s.r.GET("/soft", func(c *gin.Context) {
		_ = c.Error(errors.New("logged only"))
		c.String(http.StatusOK, "partial")
	})
	s.r.GET("/canceled", func(c *gin.Context) {
		_ = c.AbortWithError(http.StatusServiceUnavailable, context.Canceled) // the default classifier does not count it
	})
	s.start()
	for _, path := range []string{"/down", "/bad", "/soft", "/canceled"} {
		s.get(path)
	}
	for _, tc := range []struct {
		resource string
		errors   float64
	}{{"GET /down", 1}, {"GET /bad", 0}, {"GET /soft", 0}, {"GET /canceled", 0}} {
		if st := stats(t, eng, tc.resource); st.ErrorQPS != tc.errors || st.CompleteQPS != 1 {
			t.Errorf("%s: %+v, want %v errors of 1 completed", tc.resource, st, tc.errors)
		}
	}
}

func TestPanicIsFailureAndRepanics(t *testing.T) {
	eng, _ := newEngine(t)
	s := newServer(t, eng)
	s.r.GET("/panic", func(c *gin.Context) { panic("boom") })
	s.start()

	if r := s.get("/panic"); r.status != http.StatusInternalServerError {
		t.Fatalf("response %+v, want gin.Recovery's 500", r)
	}
	if st := stats(t, eng, "GET /panic"); st.ErrorQPS != 1 || st.CompleteQPS != 1 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHeaderHotspot(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Hotspot: []hotspot.Rule{{Resource: "GET /items", ParamKey: "X-User", Threshold: 1}}})
	s := newServer(t, eng, sluicegin.WithHeaderAttachment("X-User"))
	s.r.GET("/items", s.ok)
	s.start()

	steps := []struct {
		user string
		want int
	}{
		{"alice", 200}, {"alice", 429}, {"bob", 200}, {"bob", 429}, {"", 200}, {"", 200}, {"", 200},
	}
	for i, st := range steps {
		var r response
		if st.user == "" {
			r = s.get("/items")
		} else {
			r = s.get("/items", "X-User", st.user)
		}
		if r.status != st.want {
			t.Fatalf("step %d (user %q): status %d, want %d", i, st.user, r.status, st.want)
		}
		if r.status == http.StatusTooManyRequests && (r.retryAfter != "1" || r.body != "429 Too Many Requests: blocked by a Hotspot rule\n") {
			t.Fatalf("step %d: %+v, want Retry-After 1 and blocked by a Hotspot rule", i, r)
		}
	}
	if s.ran.Load() != 5 {
		t.Fatalf("handler ran %d times, want 5", s.ran.Load())
	}
}

func TestParamHotspot(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Hotspot: []hotspot.Rule{{Resource: "GET /users/:id", ParamKey: "id", Threshold: 1,
		SpecificItems: []hotspot.SpecificItem{{Value: "vip", Threshold: 3}}}}})
	s := newServer(t, eng, sluicegin.WithParamAttachment("id"))
	s.r.GET("/users/:id", s.ok)
	s.start()

	for i, step := range []struct {
		path string
		want int
	}{
		{"/users/1", 200}, {"/users/1", 429}, {"/users/2", 200},
		{"/users/vip", 200}, {"/users/vip", 200}, {"/users/vip", 200}, {"/users/vip", 429},
	} {
		if r := s.get(step.path); r.status != step.want {
			t.Fatalf("step %d (%s): status %d, want %d", i, step.path, r.status, step.want)
		}
	}
}

func TestArgsAndAttachment(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Hotspot: []hotspot.Rule{
		{Resource: "GET /q", ParamIndex: 0, Threshold: 1},                     // by the first argument
		{Resource: "GET /q", ParamKey: "tenant", Threshold: 2, ParamIndex: 0}, // by the attachment
	}})
	s := newServer(t, eng,
		sluicegin.WithArgs(func(c *gin.Context) []any { return []any{c.Query("item")} }),
		sluicegin.WithAttachment("tenant", func(c *gin.Context) any {
			if v := c.Query("tenant"); v != "" {
				return v
			}
			return nil // no attachment: not limited by the tenant rule
		}))
	s.r.GET("/q", s.ok)
	s.start()

	for i, step := range []struct {
		path string
		want int
	}{
		{"/q?item=a&tenant=t", 200}, {"/q?item=a&tenant=u", 429}, // item a: 1/s
		{"/q?item=b&tenant=t", 200}, {"/q?item=c&tenant=t", 429}, // tenant t: 2/s
		{"/q?item=d", 200}, {"/q?item=e", 200}, {"/q?item=f", 200}, // no tenant
	} {
		if r := s.get(step.path); r.status != step.want {
			t.Fatalf("step %d (%s): status %d, want %d", i, step.path, r.status, step.want)
		}
	}
}

func TestSystemRuleSeesInboundEntries(t *testing.T) {
	eng, _ := newEngine(t)
	if err := eng.LoadSystemRules([]system.Rule{{MetricType: system.Concurrency, TriggerCount: 1}}); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, eng)
	entered, release := make(chan struct{}), make(chan struct{})
	s.r.GET("/slow", func(c *gin.Context) {
		s.ran.Add(1)
		close(entered)
		<-release
		c.String(http.StatusOK, "done")
	})
	s.r.GET("/fast", s.ok)
	s.start()
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server's Close, even if the test fails

	first := make(chan response, 1)
	go func() { first <- s.get("/slow") }()
	select { // one inbound request in flight: a second would make 2 > 1
	case <-entered:
	case r := <-first:
		t.Fatalf("first request: %+v, want it in flight", r)
	}

	if r := s.get("/fast"); r.status != http.StatusTooManyRequests || r.retryAfter != "" || r.body != "429 Too Many Requests: blocked by a System rule\n" {
		t.Fatalf("second concurrent request: %+v, want 429 without Retry-After", r)
	}
	if st := eng.SystemStats(); st.Concurrency != 1 {
		t.Fatalf("inbound concurrency %d, want 1", st.Concurrency)
	}
	unblock()
	if r := <-first; r.status != http.StatusOK {
		t.Fatalf("first request: %+v", r)
	}
	if r := s.get("/fast"); r.status != http.StatusOK { // nothing in flight now
		t.Fatalf("after the first finished: %+v", r)
	}
	if s.ran.Load() != 2 {
		t.Fatalf("handlers ran %d times, want 2", s.ran.Load())
	}
}

func TestThrottlingWaitEndsWithClientContext(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "GET /queue", Threshold: 1,
		ControlBehavior: flow.Throttling, MaxQueueingTime: time.Minute}}})
	s := newServer(t, eng)
	finished := make(chan struct{}, 2) // one per request, when the server is done with it
	s.done = func() { finished <- struct{}{} }
	s.r.GET("/queue", s.ok)
	s.start()

	if r := s.get("/queue"); r.status != http.StatusOK { // takes the first slot
		t.Fatalf("first request: %+v", r)
	}
	<-finished

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL+"/queue", nil)
		resp, err := s.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	clk.BlockUntilTimers(1) // the second request waits its turn, 1 s away on the manual clock
	cancel()

	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("client: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not return after its context was cancelled")
	}
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		clk.Advance(time.Minute) // let the wait end, so that the server can close
		t.Fatal("the server still holds the queued request after the client went away")
	}
	if s.ran.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1 (not for the cancelled request)", s.ran.Load())
	}
	if n := clk.Timers(); n != 0 {
		t.Fatalf("%d timers still pending", n)
	}
	if st := stats(t, eng, "GET /queue"); st.Concurrency != 0 || st.PassQPS != 1 || st.BlockQPS != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDefaultEngine(t *testing.T) {
	// Without WithEngine the middleware uses sluice.Default().
	r := gin.New()
	r.Use(sluicegin.Middleware())
	r.GET("/default-engine-probe", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/default-engine-probe")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, ok := sluice.Default().Stats("GET /default-engine-probe"); !ok {
		t.Fatal("the default engine did not see the request")
	}
}

// A request that matched no route is named by a known method, or OTHER:
// made-up methods cannot mint resources.
func TestUnmatchedMadeUpMethodsShareOneResource(t *testing.T) {
	eng, _ := newEngine(t)
	s := newServer(t, eng)
	s.r.GET("/users/:id", s.ok)
	s.start()
	for _, m := range []string{"BREW", "WHEN", "PROPFIND"} {
		req, err := http.NewRequest(m, s.srv.URL+"/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if got := eng.Resources(); len(got) != 1 || got[0] != "OTHER "+sluicegin.UnmatchedRoute {
		t.Fatalf("resources %q, want one OTHER (unmatched)", got)
	}
}

// http.ErrAbortHandler (a client that went away, as httputil.ReverseProxy
// reports it) is not a failure of the route; the panic still goes on.
func TestAbortHandlerPanicIsNoFailure(t *testing.T) {
	eng, _ := newEngine(t)
	s := newServer(t, eng)
	s.r.GET("/proxy", func(c *gin.Context) { panic(http.ErrAbortHandler) })
	s.start()
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/proxy", nil)
	if resp, err := s.srv.Client().Do(req); err == nil {
		resp.Body.Close()
	}
	if st := stats(t, eng, "GET /proxy"); st.ErrorQPS != 0 || st.CompleteQPS != 1 || st.Concurrency != 0 {
		t.Fatalf("ErrAbortHandler: %+v, want completed without error", st)
	}
}
