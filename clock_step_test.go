package sluice_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
)

// TestClockStepBackChangesNothing runs the same traffic twice per family,
// once on a clock that steps back (a minute, ten seconds, 150 ms)
// and once on a clock that instead stands still for that tick, and requires
// the same admissions tick by tick: the engine absorbs a step back instead of
// waiting for the clock to catch up.
func TestClockStepBackChangesNothing(t *testing.T) {
	steps := map[int]time.Duration{30: -time.Minute, 47: -10 * time.Second, 71: -150 * time.Millisecond}
	cases := []struct {
		name  string
		rules sluice.Rules
		tries int
		fail  bool // every second entry fails (for breakers)
		opts  []sluice.EntryOption
	}{
		{name: "Reject", tries: 7, rules: sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 20}}}},
		{name: "WarmUp", tries: 30, rules: sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 100,
			Strategy: flow.WarmUp, WarmUpPeriod: 10 * time.Second, WarmUpColdFactor: 3}}}},
		{name: "Throttling", tries: 3, rules: sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 15,
			ControlBehavior: flow.Throttling}}}},
		{name: "HotspotQPS", tries: 5, opts: []sluice.EntryOption{sluice.WithArgs("u1")},
			rules: sluice.Rules{Hotspot: []hotspot.Rule{{Resource: "r", Threshold: 12, BurstCount: 3}}}},
		{name: "HotspotThrottling", tries: 3, opts: []sluice.EntryOption{sluice.WithArgs("u1")},
			rules: sluice.Rules{Hotspot: []hotspot.Rule{{Resource: "r", Threshold: 5, ControlBehavior: hotspot.Throttling}}}},
		{name: "Breaker", tries: 4, fail: true, rules: sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{
			Resource: "r", Strategy: circuitbreaker.ErrorCount, Threshold: 3, RetryTimeout: 700 * time.Millisecond}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run := func(stepped bool) []int {
				eng, clk := newEngine(t)
				mustLoad(t, eng, tc.rules)
				var passed []int
				for tick := 0; tick < 120; tick++ {
					if tick > 0 {
						// The time between the engine's last reading and a
						// step back is lost: the steady clock stands still
						// for that tick.
						if d, ok := steps[tick]; !ok {
							clk.Advance(100 * time.Millisecond)
						} else if stepped {
							clk.Advance(100*time.Millisecond + d)
						}
					}
					n := 0
					for i := 0; i < tc.tries; i++ {
						p, err := eng.Entry(context.Background(), "r", tc.opts...)
						if err != nil {
							if !errors.Is(err, sluice.ErrBlocked) {
								t.Fatal(err)
							}
							continue
						}
						n++
						if tc.fail && (tick+i)%2 == 0 {
							p.SetError(errDown)
						}
						p.Exit()
					}
					passed = append(passed, n)
				}
				return passed
			}
			want, got := run(false), run(true)
			if !slices.Equal(got, want) {
				t.Fatalf("admissions per 100 ms tick\n stepped: %v\n  steady: %v", got, want)
			}
			if total := sum(want); total == 0 || total == tc.tries*len(want) {
				t.Fatalf("the rule admitted %d of %d: the scenario proves nothing", total, tc.tries*len(want))
			}
		})
	}
}

// TestClockStepForwardIsTimePassing: a step forward rolls the window over,
// as the same time passing would.
func TestClockStepForwardIsTimePassing(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 5}}})
	if got := try(eng, "r", 10); got != 5 {
		t.Fatalf("first second passed %d, want 5", got)
	}
	clk.Advance(time.Hour)
	if got := try(eng, "r", 10); got != 5 {
		t.Fatalf("after an hour's step forward passed %d, want 5", got)
	}
	st, _ := eng.Stats("r")
	if st.PassQPS != 5 {
		t.Fatalf("PassQPS %v after the step, want 5: the old second must have left the window", st.PassQPS)
	}
}

func sum(xs []int) (s int) {
	for _, x := range xs {
		s += x
	}
	return s
}
