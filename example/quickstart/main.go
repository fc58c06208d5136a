// Command quickstart shows Sluice at work: it drives simulated traffic
// through four resources guarded by one sluice.Engine and prints, once a
// second, what each rule let through and what it blocked.
//
//	GET /orders     a plain QPS limit (Reject): the excess is blocked at once
//	POST /payments  Throttling: calls are spaced evenly and may queue briefly
//	GET /search     WarmUp: a cold resource ramps up to its threshold
//	GET /report     an isolation rule: a cap on calls in flight
//
// Run it from the repository root:
//
//	go run ./example/quickstart [-duration 10s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/isolation"
)

const intro = `Sluice quickstart: one engine guards four simulated endpoints.
  GET /orders     QPS limit of 50/s (Reject), offered ~100 req/s: about half is
                  blocked at once, so watch blocked/s rise to ~50.
  POST /payments  Throttling at 20/s (one call every 50ms), queueing up to 200ms,
                  offered ~40 req/s in bursts of 8: a burst's calls wait their
                  turn (see "queued") and only those that would wait longer than
                  200ms are blocked, so passed/s holds steady at 20.
  GET /search     WarmUp to 80/s over 5s, offered ~120 req/s: passed/s starts
                  cold at ~27 and climbs to 80 as the resource warms up.
  GET /report     at most 4 calls in flight; 10 callers compete for ~50ms calls,
                  so "in flight" never exceeds 4 and the rest are blocked.
`

const legend = `Each second, per resource: passed/s and blocked/s over the last second
(eng.Stats), avg RT = mean Entry-to-Exit time of the calls that finished in it
(queueing included), in flight = calls between Entry and Exit now (queued ones
included), queued = mean time the calls that passed this second waited inside
Entry for their turn (measured here).
`

// endpoint is one simulated resource and the traffic offered to it.
type endpoint struct {
	name  string
	drive driver
	work  func() time.Duration // simulated service time of one call

	passed, blocked  atomic.Int64 // totals, for the summary
	waitSum, waitNum atomic.Int64 // queueing time of passed calls since the last row
}

// A driver starts goroutines, counted in wg, that make calls until ctx is
// done. call reports whether the call passed.
type driver func(ctx context.Context, wg *sync.WaitGroup, call func(context.Context) bool)

// between returns a random duration in [lo, hi).
func between(lo, hi time.Duration) time.Duration { return lo + rand.N(hi-lo) }

// paced starts workers that each call once every period. Staggered workers
// spread their calls evenly; the others fire together, in bursts.
func paced(workers int, period time.Duration, staggered bool) driver {
	return func(ctx context.Context, wg *sync.WaitGroup, call func(context.Context) bool) {
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if staggered {
					time.Sleep(period * time.Duration(i) / time.Duration(workers))
				}
				tick := time.NewTicker(period)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
						call(ctx)
					}
				}
			}()
		}
	}
}

// looping starts workers that call again as soon as a call ends, backing
// off a little after a block.
func looping(workers int) driver {
	return func(ctx context.Context, wg *sync.WaitGroup, call func(context.Context) bool) {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if !call(ctx) {
						time.Sleep(between(10*time.Millisecond, 30*time.Millisecond))
					}
				}
			}()
		}
	}
}

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long to drive traffic; a table row per resource is printed each second")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: quickstart [-duration d]\n\n%s\nFlags:\n", intro)
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout, *duration)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run drives the traffic for duration (rounded to whole seconds, at least
// one), writing the report to out. It returns early, still with a summary,
// when ctx is done.
func run(ctx context.Context, out io.Writer, duration time.Duration) error {
	if duration <= 0 {
		return fmt.Errorf("duration must be positive, got %v", duration)
	}
	eng := sluice.New()
	defer eng.Close()

	err := eng.LoadRules(sluice.Rules{
		Flow: []flow.Rule{
			{Resource: "GET /orders", Threshold: 50},
			{Resource: "POST /payments", Threshold: 20,
				ControlBehavior: flow.Throttling, MaxQueueingTime: 200 * time.Millisecond},
			{Resource: "GET /search", Threshold: 80,
				Strategy: flow.WarmUp, WarmUpPeriod: 5 * time.Second},
		},
		Isolation: []isolation.Rule{{Resource: "GET /report", Threshold: 4}},
	})
	if err != nil {
		return err
	}

	endpoints := []*endpoint{
		{name: "GET /orders", drive: paced(4, 40*time.Millisecond, true), // 100 req/s
			work: func() time.Duration { return between(5*time.Millisecond, 15*time.Millisecond) }},
		{name: "POST /payments", drive: paced(8, 200*time.Millisecond, false), // bursts of 8, 5 a second
			work: func() time.Duration { return between(15*time.Millisecond, 25*time.Millisecond) }},
		{name: "GET /search", drive: paced(4, 100*time.Millisecond/3, true), // 120 req/s
			work: func() time.Duration { return between(5*time.Millisecond, 15*time.Millisecond) }},
		{name: "GET /report", drive: looping(10),
			work: func() time.Duration { return between(40*time.Millisecond, 60*time.Millisecond) }},
	}

	fmt.Fprint(out, intro, "\n")
	fmt.Fprint(out, legend, "\n")
	fmt.Fprintf(out, "%5s  %-15s %9s %10s %9s %10s %9s\n",
		"time", "resource", "passed/s", "blocked/s", "avg RT", "in flight", "queued")

	traffic, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	var wg sync.WaitGroup
	for _, ep := range endpoints {
		ep.drive(traffic, &wg, func(ctx context.Context) bool { return ep.call(ctx, eng) })
	}

	rows := max(1, int(duration.Round(time.Second)/time.Second))
	tick := time.NewTicker(time.Second)
report:
	for sec := 1; sec <= rows; sec++ {
		select {
		case <-ctx.Done():
			break report
		case <-tick.C:
		}
		for _, ep := range endpoints {
			st, _ := eng.Stats(ep.name)
			var queued time.Duration
			if n := ep.waitNum.Swap(0); n > 0 {
				queued = time.Duration(ep.waitSum.Swap(0) / n)
			}
			fmt.Fprintf(out, "%4ds  %-15s %9.0f %10.0f %9v %10d %9v\n", sec, ep.name,
				st.PassQPS, st.BlockQPS, st.AvgRT.Round(100*time.Microsecond), st.Concurrency,
				queued.Round(time.Millisecond))
		}
		fmt.Fprintln(out)
	}
	tick.Stop()
	stopTraffic()
	wg.Wait()

	fmt.Fprintln(out, "Summary:")
	for _, ep := range endpoints {
		fmt.Fprintf(out, "  %-15s passed %6d   blocked %6d\n", ep.name, ep.passed.Load(), ep.blocked.Load())
	}
	return nil
}

// call makes one guarded call to the endpoint and reports whether it passed.
func (ep *endpoint) call(ctx context.Context, eng *sluice.Engine) bool {
	asked := time.Now()
	err := eng.Do(ctx, ep.name, func(context.Context) error {
		ep.waitSum.Add(int64(time.Since(asked))) // apart from waitNum: close enough for a report
		ep.waitNum.Add(1)
		time.Sleep(ep.work())
		return nil
	})
	if errors.Is(err, sluice.ErrBlocked) {
		ep.blocked.Add(1)
		return false
	}
	ep.passed.Add(1) // the simulated work never fails
	return true
}
