package flow

import (
	"math"
	"testing"
	"time"
)

const year = int64(365 * 24 * time.Hour)

// TestThrottlingExtremeSpacings: spacings from one nanosecond to far past
// the range of int64 nanoseconds (292 years). The first entry from cold
// always passes at once; a spacing too long for the clock never ends; a
// spacing within the range ends when it says; a cancelled span is given
// back whatever its length.
func TestThrottlingExtremeSpacings(t *testing.T) {
	maxInterval := time.Duration(math.MaxInt64 / statBuckets * statBuckets)
	for _, tc := range []struct {
		name string
		rule Rule
		// spacing is the span of the first entry, or 0 for one that never
		// ends; a span whose end is past math.MaxInt64 never ends either.
		spacing int64
	}{
		{"1e-10 per second", Rule{Threshold: 1e-10}, 0},
		{"smallest float per second", Rule{Threshold: math.SmallestNonzeroFloat64}, 0},
		{"0.5 per longest interval", Rule{Threshold: 0.5, StatInterval: maxInterval}, 0},
		{"1 per longest interval", Rule{Threshold: 1, StatInterval: maxInterval}, 0},
		{"1 per 73 years", Rule{Threshold: 1, StatInterval: time.Duration(73 * year)}, 73 * year},
		{"1 per 100 years", Rule{Threshold: 1, StatInterval: time.Duration(100 * year)}, 100 * year},
		{"1 per 250 years", Rule{Threshold: 1, StatInterval: time.Duration(250 * year)}, 250 * year}, // never from t0
		{"1e-9 per second, queue of an hour", Rule{Threshold: 1e-9, MaxQueueingTime: MaxQueueingTimeLimit}, int64(1e18)},
		{"1e300 per second", Rule{Threshold: 1e300}, 1},
		{"1e300 per longest interval", Rule{Threshold: 1e300, StatInterval: maxInterval}, 1},
		{"warm-up, 1e-10 per second", Rule{Threshold: 1e-10, Strategy: WarmUp, WarmUpPeriod: 10 * time.Second}, 0},
		{"warm-up, cold factor 1e10", Rule{Threshold: 1, Strategy: WarmUp, WarmUpColdFactor: 1e10,
			WarmUpPeriod: time.Hour}, 0},
		{"warm-up, 1 per 73 years, cold factor 2", Rule{Threshold: 1, Strategy: WarmUp, WarmUpColdFactor: 2,
			StatInterval: time.Duration(73 * year), WarmUpPeriod: time.Duration(math.MaxInt64)}, 2 * 73 * year},
		{"memory-adaptive, 1e-10 per second", Rule{Strategy: MemoryAdaptive, LowMemUsageThreshold: 1e-10,
			HighMemUsageThreshold: 1e-11, MemLowWaterMark: 1, MemHighWaterMark: 2}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rule
			r.Resource, r.ControlBehavior = "r", Throttling
			for _, start := range []int64{t0, -t0, 0} { // also a clock before 1970
				c := newController(t, r, Env{})
				w, res, ok := c.Check(start, 1)
				if !ok || w != 0 {
					t.Fatalf("at %d the first entry: ok=%v wait=%v, want a pass at once", start, ok, w)
				}
				end := start + tc.spacing
				if tc.spacing == 0 || end < start {
					if got := c.free.Load(); got != math.MaxInt64 {
						t.Fatalf("the span ends at %d, want never (math.MaxInt64)", got)
					}
					if _, _, ok := c.Check(start+200*year, 1); ok {
						t.Fatal("an entry 200 years later passed a span that never ends")
					}
				} else {
					if got := c.free.Load(); got != end {
						t.Fatalf("the span ends at %d, want %d (%v later)", got, end, time.Duration(tc.spacing))
					}
					if early := end - 1 - int64(r.MaxQueueingTime); early > start {
						if _, _, ok := c.Check(early, 1); ok {
							t.Fatalf("an entry %v after the first passed a spacing of %v", time.Duration(early-start),
								time.Duration(tc.spacing))
						}
					}
					if _, _, ok := c.Check(end, 1); !ok {
						t.Fatalf("an entry at the end of the span (%v later) was blocked", time.Duration(tc.spacing))
					}
				}
				// A cancelled first entry gives its span back, however long.
				c = newController(t, r, Env{})
				_, res, _ = c.Check(start, 1)
				c.Cancel(res)
				if w, _, ok := c.Check(start, 1); !ok || w != 0 {
					t.Fatalf("after a cancel: ok=%v wait=%v, want a pass at once", ok, w)
				}
			}
		})
	}
}

// TestThrottlingSpanSaturatesAtTheEndOfTheClock: a span that would end
// past math.MaxInt64 nanoseconds ends there instead of wrapping round to a
// time long past, which would let every later entry through at once.
func TestThrottlingSpanSaturatesAtTheEndOfTheClock(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 1, StatInterval: time.Duration(100 * year),
		ControlBehavior: Throttling}, Env{})
	now := int64(math.MaxInt64 - 50*year)
	if _, _, ok := c.Check(now, 1); !ok {
		t.Fatal("first entry blocked")
	}
	for _, later := range []int64{0, time.Second.Nanoseconds(), 49 * year} {
		if _, _, ok := c.Check(now+later, 1); ok {
			t.Fatalf("an entry %v after the first passed a spacing of 100 years", time.Duration(later))
		}
	}
}
