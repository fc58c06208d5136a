package sluice_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/system"
)

// coarseEngine returns an engine on a manual clock with a 1 ms coarse
// clock over it, and its first tick taken (the goroutine is running).
func coarseEngine(t *testing.T, rules sluice.Rules) (*sluice.Engine, *clock.Manual) {
	t.Helper()
	eng, clk := newEngine(t, sluice.WithCoarseClock(time.Millisecond))
	mustLoad(t, eng, rules)
	p, err := eng.Entry(context.Background(), "warm-up") // starts the goroutine
	if err != nil {
		t.Fatal(err)
	}
	p.Exit()
	return eng, clk
}

// rtOf enters res, lets d pass on the manual clock (ticking the coarse
// clock on the way when tick), exits, and returns the resource's MinRT.
func rtOf(t *testing.T, eng *sluice.Engine, clk *clock.Manual, res string, d time.Duration, opts ...sluice.EntryOption) time.Duration {
	t.Helper()
	p, err := eng.Entry(context.Background(), res, opts...)
	if err != nil {
		t.Fatal(err)
	}
	clk.BlockUntilTimers(1) // the coarse goroutine waits on its tick
	clk.Advance(d)
	clk.BlockUntilTimers(1) // and has taken the reading
	p.Exit()
	st, _ := eng.Stats(res)
	return st.MinRT
}

func TestCoarseClockResolution(t *testing.T) {
	eng, clk := coarseEngine(t, sluice.Rules{
		Flow: []flow.Rule{{Resource: "coarse", Threshold: 1e9}},
		CircuitBreaker: []circuitbreaker.Rule{{Resource: "slow-calls", Strategy: circuitbreaker.SlowRequestRatio,
			MaxAllowedRT: 300 * time.Microsecond, Threshold: 0.5, MinRequestAmount: 1 << 30, RetryTimeout: time.Second}},
	})
	// 500 µs on a resource with a flow rule: the coarse clock has not
	// ticked (1 ms), so the call reads as taking 0.
	if rt := rtOf(t, eng, clk, "coarse", 500*time.Microsecond); rt != 0 {
		t.Fatalf("coarse resource: MinRT %v for a call within one tick, want 0", rt)
	}
	// A slow-call breaker decides on MaxAllowedRT: its resource reads the
	// precise clock.
	if rt := rtOf(t, eng, clk, "slow-calls", 500*time.Microsecond); rt != 500*time.Microsecond {
		t.Fatalf("resource under a slow-call breaker: MinRT %v, want the precise 500µs", rt)
	}
}

func TestCoarseClockPreciseWhereRulesNeedIt(t *testing.T) {
	eng, clk := coarseEngine(t, sluice.Rules{
		Flow: []flow.Rule{{Resource: "throttled", Threshold: 1000, ControlBehavior: flow.Throttling,
			MaxQueueingTime: time.Second},
			// 5 ms: a reading a 1 ms step behind would lose a fifth of it.
			{Resource: "short-window", Threshold: 1e9, StatInterval: 5 * time.Millisecond},
			{Resource: "long-window", Threshold: 1e9, StatInterval: 10 * time.Millisecond}},
		System: []system.Rule{{MetricType: system.AvgRT, TriggerCount: 1e9}},
	})
	for _, c := range []struct {
		name string
		res  string
		opts []sluice.EntryOption
		want time.Duration
	}{
		{"Throttling rule", "throttled", nil, 700 * time.Microsecond},
		{"flow rule with a window under 10 steps", "short-window", nil, 700 * time.Microsecond},
		{"flow rule with a window of 10 steps", "long-window", nil, 0},
		{"Inbound entry under an AvgRT system rule", "inbound", []sluice.EntryOption{sluice.WithTrafficType(sluice.Inbound)}, 700 * time.Microsecond},
		{"Outbound entry, no such rule", "outbound", nil, 0},
	} {
		if rt := rtOf(t, eng, clk, c.res, 700*time.Microsecond, c.opts...); rt != c.want {
			t.Errorf("%s: MinRT %v, want %v", c.name, rt, c.want)
		}
	}
}

// TestCoarseClockCountsIntoTheRightWindow: entries read the coarse time,
// which follows the clock tick by tick, so a flow rule's window rolls over
// with it: a Reject rule of 2 per second admits 2 in each second.
func TestCoarseClockCountsIntoTheRightWindow(t *testing.T) {
	eng, clk := coarseEngine(t, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 2}}})
	for second := range 3 {
		if n := try(eng, "r", 5); n != 2 {
			t.Fatalf("second %d: %d of 5 admitted, want 2", second, n)
		}
		for range 1000 {
			clk.BlockUntilTimers(1)
			clk.Advance(time.Millisecond)
		}
		clk.BlockUntilTimers(1)
	}
}

func TestCoarseClockCloseStopsItsGoroutine(t *testing.T) {
	clk := clock.NewManual(t0)
	eng := sluice.New(sluice.WithClock(clk), sluice.WithCoarseClock(time.Millisecond))
	p, err := eng.Entry(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	clk.BlockUntilTimers(1)
	if err := goleak.Find(); err == nil {
		t.Fatal("no coarse clock goroutine while entries are made")
	}
	eng.Close()
	if err := goleak.Find(); err != nil {
		t.Fatal(err)
	}
	// Still usable, on the precise clock, and no goroutine comes back.
	clk.Advance(300 * time.Microsecond)
	p.Exit()
	if st, _ := eng.Stats("r"); st.MinRT != 300*time.Microsecond {
		t.Fatalf("MinRT after Close %v, want the precise 300µs", st.MinRT)
	}
	if err := goleak.Find(); err != nil {
		t.Fatal(err)
	}
}

func TestCoarseClockDoesNotAllocate(t *testing.T) {
	eng, _ := coarseEngine(t, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 1e12}}})
	f := func() {
		p, err := eng.Entry(context.Background(), "r")
		if err != nil {
			t.Fatal(err)
		}
		p.Exit()
	}
	f()
	if a := testing.AllocsPerRun(1000, f); a != 0 {
		t.Fatalf("%v allocs per Entry+Exit on the coarse clock", a)
	}
}
