package sluicehttp_test

import (
	"errors"
	"github.com/sluice-go/sluice/adapters/internal/adaptertest"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-go/sluice"
	sluicehttp "github.com/sluice-go/sluice/adapters/http"
	"github.com/sluice-go/sluice/core/isolation"
)

// The user's code that runs while a request holds its entry (the next
// transport, its response body, the WithStatusIsFailure function) must
// not keep the entry in flight when it panics: under an isolation rule of
// 1, one such panic would block the resource for the life of the process.

// isolationOf1 lets one request of resource in flight at a time.
func isolationOf1(t *testing.T, eng *sluice.Engine, resource string) {
	t.Helper()
	mustLoad(t, eng, sluice.Rules{Isolation: []isolation.Rule{{Resource: resource, Threshold: 1}}})
}

// wantReleased fails t unless resource has nothing in flight.
func wantReleased(t *testing.T, eng *sluice.Engine, resource, when string) {
	t.Helper()
	if c := concurrency(eng, resource); c != 0 {
		t.Fatalf("%s: concurrency %d, want 0 (the entry leaked)", when, c)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// roundTrip sends GET url through rt and returns its outcome and what it
// panicked with, if it did.
func roundTrip(t *testing.T, rt http.RoundTripper, url string) (res *http.Response, err error, panicked any) {
	t.Helper()
	req, rerr := http.NewRequest(http.MethodGet, url, nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	defer func() { panicked = recover() }()
	res, err = rt.RoundTrip(req)
	return res, err, nil
}

// getAll sends GET url through rt and reads the whole answer, failing t on
// any error or panic.
func getAll(t *testing.T, rt http.RoundTripper, url string) (int, string) {
	t.Helper()
	res, err, v := roundTrip(t, rt, url)
	if v != nil || err != nil {
		t.Fatalf("GET %s: %v, panic %v", url, err, v)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// A transport that panics: the panic goes on to the caller, as before,
// but the entry exits, with the panic recorded as a failure.
func TestClientTransportPanicReleasesEntry(t *testing.T) {
	eng, _ := newEngine(t)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") }))
	real := srv.Client().Transport
	var calls atomic.Int64
	rt, res := guardedTransport(t, srv, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if calls.Add(1) == 1 {
			panic("transport bug")
		}
		return real.RoundTrip(r)
	}), sluicehttp.WithEngine(eng))
	isolationOf1(t, eng, res)

	if _, _, v := roundTrip(t, rt, srv.URL); v != "transport bug" {
		t.Fatalf("RoundTrip panicked with %v, want the transport's panic", v)
	}
	wantReleased(t, eng, res, "after the transport panicked")
	if st, _ := eng.Stats(res); st.ErrorQPS != 1 || st.CompleteQPS != 1 {
		t.Fatalf("stats %+v, want the panic recorded as a failure", st)
	}
	if status, body := getAll(t, rt, srv.URL); status != 200 || body != "hello" {
		t.Fatalf("next request under an isolation rule of 1: %d %q", status, body)
	}
	wantReleased(t, eng, res, "after the next request")
}

// A transport that returns neither a response nor an error breaks the
// RoundTripper contract: the request passes through as it came (an
// http.Client reports it), and the entry exits as a failure.
func TestClientNilResponseNilErrorReleasesEntry(t *testing.T) {
	eng, _ := newEngine(t)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") }))
	rt, res := guardedTransport(t, srv, roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil }),
		sluicehttp.WithEngine(eng))
	isolationOf1(t, eng, res)

	r, err, v := roundTrip(t, rt, srv.URL)
	if v != nil || r != nil || err != nil {
		t.Fatalf("RoundTrip = %v, %v, panic %v; want nil, nil as the transport said", r, err, v)
	}
	wantReleased(t, eng, res, "after a nil response and a nil error")
	if st, _ := eng.Stats(res); st.ErrorQPS != 1 {
		t.Fatalf("stats %+v, want a failure", st)
	}
	if st, _ := eng.Stats(res); st.PassQPS != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Admitted again (isolation of 1).
	if r, err, v := roundTrip(t, rt, srv.URL); v != nil || r != nil || err != nil {
		t.Fatalf("next request: %v, %v, %v", r, err, v)
	}
	if st, _ := eng.Stats(res); st.PassQPS != 2 || st.BlockQPS != 0 {
		t.Fatalf("stats %+v, want the next request admitted", st)
	}
}

// panickingBody is a response body whose Read panics once.
type panickingBody struct {
	rc     io.ReadCloser
	reads  atomic.Int64
	closed atomic.Bool
}

func (b *panickingBody) Read(p []byte) (int, error) {
	if b.reads.Add(1) == 1 {
		panic("body bug")
	}
	return b.rc.Read(p)
}

func (b *panickingBody) Close() error { b.closed.Store(true); return b.rc.Close() }

// A response body (the transport's) whose Read panics: the panic goes on
// to the reader, and the entry exits at once as a failure, without waiting
// for a Close that a panicking caller may never make.
func TestClientBodyReadPanicReleasesEntry(t *testing.T) {
	eng, _ := newEngine(t)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") }))
	real := srv.Client().Transport
	var first atomic.Pointer[panickingBody]
	rt, res := guardedTransport(t, srv, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := real.RoundTrip(r)
		if err == nil {
			b := &panickingBody{rc: resp.Body}
			if first.CompareAndSwap(nil, b) {
				resp.Body = b
			}
		}
		return resp, err
	}), sluicehttp.WithEngine(eng))
	isolationOf1(t, eng, res)

	r, err, v := roundTrip(t, rt, srv.URL)
	if err != nil || v != nil {
		t.Fatalf("RoundTrip: %v, panic %v", err, v)
	}
	func() {
		defer func() { v = recover() }()
		_, _ = io.ReadAll(r.Body)
	}()
	if v != "body bug" {
		t.Fatalf("Read panicked with %v, want the body's panic", v)
	}
	wantReleased(t, eng, res, "after the body's Read panicked, before Close")
	if st, _ := eng.Stats(res); st.ErrorQPS != 1 || st.CompleteQPS != 1 {
		t.Fatalf("stats %+v, want the panic recorded as a failure", st)
	}
	r.Body.Close()
	if !first.Load().closed.Load() {
		t.Fatal("Close did not reach the transport's body")
	}
	if st, _ := eng.Stats(res); st.CompleteQPS != 1 {
		t.Fatalf("exited twice: %+v", st)
	}
	if status, body := getAll(t, rt, srv.URL); status != 200 || body != "hello" {
		t.Fatalf("next request under an isolation rule of 1: %d %q", status, body)
	}
	wantReleased(t, eng, res, "after the next request")
}

// A WithStatusIsFailure function that panics is contained: the caller
// gets the response, the panic is logged, the status counts as no failure,
// and the entry exits when the body is done.
func TestClientPanickingStatusClassifierIsContained(t *testing.T) {
	logs := adaptertest.CaptureDefaultLog(t)
	eng, _ := newEngine(t)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "busy")
	}))
	var calls atomic.Int64
	rt, res := guardedTransport(t, srv, srv.Client().Transport, sluicehttp.WithEngine(eng),
		sluicehttp.WithStatusIsFailure(func(s int) bool {
			if calls.Add(1) == 1 {
				panic("classifier bug")
			}
			return s >= 500
		}))
	isolationOf1(t, eng, res)

	r, err, v := roundTrip(t, rt, srv.URL)
	if v != nil || err != nil {
		t.Fatalf("RoundTrip: %v, panic %v; want the response", err, v)
	}
	if b, err := io.ReadAll(r.Body); err != nil || r.StatusCode != 503 || string(b) != "busy" {
		t.Fatalf("response %d %q, %v", r.StatusCode, b, err)
	}
	r.Body.Close()
	wantReleased(t, eng, res, "after a panicking WithStatusIsFailure")
	if st, _ := eng.Stats(res); st.ErrorQPS != 0 || st.CompleteQPS != 1 {
		t.Fatalf("stats %+v, want a status the classifier could not judge to count as no failure", st)
	}
	if l := logs.String(); !strings.Contains(l, "WithStatusIsFailure function panicked") ||
		!strings.Contains(l, "classifier bug") || !strings.Contains(l, res) {
		t.Fatalf("the panic was not logged with the resource: %q", l)
	}
	if status, _ := getAll(t, rt, srv.URL); status != 503 {
		t.Fatalf("next request under an isolation rule of 1: %d", status)
	}
	if st, _ := eng.Stats(res); st.ErrorQPS != 1 || st.Concurrency != 0 {
		t.Fatalf("stats %+v, want the next 503 counted", st)
	}
}

// guardedTransport returns next guarded by RoundTripper with opts, and the
// resource name of GET requests to srv.
func guardedTransport(t *testing.T, srv *httptest.Server, next http.RoundTripper, opts ...sluicehttp.Option) (http.RoundTripper, string) {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return sluicehttp.RoundTripper(next, opts...), "GET " + u.Host
}

// A WithStatusIsFailure function that panics in Middleware is contained:
// the client gets the handler's answer (before, the panic went on to
// net/http, which dropped the connection), the panic is logged, and the
// status counts as no failure.
func TestMiddlewarePanickingStatusClassifierIsContained(t *testing.T) {
	logs := adaptertest.CaptureDefaultLog(t)
	eng, _ := newEngine(t)
	isolationOf1(t, eng, "GET /x")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "upstream down")
	})
	var calls atomic.Int64
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng),
		sluicehttp.WithStatusIsFailure(func(s int) bool {
			if calls.Add(1) == 1 {
				panic(errors.New("classifier bug"))
			}
			return s >= 500
		}))(mux))

	res, err := srv.Client().Get(srv.URL + "/x")
	if err != nil {
		t.Fatalf("the classifier's panic reached the client: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 502 || string(b) != "upstream down" {
		t.Fatalf("answer %d %q, want the handler's", res.StatusCode, b)
	}
	wantReleased(t, eng, "GET /x", "after a panicking WithStatusIsFailure")
	if st, _ := eng.Stats("GET /x"); st.ErrorQPS != 0 || st.CompleteQPS != 1 {
		t.Fatalf("stats %+v, want no failure", st)
	}
	if l := logs.String(); !strings.Contains(l, "WithStatusIsFailure function panicked") ||
		!strings.Contains(l, "classifier bug") || !strings.Contains(l, "GET /x") {
		t.Fatalf("the panic was not logged with the resource: %q", l)
	}
	if a := get(t, srv, "/x"); a.status != 502 {
		t.Fatalf("next request under an isolation rule of 1: %+v", a)
	}
	if st, _ := eng.Stats("GET /x"); st.ErrorQPS != 1 || st.Concurrency != 0 || st.BlockQPS != 0 {
		t.Fatalf("stats %+v", st)
	}
}
