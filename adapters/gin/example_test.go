package sluicegin_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/sluice-go/sluice"
	sluicegin "github.com/sluice-go/sluice/adapters/gin"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
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
	// 429 Retry-After="1" "Too Many Requests\n"
}
