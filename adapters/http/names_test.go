//go:build go1.23

package sluicehttp_test

import (
	"net/http"
	"slices"
	"testing"

	sluicehttp "github.com/sluice-go/sluice/adapters/http"
)

func TestDefaultResourceName(t *testing.T) {
	for _, tc := range []struct{ method, pattern, want string }{
		{"GET", "", "GET (unmatched)"},
		{"GET", "/items/{id}", "GET /items/{id}"},
		{"HEAD", "GET /items/{id}", "GET /items/{id}"}, // the method is not prefixed twice
		{"GET", "GET\t/x", "GET /x"},
		{"GET", "GET  /x", "GET /x"},
		{"POST", "example.com/x", "POST example.com/x"},
		{"GET", "GET example.com/x", "GET example.com/x"},
		{"PURGE", "/cache/", "OTHER /cache/"},
		{"PURGE", "", "OTHER (unmatched)"},
		{"PURGE", "PURGE /cache/", "PURGE /cache/"}, // a registered method stays
	} {
		r := &http.Request{Method: tc.method, Pattern: tc.pattern}
		if got := sluicehttp.DefaultResourceName(r); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.method, tc.pattern, got, tc.want)
		}
	}
}

// Go 1.23 and later: patterns may separate the method with several blanks,
// and a handler inside the mux sees r.Pattern.
func TestResourceNameSpacedPattern(t *testing.T) {
	eng, _ := newEngine(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET  /spaced", func(http.ResponseWriter, *http.Request) {})
	srv := serve(t, sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))
	if a := get(t, srv, "/spaced"); a.status != 200 {
		t.Fatalf("answer %+v", a)
	}
	if got := eng.Resources(); !slices.Equal(got, []string{"GET /spaced"}) {
		t.Fatalf("resources %q", got)
	}
}

// Inside the mux, the middleware reads the pattern the mux set.
func TestResourceNameInsideServeMux(t *testing.T) {
	eng, _ := newEngine(t)
	mw := sluicehttp.Middleware(sluicehttp.WithEngine(eng))
	mux := http.NewServeMux()
	mux.Handle("/users/{id}", mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	srv := serve(t, mux)
	get(t, srv, "/users/1")
	get(t, srv, "/users/2")
	if got := eng.Resources(); !slices.Equal(got, []string{"GET /users/{id}"}) {
		t.Fatalf("resources %q", got)
	}
}
