package flow

import (
	"math"
	"sync"
	"sync/atomic"
)

// warmUp keeps the token state of a WarmUp rule; see WarmUpRate for the
// model.
type warmUp struct {
	threshold, warning, max, slope float64
	coldRate                       float64 // floor(T/c): fewer passes than this is idle

	tokens     atomic.Uint64 // float64 bits of S
	lastFilled atomic.Int64  // start of the interval S was last updated for
	mu         sync.Mutex    // serialises the once-per-interval update
}

func newWarmUp(r *Rule) *warmUp {
	t, c := r.Threshold, r.ColdFactor()
	p := float64(r.WarmUpPeriod) / float64(r.Interval())
	w := &warmUp{threshold: t, coldRate: math.Floor(t / c)}
	w.lastFilled.Store(math.MinInt64) // never: the first check fills up to max
	w.warning = t * p / (c - 1)
	w.max = w.warning + 2*t*p/(1+c)
	if t > 0 && w.max > w.warning {
		w.slope = (c - 1) / t / (w.max - w.warning)
	}
	return w
}

// WarmUpRate returns the permits per interval a WarmUp rule allows with S
// stored tokens. It is exported to document the curve, which follows
// Guava's SmoothWarmingUp (the model Sentinel uses).
//
// With T = Threshold per interval, P = WarmUpPeriod in intervals and
// c = WarmUpColdFactor:
//
//	warning tokens  W = T·P / (c − 1)
//	max tokens      M = W + 2·T·P / (1 + c)
//	slope           s = (c − 1) / T / (M − W)
//	rate(S)         = T                          if S <= W
//	                = 1 / ((S − W)·s + 1/T)      if S > W
//
// rate(M) is T/c (cold) and rate(W) is T (warm). The stored tokens S start at
// M. At the first check of each interval, with p the permits passed in the
// previous interval and k the whole intervals since the last update:
//
//	S = min(S + k·T, M)   if S < W, or if p < floor(T/c) (idle: cooling)
//	S = max(S − p, 0)
//
// So sustained traffic spends tokens and warms the resource up over about
// WarmUpPeriod, and idleness refills them and cools it down again. Within an
// interval the rate is fixed; Reject counts it over a sliding interval, as
// for Direct.
func WarmUpRate(r Rule, storedTokens float64) float64 {
	return newWarmUp(&r).rateFor(storedTokens)
}

func (w *warmUp) rateFor(s float64) float64 {
	if w.threshold <= 0 {
		return 0
	}
	if s <= w.warning {
		return w.threshold
	}
	return 1 / ((s-w.warning)*w.slope + 1/w.threshold)
}

// rate brings the tokens up to date for now and returns the allowed rate.
func (w *warmUp) rate(now int64, c *Controller) float64 {
	start := now - now%c.interval
	if start > w.lastFilled.Load() {
		w.update(start, now, c)
	}
	return w.rateFor(math.Float64frombits(w.tokens.Load()))
}

// update brings the tokens up to the interval starting at start.
func (w *warmUp) update(start, now int64, c *Controller) {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.lastFilled.Load()
	if start <= last {
		return // another caller did it
	}
	passed := float64(c.previousInterval(now))
	s := math.Float64frombits(w.tokens.Load())
	switch {
	case last == math.MinInt64:
		s = w.max
	case s < w.warning || passed < w.coldRate:
		intervals := float64(start-last) / float64(c.interval)
		s = math.Min(s+intervals*w.threshold, w.max)
	}
	w.tokens.Store(math.Float64bits(math.Max(s-passed, 0)))
	w.lastFilled.Store(start)
}
