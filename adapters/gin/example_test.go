package sluicegin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/sluice-go/sluice"
	sluicegin "github.com/sluice-go/sluice/adapters/gin"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/system"
)

func Example() {
	eng := sluice.New()
	defer eng.Close()
	err := eng.LoadRules(sluice.Rules{
		Flow: []flow.Rule{{Resource: "GET /users/:id", Threshold: 100}}, // 100/s on the route
		Hotspot: []hotspot.Rule{{Resource: "GET /users/:id", ParamKey: "X-User-ID",
			Threshold: 1}}, // 1/s per caller
	})
	if err != nil {
		panic(err)
	}

	r := gin.New()
	r.Use(gin.Recovery(), sluicegin.Middleware(
		sluicegin.WithEngine(eng),
		sluicegin.WithHeaderAttachment("X-User-ID"),
	))
	r.GET("/users/:id", func(c *gin.Context) { c.String(http.StatusOK, "user %s", c.Param("id")) })
	srv := httptest.NewServer(r)
	defer srv.Close()

	for _, id := range []string{"1", "2"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/users/"+id, nil)
		req.Header.Set("X-User-ID", "alice")
		resp, err := srv.Client().Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d Retry-After=%q %q\n", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Output:
	// 200 Retry-After="" "user 1"
	// 429 Retry-After="1" "429 Too Many Requests: blocked by a Hotspot rule\n"
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

	r := gin.New()
	r.Use(sluicegin.Middleware(sluicegin.WithEngine(eng),
		sluicegin.WithSkip(func(c *gin.Context) bool { return c.FullPath() == "/healthz" })))
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/orders", func(c *gin.Context) { c.String(http.StatusOK, "orders") })
	srv := httptest.NewServer(r)
	defer srv.Close()

	for _, path := range []string{"/healthz", "/orders"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %d %q\n", path, resp.StatusCode, body)
	}
	fmt.Println(eng.Resources())
	// Output:
	// /healthz: 200 "ok"
	// /orders: 429 "429 Too Many Requests: blocked by a System rule\n"
	// [GET /orders GET /work]
}
