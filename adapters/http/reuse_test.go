//go:build go1.23

package sluicehttp_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	sluicehttp "github.com/sluice-go/sluice/adapters/http"
)

// A request no route matches is answered by the mux's own handler, which
// the middleware calls itself (not routing the request a second time): the
// answer is the mux's, to the byte.
func TestUnmatchedAnswersAreTheMuxs(t *testing.T) {
	eng, _ := newEngine(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", ok)
	mux.HandleFunc("/static/", ok)
	guarded := sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux)
	for _, tc := range []struct{ method, target string }{
		{"GET", "/nowhere"},           // 404
		{"DELETE", "/items/1"},        // 405, with Allow
		{"GET", "/static"},            // 301 to /static/
		{"GET", "/static/../items/1"}, // 301 to the clean path, under the pattern it will match
		{"GET", "/a//b?q=1"},          // 301 to the clean path, no pattern
		{"OPTIONS", "*"},              // 400
	} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		mux.ServeHTTP(want, httptest.NewRequest(tc.method, tc.target, nil))
		guarded.ServeHTTP(got, httptest.NewRequest(tc.method, tc.target, nil))
		if got.Code != want.Code || got.Body.String() != want.Body.String() ||
			!slices.Equal(got.Header()["Location"], want.Header()["Location"]) ||
			!slices.Equal(got.Header()["Allow"], want.Header()["Allow"]) {
			t.Errorf("%s %s: %d %q %v, the mux answers %d %q %v", tc.method, tc.target,
				got.Code, got.Body, got.Header(), want.Code, want.Body, want.Header())
		}
	}
}

// The writer that records a request's status is reused for the next
// request once the handler returns: nothing of the last request is left in
// it.
func TestReusedWriterStartsAfresh(t *testing.T) {
	eng, _ := newEngine(t)
	var statuses []int
	mw := sluicehttp.Middleware(sluicehttp.WithEngine(eng), sluicehttp.WithStatusIsFailure(func(status int) bool {
		statuses = append(statuses, status)
		return status >= 500
	}))
	var answer int
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answer != 0 {
			w.WriteHeader(answer)
		}
	}))
	for _, a := range []int{503, 0, 404, 0} {
		answer = a
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if want := max(a, 200); w.Code != want {
			t.Fatalf("answer %d: status %d", a, w.Code)
		}
	}
	if want := []int{503, 200, 404, 200}; !slices.Equal(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
}
