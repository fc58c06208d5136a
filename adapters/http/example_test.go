package sluicehttp_test

import (
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
		res, err := http.Get(srv.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("%s: %d %q Retry-After=%q\n", path, res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// /items/1: 200 "item 1" Retry-After=""
	// /items/2: 200 "item 2" Retry-After=""
	// /items/3: 429 "Too Many Requests\n" Retry-After="1"
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
