package flow

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// warmOracle is the documented warm-up model in Guava's textbook form,
// 1/((S − W)·slope + 1/T), written out apart from the controller. It is
// driven by the passes the controller made, so that it tracks the same
// stored tokens.
type warmOracle struct {
	t, w, m, slope, coldRate, s float64
	started                     bool
}

func newWarmOracle(r Rule) *warmOracle {
	t, c := r.Threshold, r.ColdFactor()
	p := float64(r.WarmUpPeriod) / float64(r.Interval())
	w := t * p / (c - 1)
	m := w + 2*t*p/(1+c)
	return &warmOracle{t: t, w: w, m: m, slope: (c - 1) / t / (m - w), coldRate: math.Floor(t / c)}
}

// next moves to the next interval, the one before having passed p, and
// returns the rate the model allows in it.
func (o *warmOracle) next(p float64) float64 {
	if !o.started {
		o.s, o.started = o.m, true
	} else if o.s < o.w || p < o.coldRate {
		o.s = math.Min(o.s+o.t, o.m)
	}
	o.s = math.Max(o.s-p, 0)
	if o.s <= o.w {
		return o.t
	}
	return 1 / ((o.s-o.w)*o.slope + 1/o.t)
}

// checkWarmUpReject offers more than the threshold at the start of each of
// n intervals, from cold, and checks each interval's passes: at least one
// and at least floor(T/c) (the cold rate: a valid rule never admits
// nothing), at most Threshold and at most the documented rate. To keep
// large thresholds quick, it offers one batch of lo − 1 permits (lo the
// least it must admit), which must pass, and then single permits until
// one is blocked.
func checkWarmUpReject(t *testing.T, r Rule, n int) bool {
	t.Helper()
	c := NewController(r, Env{})
	o := newWarmOracle(r)
	interval := int64(r.Interval())
	coldRate := math.Floor(r.Threshold / r.ColdFactor())
	prev := 0.0
	for k := 0; k < n; k++ {
		now := t0 + int64(k)*interval
		rate := o.next(prev)
		hi := math.Floor(rate * (1 + 1e-9))
		lo := math.Max(math.Floor(rate*(1-1e-9)), coldRate)
		got := int64(0)
		if pre := int64(lo) - 1; pre >= 1 {
			if _, _, ok := c.Check(now, pre); !ok {
				t.Errorf("%s: interval %d from cold refused a batch of %d (model rate %v, cold rate %v)",
					ruleString(r), k, pre, rate, coldRate)
				return false
			}
			got = pre
		}
		for got <= int64(r.Threshold) {
			if _, _, ok := c.Check(now, 1); !ok {
				break
			}
			got++
		}
		if g := float64(got); g < 1 || g < lo || g > hi || g > r.Threshold {
			t.Errorf("%s: interval %d from cold passed %d; want %v..%v (model rate %v, cold rate %v)",
				ruleString(r), k, got, lo, hi, rate, coldRate)
			return false
		}
		prev = float64(got)
	}
	return true
}

func ruleString(r Rule) string {
	return fmt.Sprintf("{Threshold: %v, WarmUpColdFactor: %v, WarmUpPeriod: %v, StatInterval: %v, %v}",
		r.Threshold, r.WarmUpColdFactor, r.WarmUpPeriod, r.StatInterval, r.ControlBehavior)
}

var warmUpPeriods = []time.Duration{1, time.Microsecond, time.Millisecond, 100 * time.Millisecond,
	999 * time.Millisecond, time.Second, time.Second + 1, 2 * time.Second, 3 * time.Second, 7 * time.Second,
	10 * time.Second, 45 * time.Second, 90 * time.Second, 115 * time.Second, 300 * time.Second, time.Hour,
	24 * time.Hour, 365 * 24 * time.Hour, math.MaxInt64}

// TestWarmUpEveryValidRuleAdmitsWhenCold sweeps thresholds, cold factors
// (among them T itself, and T/2 and T/3, whose cold rates are whole) and
// periods from 1 ns to the longest Duration. Every rule Validate accepts
// passes at least floor(T/c) >= 1 in each interval from its first, and no
// more than the documented curve.
func TestWarmUpEveryValidRuleAdmitsWhenCold(t *testing.T) {
	valid := 0
	for _, threshold := range []float64{1, 2, 3, 5, 7, 10, 12, 20, 33, 50, 100, 999, 1000, 1e6, 1e9} {
		factors := []float64{0, 1.0001, 1.5, 2, 3, 4, 5, 7, 10, 20, 33, 100, 1000, threshold, threshold / 2, threshold / 3}
		for _, factor := range factors {
			for _, period := range warmUpPeriods {
				for _, interval := range []time.Duration{0, 100 * time.Millisecond, 10 * time.Second} {
					r := Rule{Resource: "r", Threshold: threshold, Strategy: WarmUp,
						WarmUpColdFactor: factor, WarmUpPeriod: period, StatInterval: interval}
					if err := r.Validate(); err != nil {
						if r.ColdFactor() > 1 && r.Threshold/r.ColdFactor() >= 1 {
							t.Fatalf("%s: cold rate >= 1 refused: %v", ruleString(r), err)
						}
						continue
					}
					valid++
					if !checkWarmUpReject(t, r, 4) {
						return
					}
				}
			}
		}
	}
	if valid < 1000 {
		t.Fatalf("only %d valid rules swept", valid)
	}
}

// TestWarmUpWholeColdRatesAreExact: T = n·c, whose cold rate is exactly n,
// over every whole-second period up to 300 s. Float rounding in the curve
// once put the cold rate of T = c = 5 over 45 s at 0.9999999999999999,
// which admitted nothing, so the resource never warmed up.
func TestWarmUpWholeColdRatesAreExact(t *testing.T) {
	for _, n := range []float64{1, 2, 3} {
		for _, factor := range []float64{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20, 50, 100} {
			for sec := 1; sec <= 300; sec++ {
				r := Rule{Resource: "r", Threshold: n * factor, Strategy: WarmUp, WarmUpColdFactor: factor,
					WarmUpPeriod: time.Duration(sec) * time.Second}
				if err := r.Validate(); err != nil {
					t.Fatalf("%s: %v", ruleString(r), err)
				}
				if w := newWarmUp(&r); w.rateFor(w.max) != n {
					t.Errorf("%s: cold rate %v, want exactly %v", ruleString(r), w.rateFor(w.max), n)
					return
				}
				if !checkWarmUpReject(t, r, 3) {
					return
				}
			}
		}
	}
}

// TestWarmUpIssueRuleWarmsUp is the reported rule, {Threshold: 5,
// WarmUpColdFactor: 5, WarmUpPeriod: 45s}, which admitted 0 of 12,000
// entries in 10 minutes: offered 20 a second, it admits one a second when
// cold and reaches 5 a second.
func TestWarmUpIssueRuleWarmsUp(t *testing.T) {
	r := Rule{Resource: "r", Threshold: 5, Strategy: WarmUp, WarmUpColdFactor: 5, WarmUpPeriod: 45 * time.Second}
	c := newController(t, r, Env{})
	total, last := 0, 0
	for sec := int64(0); sec < 600; sec++ {
		last = 0
		for i := int64(0); i < 20; i++ {
			if _, _, ok := c.Check(t0+sec*int64(time.Second)+i*50*ms, 1); ok {
				last++
			}
		}
		if sec == 0 && last != 1 {
			t.Fatalf("cold second passed %d, want 1", last)
		}
		total += last
	}
	if last != 5 {
		t.Fatalf("after 10 minutes %d pass a second, want the threshold 5 (%d in all)", last, total)
	}
}

// TestWarmUpThrottlingEveryValidRuleAdmitsWhenCold: under Throttling the
// first entry from cold passes at once; entries offered at every step are
// spaced no closer than the warm spacing (Threshold) allows, the first two
// no closer than the cold spacing, and none further apart than the cold
// spacing and a step.
func TestWarmUpThrottlingEveryValidRuleAdmitsWhenCold(t *testing.T) {
	valid := 0
	for _, threshold := range []float64{1e-3, 0.5, 1, 2, 5, 10, 33, 1000, 1e6} {
		for _, factor := range []float64{0, 1.0001, 2, 5, 10, 1000, threshold} {
			for _, period := range warmUpPeriods {
				r := Rule{Resource: "r", Threshold: threshold, Strategy: WarmUp, WarmUpColdFactor: factor,
					WarmUpPeriod: period, ControlBehavior: Throttling}
				if r.Validate() != nil {
					if r.ColdFactor() > 1 {
						t.Fatalf("%s: refused: %v", ruleString(r), r.Validate())
					}
					continue
				}
				valid++
				interval := float64(r.Interval())
				warm := interval / threshold
				cold := interval * r.ColdFactor() / threshold
				step := int64(max(min(interval/100, cold/10), cold/100, 1)) // at most 400 steps
				c := NewController(r, Env{})
				var passedAt []int64
				for now := t0; now < t0+int64(max(3*interval, 3*cold)) && len(passedAt) < 40; now += step {
					if _, _, ok := c.Check(now, 1); ok {
						passedAt = append(passedAt, now)
					}
				}
				if len(passedAt) == 0 || passedAt[0] != t0 {
					t.Fatalf("%s: the first entry from cold did not pass at once (passes at %v)", ruleString(r), passedAt)
				}
				for i := 1; i < len(passedAt); i++ {
					gap := float64(passedAt[i] - passedAt[i-1])
					floor := warm
					if i == 1 {
						floor = cold
					}
					if gap < floor*(1-1e-12) || gap > math.Ceil(cold)+float64(step) {
						t.Fatalf("%s: passes %d and %d are %v apart, want %v..%v",
							ruleString(r), i-1, i, time.Duration(gap), time.Duration(floor), time.Duration(cold)+time.Duration(step))
					}
				}
				if len(passedAt) < 3 {
					t.Fatalf("%s: %d passes over three cold spacings", ruleString(r), len(passedAt))
				}
			}
		}
	}
	if valid < 300 {
		t.Fatalf("only %d valid rules swept", valid)
	}
}
