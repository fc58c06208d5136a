package sluicehttp_test

import (
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Unix(1_700_000_000, 0)

// newEngine returns an engine on a manual clock, closed when t ends.
func newEngine(t *testing.T, opts ...sluice.Option) (*sluice.Engine, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(t0)
	return newEngineWith(t, append([]sluice.Option{sluice.WithClock(clk)}, opts...)...), clk
}

// newEngineWith returns an engine made with opts (the real clock unless
// they say otherwise) and a quiet logger, closed when t ends.
func newEngineWith(t *testing.T, opts ...sluice.Option) *sluice.Engine {
	t.Helper()
	eng := sluice.New(append([]sluice.Option{
		sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)...)
	t.Cleanup(func() { eng.Close() })
	return eng
}

func mustLoad(t *testing.T, eng *sluice.Engine, r sluice.Rules) {
	t.Helper()
	if err := eng.LoadRules(r); err != nil {
		t.Fatal(err)
	}
}

// serve starts a real HTTP server on loopback for h, closed when t ends,
// with its handler panics logged into the void.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(func() {
		srv.Client().CloseIdleConnections()
		srv.Close()
	})
	return srv
}

type answer struct {
	status     int
	retryAfter string
	body       string
}

// do sends method path to srv with the header key-value pairs kv, and reads
// the whole answer.
func do(t *testing.T, srv *httptest.Server, method, path string, kv ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header.Get("Retry-After"), strings.TrimSpace(string(b))}
}

func get(t *testing.T, srv *httptest.Server, path string, kv ...string) answer {
	t.Helper()
	return do(t, srv, http.MethodGet, path, kv...)
}

// within fails t unless ch delivers within d.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
		panic("unreachable")
	}
}

// waitFor polls cond until it holds, failing t after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func concurrency(eng *sluice.Engine, resource string) int64 {
	st, _ := eng.Stats(resource)
	return st.Concurrency
}
