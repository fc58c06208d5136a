//go:build go1.23

package sluicehttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-go/sluice"
	sluicehttp "github.com/sluice-go/sluice/adapters/http"
	"github.com/sluice-go/sluice/adapters/internal/adaptertest"
)

// The allocation tests serve one request in-process (httptest.NewRecorder
// and ServeHTTP, a fake next transport for the client) without the adapter
// and with it, and check that the adapter adds no allocation of its own:
// the framework's allocations (the recorder, the header map, routing) are
// in both.

// allocEngine returns an engine on a manual clock with a flow rule on
// each resource the allocation tests pass (so that the rule is checked),
// a flow rule of 0 on "GET /blocked", and hotspot rules on "GET /hot" for
// the argument and attachment options.
func allocEngine(t *testing.T) *sluice.Engine {
	t.Helper()
	eng, _ := newEngine(t)
	mustLoad(t, eng, adaptertest.AllocRules("GET /orders", "GET /plain", "GET /items/{id}", "GET (unmatched)",
		"OTHER (unmatched)", "GET /spaced", "GET /hot", "GET /failing", "named", "GET api.example.com", "GET 127.0.0.1:8080"))
	return eng
}

// serveOnce returns a run of h on a fresh recorder for req, checking the
// status. Each run clears the pattern a ServeMux set in req, as a request
// comes from the server.
func serveOnce(t *testing.T, h http.Handler, req *http.Request, status int) func() {
	return func() {
		req.Pattern = ""
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != status {
			t.Fatalf("%s %s: status %d, want %d", req.Method, req.URL.Path, w.Code, status)
		}
	}
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

func fail(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }

// routingAllocs returns what mux.Handler allocates for req: what the
// middleware adds when it asks a ServeMux for the pattern of a request the
// mux then routes again (see Middleware).
func routingAllocs(mux *http.ServeMux, req *http.Request) float64 {
	return testing.AllocsPerRun(adaptertest.AllocRuns, func() {
		req.Pattern = ""
		mux.Handler(req)
	})
}

// boxed values, as a user's extractor returns values it already holds.
var (
	boxedTenant any   = "tenant-1"
	userArgs    []any = []any{boxedTenant, 42_000}
)

func TestMiddlewareAllocatesNothing(t *testing.T) {
	eng := allocEngine(t)
	mux := http.NewServeMux()
	for _, p := range []string{"GET /orders", "/plain", "GET /items/{id}", "GET  /spaced", "GET /hot", "GET /blocked"} {
		mux.HandleFunc(p, ok)
	}
	mux.HandleFunc("GET /failing", fail)
	// The middleware inside the mux, on the route's handler, and the same
	// mux without it.
	mw := sluicehttp.Middleware(sluicehttp.WithEngine(eng))
	inside, insideBaseline := http.NewServeMux(), http.NewServeMux()
	inside.Handle("GET /items/{id}", mw(http.HandlerFunc(ok)))
	insideBaseline.HandleFunc("GET /items/{id}", ok)
	// What the middleware answers a blocked request, written by a handler:
	// the baseline of the blocked request.
	var blockErr *sluice.BlockError
	if _, err := eng.Entry(context.Background(), "GET /blocked"); !errors.As(err, &blockErr) {
		t.Fatalf("GET /blocked: %v, want a block", err)
	}
	writeBlocked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if blockErr.RetryAfter > 0 {
			h.Set("Retry-After", "1")
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, "429 Too Many Requests: ")
		_, _ = io.WriteString(w, "blocked by a Flow rule")
		_, _ = io.WriteString(w, "\n")
	})
	blockedMux := http.NewServeMux()
	blockedMux.Handle("GET /blocked", writeBlocked)

	withUser := httptest.NewRequest(http.MethodGet, "/hot", nil)
	withUser.Header.Set("X-User", "u-1")
	for _, tc := range []struct {
		name     string
		next     http.Handler // the handler without the middleware
		baseline http.Handler // what the baseline runs, if not next
		req      *http.Request
		status   int
		extra    float64 // allocations the middleware adds (see Middleware)
		// The middleware asks the mux next for the pattern of req, which
		// it then serves: the routing allocations are made twice.
		routedTwice bool
		opts        []sluicehttp.Option
		inside      bool // next has the middleware on its routes: use it as it is
	}{
		{name: "pattern with a method", next: mux, req: httptest.NewRequest(http.MethodGet, "/orders", nil), status: 200},
		{name: "pattern without a method", next: mux, req: httptest.NewRequest(http.MethodGet, "/plain", nil), status: 200,
			routedTwice: true}, // the mux tries "GET /items/{id}" first
		{name: "pattern with blanks", next: mux, req: httptest.NewRequest(http.MethodGet, "/spaced", nil), status: 200},
		{name: "pattern with a wildcard", next: mux, req: httptest.NewRequest(http.MethodGet, "/items/42", nil), status: 200,
			routedTwice: true},
		{name: "pattern with a wildcard, middleware inside the mux", next: inside, baseline: insideBaseline, inside: true,
			req: httptest.NewRequest(http.MethodGet, "/items/42", nil), status: 200},
		{name: "failure status", next: mux, req: httptest.NewRequest(http.MethodGet, "/failing", nil), status: 503},
		{name: "unmatched", next: mux, req: httptest.NewRequest(http.MethodGet, "/nowhere", nil), status: 404},
		{name: "unknown method", next: mux, req: httptest.NewRequest("PURGE", "/orders", nil), status: 405},
		{name: "no ServeMux", next: http.HandlerFunc(ok), req: httptest.NewRequest(http.MethodGet, "/orders", nil), status: 200},
		{name: "resource extractor", next: mux, req: httptest.NewRequest(http.MethodGet, "/orders", nil), status: 200,
			opts: []sluicehttp.Option{sluicehttp.WithResourceExtractor(func(*http.Request) string { return "named" })}},
		{name: "skipped", next: mux, req: httptest.NewRequest(http.MethodGet, "/orders", nil), status: 200,
			opts: []sluicehttp.Option{sluicehttp.WithSkip(func(r *http.Request) bool { return true })}},
		{name: "args and attachment", next: mux, req: httptest.NewRequest(http.MethodGet, "/hot", nil), status: 200,
			opts: []sluicehttp.Option{
				sluicehttp.WithArgs(func(*http.Request) []any { return userArgs }),
				sluicehttp.WithAttachment("tenant", func(*http.Request) any { return boxedTenant }),
			}},
		{name: "header attachment, header absent", next: mux, req: httptest.NewRequest(http.MethodGet, "/hot", nil), status: 200,
			opts: []sluicehttp.Option{sluicehttp.WithHeaderAttachment("X-User")}},
		{name: "header attachment, header present", next: mux, req: withUser, status: 200,
			extra: 1, // the header's value boxed as the attachment (see WithHeaderAttachment)
			opts:  []sluicehttp.Option{sluicehttp.WithHeaderAttachment("X-User")}},
		{name: "blocked", next: mux, baseline: blockedMux, req: httptest.NewRequest(http.MethodGet, "/blocked", nil), status: 429},
		{name: "blocked, no ServeMux", next: http.HandlerFunc(ok), baseline: writeBlocked, req: httptest.NewRequest(http.MethodGet, "/blocked", nil), status: 429,
			opts: []sluicehttp.Option{sluicehttp.WithResourceExtractor(func(*http.Request) string { return "GET /blocked" })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			baseline := tc.baseline
			if baseline == nil {
				baseline = tc.next
			}
			with := tc.next
			if !tc.inside {
				with = sluicehttp.Middleware(append([]sluicehttp.Option{sluicehttp.WithEngine(eng)}, tc.opts...)...)(tc.next)
			}
			extra := tc.extra
			if tc.routedTwice {
				extra += routingAllocs(tc.next.(*http.ServeMux), tc.req)
				t.Logf("routing %s allocates %v", tc.req.URL.Path, extra-tc.extra)
			}
			adaptertest.WantExtraAllocs(t, extra, serveOnce(t, baseline, tc.req, tc.status), serveOnce(t, with, tc.req, tc.status))
		})
	}
}

// staticTransport answers every request with 200 and a body of its own,
// as a real transport does.
type staticTransport struct{ body bool }

func (s staticTransport) RoundTrip(*http.Request) (*http.Response, error) {
	res := &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}
	if s.body {
		res.Body = io.NopCloser(strings.NewReader("ok"))
	}
	return res, nil
}

// blockedTransport answers as RoundTripper does a blocked request.
type blockedTransport struct{ err error }

func (b blockedTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, b.err }

func TestRoundTripperAllocatesNothing(t *testing.T) {
	eng := allocEngine(t)
	var blockErr *sluice.BlockError
	if _, err := eng.Entry(context.Background(), "GET /blocked"); !errors.As(err, &blockErr) {
		t.Fatalf("GET /blocked: %v, want a block", err)
	}
	send := func(rt http.RoundTripper, req *http.Request, wantErr bool) func() {
		return func() {
			res, err := rt.RoundTrip(req)
			if (err != nil) != wantErr {
				t.Fatalf("%s %s: %v", req.Method, req.URL, err)
			}
			if res != nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}
	}
	withUser := httptest.NewRequest(http.MethodGet, "http://api.example.com/hot", nil)
	withUser.RequestURI = ""
	withUser.Header.Set("X-User", "u-1")
	for _, tc := range []struct {
		name     string
		next     http.RoundTripper
		baseline http.RoundTripper // if not next
		url      string
		req      *http.Request // if not a GET of url
		blocked  bool
		extra    float64
		opts     []sluicehttp.Option
	}{
		{name: "no body", next: staticTransport{}, url: "http://api.example.com/orders"},
		{name: "host with a port", next: staticTransport{}, url: "http://127.0.0.1:8080/orders"},
		{name: "body", next: staticTransport{body: true}, url: "http://api.example.com/orders",
			extra: 1}, // the body's wrapper (see RoundTripper)
		{name: "resource extractor", next: staticTransport{}, url: "http://api.example.com/orders",
			opts: []sluicehttp.Option{sluicehttp.WithResourceExtractor(func(*http.Request) string { return "named" })}},
		{name: "args and attachment", next: staticTransport{}, url: "http://api.example.com/hot",
			opts: []sluicehttp.Option{
				sluicehttp.WithResourceExtractor(func(*http.Request) string { return "GET /hot" }),
				sluicehttp.WithArgs(func(*http.Request) []any { return userArgs }),
				sluicehttp.WithAttachment("tenant", func(*http.Request) any { return boxedTenant }),
			}},
		{name: "header attachment, header present", next: staticTransport{}, req: withUser,
			extra: 1, // the header's value boxed as the attachment (see WithHeaderAttachment)
			opts: []sluicehttp.Option{
				sluicehttp.WithResourceExtractor(func(*http.Request) string { return "GET /hot" }),
				sluicehttp.WithHeaderAttachment("X-User"),
			}},
		{name: "blocked", next: staticTransport{}, baseline: blockedTransport{blockErr}, url: "http://api.example.com/blocked", blocked: true,
			opts: []sluicehttp.Option{sluicehttp.WithResourceExtractor(func(*http.Request) string { return "GET /blocked" })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req == nil {
				var err error
				if req, err = http.NewRequest(http.MethodGet, tc.url, nil); err != nil {
					t.Fatal(err)
				}
			}
			baseline := tc.baseline
			if baseline == nil {
				baseline = tc.next
			}
			with := sluicehttp.RoundTripper(tc.next, append([]sluicehttp.Option{sluicehttp.WithEngine(eng)}, tc.opts...)...)
			adaptertest.WantExtraAllocs(t, tc.extra, send(baseline, req, tc.blocked), send(with, req, tc.blocked))
		})
	}
}
