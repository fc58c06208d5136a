package flow

import (
	"math"
	"sync"
	"sync/atomic"
)

// warmUp keeps the token state of a WarmUp rule; see WarmUpRate for the
// model.
type warmUp struct {
	threshold, warning, max float64
	coldSpan                float64 // c − 1: 1/rate grows by (c − 1)/T from W to M
	cold                    float64 // T/c, the rate at M
	coldRate                float64 // floor(T/c): fewer passes than this is idle

	tokens     atomic.Uint64 // float64 bits of S
	lastFilled atomic.Int64  // start of the interval S was last updated for
	mu         sync.Mutex    // serialises the once-per-interval update
}

func newWarmUp(r *Rule) *warmUp {
	t, c := r.Threshold, r.ColdFactor()
	p := float64(r.WarmUpPeriod) / float64(r.Interval())
	w := &warmUp{threshold: t, coldSpan: c - 1, cold: t / c, coldRate: math.Floor(t / c)}
	w.lastFilled.Store(math.MinInt64) // never: the first check fills up to max
	w.warning = t * p / (c - 1)
	w.max = w.warning + 2*t*p/(1+c)
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
//	rate(S)         = T                                 if S <= W
//	                = T / (1 + (c − 1)·(S − W)/(M − W))  if S > W
//
// that is, 1/rate grows linearly from 1/T at W to c/T at M (Guava's slope
// (c − 1) / T / (M − W)); S above M counts as M. rate(W) is exactly T
// (warm) and rate(M) exactly T/c (cold, T/c as float64 divides it), and no
// rounding takes the rate below T/c for any S: a rule whose T/c is a whole
// number n (such as T = c) admits n permits per interval when cold, never
// n − 1. The stored tokens S start at M and never exceed it. At the first
// check of each interval, with p the permits passed in the previous
// interval and k the whole intervals since the last update:
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
	// The cold end is T/c itself, and rounding below it is cut off:
	// 1/((S − W)·slope + 1/T), the textbook form, gives 0.9999999999999999
	// at M for T = c = 5 over 45 intervals, which under Reject admits no
	// whole permit, so the resource never passes enough to warm up.
	f := (s - w.warning) / (w.max - w.warning) // (0, 1] for W < S <= M
	if !(f < 1) {
		return w.cold
	}
	return max(w.threshold/(1+w.coldSpan*f), w.cold)
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
