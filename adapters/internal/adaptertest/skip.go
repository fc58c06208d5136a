package adaptertest

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-go/sluice"
)

// WantRefusedOnly checks that eng, after ShedAllInbound, made no entry but
// the held one and one refused entry to each of refused: a skipped request
// or call made none.
func WantRefusedOnly(t testing.TB, eng *sluice.Engine, refused ...string) {
	t.Helper()
	want := slices.Sorted(slices.Values(append([]string{HeldResource}, refused...)))
	if got := eng.Resources(); !slices.Equal(got, want) {
		t.Fatalf("resources %q, want %q: a skipped request made an entry", got, want)
	}
	if ss := eng.SystemStats(); ss.PassQPS != 1 || ss.BlockQPS != float64(len(refused)) {
		t.Fatalf("inbound pass %v block %v, want 1 (the held entry) and %d", ss.PassQPS, ss.BlockQPS, len(refused))
	}
}

// WantHealthzSkipped checks a server at base whose middleware, on an engine
// after ShedAllInbound, skips GET /healthz (answering 200 "ok") and guards
// GET /orders: /healthz answers, /orders is refused with 429 by the system
// rule, and so handlers, the count of route handler runs, ends at 1.
func WantHealthzSkipped(t testing.TB, client *http.Client, base string, handlers func() int64) {
	t.Helper()
	if status, body := get(t, client, base+"/healthz"); status != http.StatusOK || body != "ok" {
		t.Fatalf("/healthz: %d %q, want 200 ok", status, body)
	}
	if status, body := get(t, client, base+"/orders"); status != http.StatusTooManyRequests ||
		body != "429 Too Many Requests: blocked by a System rule" {
		t.Fatalf("/orders: %d %q, want 429 blocked by a System rule", status, body)
	}
	if n := handlers(); n != 1 {
		t.Fatalf("handlers ran %d times, want 1 (the health check)", n)
	}
}

// get sends GET url and returns the status and the body, trimmed.
func get(t testing.TB, client *http.Client, url string) (status int, body string) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, strings.TrimSpace(string(b))
}
