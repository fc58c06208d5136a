// Command circuitbreaker shows Sluice's circuit breakers at work: five
// callers drive a simulated flaky dependency, "GET /inventory", at about 100
// calls a second through one sluice.Engine, guarded by an ErrorRatio and a
// SlowRequestRatio breaker. It prints each breaker state change as it
// happens, heard through sluice.WithStateListener, and a line a second of
// what the calls did.
//
// The dependency is healthy for the first 30% of the run, fails every call,
// slowly, for the next 30%, then recovers.
//
// Run it from the repository root:
//
//	go run ./example/circuitbreaker [-duration 10s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
)

const resource = "GET /inventory"

const intro = `Sluice circuit breakers: 5 callers make ~100 calls/s to a flaky "GET /inventory".
It answers in ~5ms for the first 30%% of the run, then fails every call after
~150ms for the next 30%%, then recovers. Two breakers guard it:
  ErrorRatio        opens when >= 50%% of the calls in its window fail (of >= 10)
  SlowRequestRatio  opens when >= 50%% of them take over 100ms (of >= 10)
An open breaker blocks every call for RetryTimeout (%v), then half-opens and
lets probes through. Watch for:
  - Closed -> Open soon after the dependency goes bad: calls are then blocked
    at once instead of waiting 150ms for an error;
  - Open -> HalfOpen -> Open every RetryTimeout while it stays bad;
  - HalfOpen -> Closed after it recovers: one fast probe closes the
    SlowRequestRatio breaker, two successful ones (ProbeNum 2) the ErrorRatio one.
RetryTimeout and the breakers' window are duration/10 (1s for the default 10s),
so a shorter -duration tells the same story faster. A 404 (~2%% of healthy
calls) is an answer, not a failure: the error classifier leaves it out.
`

var (
	errUnavailable = errors.New("503 service unavailable")
	errNotFound    = errors.New("404 no such item")
)

// dependency simulates the flaky service, failing in [badFrom, badUntil)
// after the start.
type dependency struct {
	elapsed           func() time.Duration
	badFrom, badUntil time.Duration
}

func (d *dependency) phase(at time.Duration) string {
	switch {
	case at < d.badFrom:
		return "healthy"
	case at < d.badUntil:
		return "failing"
	}
	return "recovered"
}

// call is one request to the dependency; it honours ctx. While failing,
// every call fails, not most: then the same calls are slow and failing, and
// both breakers trip together. (Were some to succeed slowly, the
// SlowRequestRatio breaker would trip first and, blocking every call,
// starve the ErrorRatio one of calls to judge.)
func (d *dependency) call(ctx context.Context) error {
	latency, err := 3*time.Millisecond+rand.N(4*time.Millisecond), error(nil)
	switch {
	case d.phase(d.elapsed()) == "failing":
		latency, err = 130*time.Millisecond+rand.N(40*time.Millisecond), errUnavailable
	case rand.Float64() < 0.02:
		err = errNotFound
	}
	t := time.NewTimer(latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return err
	}
}

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long to drive traffic; a line is printed each second")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: circuitbreaker [-duration d]\n\n"+intro+"\nFlags:\n", "duration/10")
		flag.PrintDefaults()
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout, *duration)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "circuitbreaker:", err)
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
	duration = max(time.Second, duration.Round(time.Second))
	scale := duration / 10 // RetryTimeout and the breakers' statistics window

	// Time is read on the engine's clock, which stamps StateChange.At.
	start := clock.Real().Nanos()
	elapsed := func() time.Duration { return time.Duration(clock.Real().Nanos() - start) }
	dep := &dependency{elapsed: elapsed, badFrom: duration * 3 / 10, badUntil: duration * 6 / 10}

	var mu sync.Mutex // guards out and changes
	changes := map[circuitbreaker.Strategy]int{}
	eng := sluice.New(
		sluice.WithStateListener(func(c circuitbreaker.StateChange) {
			mu.Lock()
			defer mu.Unlock()
			changes[c.Rule.Strategy]++
			fmt.Fprintf(out, "%7.2fs  %s  %v breaker  %v -> %v   %s\n",
				time.Duration(c.At.UnixNano()-start).Seconds(), c.Resource, c.Rule.Strategy, c.From, c.To, describe(c))
		}),
		sluice.WithErrorClassifier(func(err error) bool {
			return !errors.Is(err, errNotFound) && sluice.DefaultIsFailure(err)
		}),
		sluice.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	)
	err := eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{
		{Resource: resource, Strategy: circuitbreaker.ErrorRatio, Threshold: 0.5, MinRequestAmount: 10,
			RetryTimeout: scale, StatInterval: scale, ProbeNum: 2},
		{Resource: resource, Strategy: circuitbreaker.SlowRequestRatio, MaxAllowedRT: 100 * time.Millisecond,
			Threshold: 0.5, MinRequestAmount: 10, RetryTimeout: scale, StatInterval: scale},
	})
	if err != nil {
		eng.Close()
		return err
	}
	fmt.Fprintf(out, intro+"\n", scale)

	var ok, failed, blocked atomic.Int64 // since the last per-second line
	call := func(ctx context.Context) {
		err := eng.Do(ctx, resource, dep.call)
		switch {
		case ctx.Err() != nil: // stopping: the call was cut short
		case errors.Is(err, sluice.ErrBlocked):
			blocked.Add(1)
		case err != nil && !errors.Is(err, errNotFound):
			failed.Add(1)
		default:
			ok.Add(1)
		}
	}
	traffic, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	var wg sync.WaitGroup
	const workers, period = 5, 50 * time.Millisecond // 5 x 20 calls/s
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(period * time.Duration(i) / workers) // spread the calls evenly
			tick := time.NewTicker(period)
			defer tick.Stop()
			for {
				select {
				case <-traffic.Done():
					return
				case <-tick.C:
					call(traffic)
				}
			}
		}()
	}

	var okSum, failedSum, blockedSum int64
	tick := time.NewTicker(time.Second)
report:
	for sec := 1; sec <= int(duration/time.Second); sec++ {
		select {
		case <-ctx.Done():
			break report
		case <-tick.C:
		}
		st, _ := eng.Stats(resource)
		var states []string
		for _, b := range st.CircuitBreakers {
			states = append(states, fmt.Sprintf("%v %v", b.Rule.Strategy, b.State))
		}
		o, f, b := ok.Swap(0), failed.Swap(0), blocked.Swap(0)
		okSum, failedSum, blockedSum = okSum+o, failedSum+f, blockedSum+b
		now := elapsed()
		mu.Lock()
		fmt.Fprintf(out, "%7.2fs  -- second %d, dependency %-9s  ok %3d  failed %3d  blocked %3d  [%s]\n",
			now.Seconds(), sec, dep.phase(now-time.Second/2), o, f, b, strings.Join(states, ", "))
		mu.Unlock()
	}
	tick.Stop()
	stopTraffic()
	wg.Wait()
	eng.Close() // delivers the state changes still queued, then stops the listener's goroutine

	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(out, "\nSummary: ok %d, failed %d, blocked by a breaker %d\n",
		okSum+ok.Load(), failedSum+failed.Load(), blockedSum+blocked.Load())
	st, _ := eng.Stats(resource)
	for _, b := range st.CircuitBreakers {
		fmt.Fprintf(out, "  %-16v breaker: state changes %2d, ends %v\n", b.Rule.Strategy, changes[b.Rule.Strategy], b.State)
	}
	return nil
}

// describe explains a state change's Value, whose meaning depends on the
// transition and the breaker's strategy (see circuitbreaker.StateChange).
func describe(c circuitbreaker.StateChange) string {
	switch {
	case c.From == circuitbreaker.Closed && c.To == circuitbreaker.Open:
		switch c.Rule.Strategy {
		case circuitbreaker.ErrorRatio:
			return fmt.Sprintf("(error ratio %.2f)", c.Value)
		case circuitbreaker.SlowRequestRatio:
			return fmt.Sprintf("(slow ratio %.2f)", c.Value)
		}
		return fmt.Sprintf("(%.0f errors)", c.Value)
	case c.From == circuitbreaker.HalfOpen && c.To == circuitbreaker.Open:
		if c.Rule.Strategy == circuitbreaker.SlowRequestRatio {
			return fmt.Sprintf("(slow probe: %v)", time.Duration(c.Value*float64(time.Second)).Round(time.Millisecond))
		}
		return "(probe failed)"
	case c.To == circuitbreaker.HalfOpen:
		return fmt.Sprintf("(%v passed: probing)", c.Rule.RetryTimeout)
	case c.Rule.Probes() == 1:
		return "(probe succeeded)"
	}
	return fmt.Sprintf("(%d probes succeeded)", c.Rule.Probes())
}
