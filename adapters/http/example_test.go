package sluicehttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sluice-go/sluice"
	sluicehttp "github.com/sluice-go/sluice/adapters/http"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/system"
)

// Middleware on a ServeMux names each request by its route pattern, so
// /items/1 and /items/2 share the rule on "GET /items/{id}": two requests a
// second, then 429 Too Many Requests with Retry-After.
func ExampleMiddleware() {
	eng := sluice.New(sluice.WithClock(clock.NewManual(time.Unix(0, 0))))
	defer eng.Close()
	_ = eng.LoadFlowRules([]flow.Rule{{Resource: "GET /items/{id}", Threshold: 2}}) // 2/s

	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "item %s", r.PathValue("id"))
	})
	srv := httptest.NewServer(sluicehttp.Middleware(sluicehttp.WithEngine(eng))(mux))
	defer srv.Close()

	for _, path := range []string{"/items/1", "/items/2", "/items/3"} {
		res, body := fetch(srv.URL + path)
		fmt.Printf("%s: %d %q Retry-After=%q\n", path, res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// /items/1: 200 "item 1" Retry-After=""
	// /items/2: 200 "item 2" Retry-After=""
	// /items/3: 429 "429 Too Many Requests: blocked by a Flow rule\n" Retry-After="1"
}

// RoundTripper guards the calls a client makes, per host; a blocked call
// is not sent and returns the *sluice.BlockError.
func ExampleRoundTripper() {
	eng := sluice.New()
	defer eng.Close()
	_ = eng.LoadFlowRules([]flow.Rule{{Resource: "GET payments.internal", Threshold: 0}})

	client := &http.Client{Transport: sluicehttp.RoundTripper(nil, sluicehttp.WithEngine(eng))}
	_, err := client.Get("http://payments.internal/charges")
	var be *sluice.BlockError
	if errors.As(err, &be) {
		fmt.Printf("blocked by a %v rule on %q; retry after %v\n", be.Type, be.Resource, be.RetryAfter)
	}
	// Output:
	// blocked by a Flow rule on "GET payments.internal"; retry after 1s
}

// WithSkip keeps a liveness probe answering while the service sheds load:
// here a system rule refuses every inbound request (one is already in
// flight, above a Concurrency trigger of 0), yet /healthz answers 200 and
// makes no entry, so it is neither limited nor counted.
func ExampleWithSkip() {
	eng := sluice.New()
	defer eng.Close()
	inFlight, _ := eng.Entry(context.Background(), "GET /work", sluice.WithTrafficType(sluice.Inbound))
	defer inFlight.Exit()
	_ = eng.LoadSystemRules([]system.Rule{{MetricType: system.Concurrency, TriggerCount: 0}})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "orders") })
	probe := func(r *http.Request) bool { return r.Pattern == "GET /healthz" }
	srv := httptest.NewServer(sluicehttp.Middleware(sluicehttp.WithEngine(eng), sluicehttp.WithSkip(probe))(mux))
	defer srv.Close()

	for _, path := range []string{"/healthz", "/orders"} {
		res, body := fetch(srv.URL + path)
		fmt.Printf("%s: %d %q\n", path, res.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()
	fmt.Println(eng.Resources())
	// Output:
	// /healthz: 200 "ok"
	// /orders: 429 "429 Too Many Requests: blocked by a System rule\n"
	// [GET /orders GET /work]
}

// fetch sends GET url and returns the response, its body read and closed.
func fetch(url string) (*http.Response, string) {
	res, err := http.Get(url)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		panic(err)
	}
	return res, string(body)
}
