package hotspot

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice/core/base"
	"github.com/sluice-go/sluice/core/clock"
)

const year = 365 * 24 * time.Hour

// TestExtremeRulesKeepTheirMeaning drives rules at the edges of their valid
// ranges on the manual clock: a huge threshold, burst or concurrency admits
// (nearly) everything, a huge Duration or a tiny threshold (nearly)
// nothing after the first entry; none may turn into its opposite through an
// overflow.
func TestExtremeRulesKeepTheirMeaning(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule Rule
		// first is how many of 1000 entries at one instant pass; later, how
		// many of 1000 pass after a year.
		first, later int
	}{
		{"QPS threshold 1e20", Rule{Threshold: 1e20}, 1000, 1000},
		{"QPS threshold 1e20 per MaxInt64", Rule{Threshold: 1e20, Duration: math.MaxInt64}, 1000, 1000},
		{"QPS burst 1e11", Rule{Threshold: 1, BurstCount: 1e11}, 1000, 1000},
		{"QPS burst 1e300", Rule{Threshold: 1, BurstCount: 1e300}, 1000, 1000},
		{"QPS specific threshold 1e20", Rule{SpecificItems: []SpecificItem{{Value: "v", Threshold: 1e20}}}, 1000, 1000},
		{"QPS 1 per MaxInt64", Rule{Threshold: 1, Duration: math.MaxInt64}, 1, 0},
		{"QPS 1e-11 per second with a burst of 1", Rule{Threshold: 1e-11, BurstCount: 1}, 1, 0},
		{"QPS 1e-300 per second with a burst of 1", Rule{Threshold: 1e-300, BurstCount: 1}, 1, 0},
		{"Throttling 1e-11 per second", Rule{Threshold: 1e-11, ControlBehavior: Throttling}, 1, 0},
		{"Throttling 1e-11 per second, queueing an hour", Rule{Threshold: 1e-11, ControlBehavior: Throttling,
			MaxQueueingTime: time.Hour}, 1, 0},
		{"Throttling 1 per MaxInt64", Rule{Threshold: 1, Duration: math.MaxInt64, ControlBehavior: Throttling}, 1, 0},
		{"Throttling 1e20", Rule{Threshold: 1e20, ControlBehavior: Throttling, MaxQueueingTime: time.Millisecond}, 1000, 1000},
		{"Concurrency 1e19", Rule{MetricType: Concurrency, Threshold: 1e19}, 1000, 1000},
		{"Concurrency 1e300", Rule{MetricType: Concurrency, Threshold: 1e300}, 1000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewManual(time.Unix(1_700_000_000, 0))
			l := newLimiter(t, tc.rule)
			k := key(t, "v")
			if got := acquire(l, clk.Nanos(), k, 1000); got != tc.first {
				t.Fatalf("%d of 1000 passed at one instant, want %d", got, tc.first)
			}
			clk.Advance(year)
			if got := acquire(l, clk.Nanos(), k, 1000); got != tc.later {
				t.Fatalf("a year later %d of 1000 passed, want %d", got, tc.later)
			}
		})
	}
}

// A cancelled entry gives back exactly what it took, also where a step
// saturates.
func TestCancelAtSaturation(t *testing.T) {
	l := newLimiter(t, Rule{Threshold: 1, Duration: math.MaxInt64})
	k := key(t, "v")
	tok, _, ok := l.Acquire(t0, k, 1)
	if !ok {
		t.Fatal("the first entry was refused")
	}
	l.Cancel(tok)
	if _, _, ok := l.Acquire(t0, k, 1); !ok {
		t.Fatal("after a cancel the first entry's permit was not given back")
	}
}

// Under Reject a bucket of less than one whole permit admits nothing, ever:
// such a rule is refused, for the rule's threshold and for a specific
// item's, with a burst that makes it whole accepted.
func TestRejectBucketBelowOnePermitIsInvalid(t *testing.T) {
	for _, tc := range []struct {
		rule  Rule
		field string
	}{
		{Rule{Threshold: 0.5}, "Threshold"},
		{Rule{Threshold: 1e-11}, "Threshold"},
		{Rule{Threshold: 0.5, BurstCount: 0.4}, "Threshold"},
		{Rule{Threshold: 5, SpecificItems: []SpecificItem{{Value: "v", Threshold: 0.5}}}, "SpecificItems"},
	} {
		tc.rule.Resource = "r"
		var re *base.RuleError
		err := tc.rule.Validate()
		if !errors.As(err, &re) || re.Field != tc.field || !errors.Is(err, base.ErrInvalidRule) ||
			!strings.Contains(err.Error(), "Throttling") {
			t.Errorf("%+v: %v, want a RuleError on %s that points to Throttling", tc.rule, err, tc.field)
		}
	}
	for _, r := range []Rule{
		{Threshold: 0.5, BurstCount: 0.5},
		{Threshold: 0}, // blocks every value, as documented
		{Threshold: 0.5, ControlBehavior: Throttling},
		{Threshold: 5, SpecificItems: []SpecificItem{{Value: "v", Threshold: 0}}},
		{Threshold: 5, BurstCount: 1, SpecificItems: []SpecificItem{{Value: "v", Threshold: 0.5}}},
	} {
		r.Resource = "r"
		if err := r.Validate(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
	l := newLimiter(t, Rule{Threshold: 0.5, BurstCount: 0.5})
	if got := acquire(l, t0, key(t, "v"), 5); got != 1 {
		t.Fatalf("0.5 per second with a burst of 0.5: %d passed, want 1", got)
	}
}
