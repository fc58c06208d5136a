// Command gin shows the Sluice gin middleware at work: it starts a gin
// server on loopback whose route GET /hello is guarded by two rules, drives
// a load that ramps up against it, and prints, once a second, how many
// requests got 200 and how many 429.
//
//	flow rule     GET /hello: 20 requests/s in all (Reject)
//	hotspot rule  GET /hello: 5 requests/s per user, the X-User header
//
// The load: ordinary users (user-1 … user-20, under 2.5/s each, never near
// their own limit) whose total rate climbs from 5/s to 45/s over the run;
// and one user, mallory, who sends 8/s throughout, of which her per-user
// limit admits about 5 (her token bucket starts full, so a few more in the
// first second). At first only mallory sees 429s; once the total passes the
// flow rule's 20/s, ordinary users' 200s turn into 429s too. Every 429
// carries Retry-After: 1 (both rules count over one second).
//
// Run it from the repository root:
//
//	go run ./example/gin [-duration 6s] [-addr 127.0.0.1:0]
//
// While it runs, call the server yourself (the program prints the line with
// its port; give -addr 127.0.0.1:8080 and a longer -duration to choose it):
//
//	curl -i -H 'X-User: alice' http://127.0.0.1:8080/hello
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/sluice-go/sluice"
	sluicegin "github.com/sluice-go/sluice/adapters/gin"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
)

const (
	route        = "GET /hello" // the resource: method and gin route pattern
	userHeader   = "X-User"
	routeLimit   = 20 // requests/s on the route
	perUserLimit = 5  // requests/s per user
	startRate    = 5  // ordinary users' total rate at the start, requests/s
	endRate      = 45 // and at the end
	users        = 20 // ordinary users
	heavyUser    = "mallory"
	heavyRate    = 8 // mallory's rate, requests/s
)

var intro = fmt.Sprintf(`Sluice gin middleware: GET /hello is guarded by
  a flow rule of %d requests/s on the route, and
  a hotspot rule of %d requests/s per user (header %s).
Ordinary users' load ramps from %d/s to %d/s, so 200s turn into 429s once
the total passes %d/s; %s sends %d/s throughout and gets about %d/s of them.
`, routeLimit, perUserLimit, userHeader, startRate, endRate, routeLimit, heavyUser, heavyRate, perUserLimit)

func main() {
	duration := flag.Duration("duration", 6*time.Second, "how long to drive load; a table row is printed each second")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (port 0: any free port)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: gin [-duration d] [-addr host:port]\n\n%s\nFlags:\n", intro)
		flag.PrintDefaults()
	}
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := serveAndLoad(ctx, os.Stdout, *duration, *addr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gin:", err)
		os.Exit(1)
	}
}

// run serves on 127.0.0.1:0 and drives the load for d (rounded to whole
// seconds, at least one), writing the report to out. It returns early,
// still with a summary, when ctx is done; the server and every goroutine
// it started have stopped when it returns.
func run(ctx context.Context, out io.Writer, d time.Duration) error {
	return serveAndLoad(ctx, out, d, "127.0.0.1:0")
}

// counts is what the load saw, in a second or in all.
type counts struct {
	sent, ok, blocked, heavyOK, heavyBlocked, failed atomic.Int64
}

func serveAndLoad(ctx context.Context, out io.Writer, d time.Duration, addr string) error {
	if d <= 0 {
		return fmt.Errorf("duration must be positive, got %v", d)
	}
	eng := sluice.New()
	defer eng.Close()
	err := eng.LoadRules(sluice.Rules{
		Flow:    []flow.Rule{{Resource: route, Threshold: routeLimit}},
		Hotspot: []hotspot.Rule{{Resource: route, ParamKey: userHeader, Threshold: perUserLimit}},
	})
	if err != nil {
		return err
	}

	r := gin.New()
	r.Use(gin.Recovery(), sluicegin.Middleware(
		sluicegin.WithEngine(eng),
		sluicegin.WithHeaderAttachment(userHeader), // the hotspot rule's ParamKey
	))
	r.GET("/hello", func(c *gin.Context) {
		c.String(http.StatusOK, "hello, %s\n", c.GetHeader(userHeader))
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		<-served
	}()
	url := "http://" + ln.Addr().String() + "/hello"

	fmt.Fprint(out, intro, "\n")
	fmt.Fprintf(out, "Try it while it runs:\n  curl -i -H '%s: alice' %s\n\n", userHeader, url)
	fmt.Fprintf(out, "%5s %6s %6s %6s   %12s %12s\n", "time", "sent/s", "200", "429", heavyUser+" 200", heavyUser+" 429")

	transport := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 10 * time.Second}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}

	var sec, total counts
	var sample atomic.Pointer[string] // one 429's Retry-After, for the summary
	call := func(ctx context.Context, user string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return
		}
		req.Header.Set(userHeader, user)
		sec.sent.Add(1)
		total.sent.Add(1)
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				sec.failed.Add(1)
				total.failed.Add(1)
			}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		heavy := user == heavyUser
		switch resp.StatusCode {
		case http.StatusOK:
			add(&sec.ok, &total.ok, &sec.heavyOK, &total.heavyOK, heavy)
		case http.StatusTooManyRequests:
			add(&sec.blocked, &total.blocked, &sec.heavyBlocked, &total.heavyBlocked, heavy)
			ra := resp.Header.Get("Retry-After")
			sample.CompareAndSwap(nil, &ra)
		default:
			sec.failed.Add(1)
			total.failed.Add(1)
		}
	}

	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	var ordinary atomic.Int64
	wg.Add(2)
	go func() { // ordinary users, ramping up
		defer wg.Done()
		pace(load, &wg, func(elapsed time.Duration) float64 {
			f := min(float64(elapsed)/float64(d), 1)
			return startRate + f*(endRate-startRate)
		}, func(ctx context.Context) {
			call(ctx, fmt.Sprintf("user-%d", ordinary.Add(1)%users+1))
		})
	}()
	go func() { // mallory, steady
		defer wg.Done()
		pace(load, &wg, func(time.Duration) float64 { return heavyRate }, func(ctx context.Context) { call(ctx, heavyUser) })
	}()

	rows := max(1, int(d.Round(time.Second)/time.Second))
	tick := time.NewTicker(time.Second)
report:
	for i := 1; i <= rows; i++ {
		select {
		case <-ctx.Done():
			break report
		case <-tick.C:
		}
		sent, ok, blocked := sec.sent.Swap(0), sec.ok.Swap(0), sec.blocked.Swap(0)
		heavyOK, heavyBlocked := sec.heavyOK.Swap(0), sec.heavyBlocked.Swap(0)
		fmt.Fprintf(out, "%4ds %6d %6d %6d   %12d %12d\n", i, sent, ok, blocked, heavyOK, heavyBlocked)
	}
	tick.Stop()
	stopLoad()
	wg.Wait()

	fmt.Fprintf(out, "\nSummary: %d answered 200, %d answered 429 (%s: %d and %d)",
		total.ok.Load(), total.blocked.Load(), heavyUser, total.heavyOK.Load(), total.heavyBlocked.Load())
	if n := total.failed.Load(); n > 0 {
		fmt.Fprintf(out, ", %d failed", n)
	}
	fmt.Fprintln(out)
	if ra := sample.Load(); ra != nil {
		fmt.Fprintf(out, "A 429 carries Retry-After: %s (seconds).\n", *ra)
	}
	st, _ := eng.Stats(route)
	fmt.Fprintf(out, "Engine's view of %q over the last second: %.0f passed/s, %.0f blocked/s.\n", route, st.PassQPS, st.BlockQPS)
	return nil
}

func add(sec, total, heavySec, heavyTotal *atomic.Int64, heavy bool) {
	sec.Add(1)
	total.Add(1)
	if heavy {
		heavySec.Add(1)
		heavyTotal.Add(1)
	}
}

// pace calls fire at rate(elapsed) calls per second until ctx is done, each
// call on a goroutine of its own counted in wg.
func pace(ctx context.Context, wg *sync.WaitGroup, rate func(time.Duration) float64, fire func(context.Context)) {
	start := time.Now()
	next := start
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fire(ctx)
		}()
		next = next.Add(time.Duration(float64(time.Second) / rate(time.Since(start))))
		timer.Reset(max(time.Until(next), 0))
	}
}
