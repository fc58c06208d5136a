package circuitbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
)

// run calls resource through eng with fn, printing what happened.
func run(eng *sluice.Engine, label string, fn func(context.Context) error) {
	err := eng.Do(context.Background(), "payments", fn)
	var be *sluice.BlockError
	switch {
	case errors.As(err, &be):
		fmt.Printf("%-10s blocked: %s\n", label, be.Reason)
	case err != nil:
		fmt.Printf("%-10s failed\n", label)
	default:
		fmt.Printf("%-10s ok\n", label)
	}
}

// An ErrorRatio breaker opens when at least half of the last second's calls
// (and at least 4 of them) failed, blocks for RetryTimeout, then closes
// after one successful probe.
func Example_errorRatio() {
	clk := clock.NewManual(time.Unix(0, 0))
	eng := sluice.New(sluice.WithClock(clk))
	defer eng.Close()
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{{Resource: "payments",
		Strategy: circuitbreaker.ErrorRatio, Threshold: 0.5, MinRequestAmount: 4, RetryTimeout: 5 * time.Second}})
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("503") }
	for _, fn := range []func(context.Context) error{ok, down, ok, down} {
		run(eng, "call", fn)
	}
	run(eng, "call", ok)
	clk.Advance(5 * time.Second)
	run(eng, "probe", ok)
	run(eng, "call", ok)
	// Output:
	// call       ok
	// call       failed
	// call       ok
	// call       failed
	// call       blocked: circuit open (ErrorRatio)
	// probe      ok
	// call       ok
}

// A SlowRequestRatio breaker counts calls slower than MaxAllowedRT.
func Example_slowRequestRatio() {
	clk := clock.NewManual(time.Unix(0, 0))
	eng := sluice.New(sluice.WithClock(clk))
	defer eng.Close()
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{{Resource: "payments",
		Strategy: circuitbreaker.SlowRequestRatio, MaxAllowedRT: 100 * time.Millisecond,
		Threshold: 0.6, MinRequestAmount: 3, RetryTimeout: time.Second}})
	call := func(rt time.Duration) func(context.Context) error {
		return func(context.Context) error { clk.Advance(rt); return nil }
	}
	run(eng, "fast", call(10*time.Millisecond))
	run(eng, "slow", call(300*time.Millisecond))
	run(eng, "slow", call(300*time.Millisecond)) // 2 of 3 slow: 0.67 >= 0.6
	run(eng, "next", call(10*time.Millisecond))
	// Output:
	// fast       ok
	// slow       ok
	// slow       ok
	// next       blocked: circuit open (SlowRequestRatio)
}

// An ErrorCount breaker opens on the third failure within a second. A state
// listener hears each transition, off the request path.
func Example_errorCount() {
	clk := clock.NewManual(time.Unix(0, 0))
	changes := make(chan circuitbreaker.StateChange, 4)
	eng := sluice.New(sluice.WithClock(clk),
		sluice.WithStateListener(func(c circuitbreaker.StateChange) { changes <- c }))
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{{Resource: "payments",
		Strategy: circuitbreaker.ErrorCount, Threshold: 3, RetryTimeout: time.Second}})
	down := func(context.Context) error { return errors.New("503") }
	for i := 0; i < 4; i++ {
		run(eng, "call", down)
	}
	eng.Close() // delivers the queued change
	c := <-changes
	fmt.Printf("%s: %v -> %v after %v errors\n", c.Resource, c.From, c.To, c.Value)
	// Output:
	// call       failed
	// call       failed
	// call       failed
	// call       blocked: circuit open (ErrorCount)
	// payments: Closed -> Open after 3 errors
}
