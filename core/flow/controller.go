package flow

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/core/stat"
)

// Env is what a controller needs from its engine.
type Env struct {
	// RefNode returns the statistics of a resource, for AssociatedResource
	// rules.
	RefNode func(resource string) *stat.Node
	// MemoryUsage returns the process's memory use in bytes at now, and
	// false when there is no reading. MemoryAdaptive rules without a reading
	// use LowMemUsageThreshold.
	MemoryUsage func(now int64) (uint64, bool)
}

// Controller enforces one rule on one resource. It is safe for concurrent
// use and does not allocate on Check or Cancel.
type Controller struct {
	rule     Rule
	interval int64 // nanoseconds

	// passes counts this controller's admitted permits over two intervals:
	// the last one for Reject, the one before for warm-up. Nil for
	// AssociatedResource and for Direct Throttling, which need no count.
	passes *stat.Tally
	ref    *stat.Node // AssociatedResource
	warm   *warmUp    // WarmUp
	memory func(now int64) (uint64, bool)

	// free is when the spans handed out under Throttling end: the earliest
	// start for the next entry. math.MaxInt64 is never: a span too long for
	// the clock's range.
	free atomic.Int64
}

// Reservation is what a passed Check took, for a Cancel if a later check
// blocks the same entry.
type Reservation struct {
	epoch      int64 // passes bucket, or -1
	start, end int64 // the throttling span taken; equal (0) for none
	n          int64
}

// NewController returns a controller for a valid rule (see Rule.Validate).
func NewController(r Rule, env Env) *Controller {
	c := &Controller{rule: r, interval: int64(r.Interval()), memory: env.MemoryUsage}
	c.free.Store(math.MinInt64) // free since ever, also for a clock before 1970
	if r.RelationStrategy == AssociatedResource {
		c.ref = env.RefNode(r.RefResource)
		return c
	}
	switch {
	case r.Strategy == WarmUp:
		// A whole interval of history: warm-up reads the previous interval
		// while the current one fills.
		c.passes, _ = stat.NewTally(time.Duration(c.interval), statBuckets, statBuckets)
		c.warm = newWarmUp(&c.rule)
	case r.ControlBehavior == Reject:
		c.passes, _ = stat.NewTally(time.Duration(c.interval), statBuckets, 0)
	}
	return c
}

// Rule returns the rule the controller enforces.
func (c *Controller) Rule() *Rule { return &c.rule }

// Check decides on an entry of batch permits at now. When ok, the entry may
// pass after waiting wait (non-zero only under Throttling); res undoes what
// the check took if the entry is blocked later.
func (c *Controller) Check(now, batch int64) (wait time.Duration, res Reservation, ok bool) {
	res.epoch = -1
	threshold := c.Threshold(now)
	if c.ref != nil {
		return 0, res, float64(c.ref.Sum(now, stat.Pass)+batch) <= threshold
	}
	if c.rule.ControlBehavior == Throttling {
		if oversized(batch, threshold) {
			return 0, res, false
		}
		start, end, w, ok := c.takeSlot(now, c.cost(batch, threshold))
		if !ok {
			return 0, res, false
		}
		res.start, res.end, res.n = start, end, batch
		if c.passes != nil {
			res.epoch = c.passes.Window().Add(now, stat.Pass, batch)
		}
		return w, res, true
	}
	// Reject: reserve first, then check, so concurrent callers never pass
	// more than threshold between them.
	if float64(batch) > threshold {
		return 0, res, false // could never pass; reserving it would only block others
	}
	epoch, passed := c.passes.Reserve(now, batch)
	if float64(passed) > threshold {
		c.passes.Undo(epoch, batch)
		return 0, res, false
	}
	res.epoch, res.n = epoch, batch
	return 0, res, true
}

// Cancel gives back what a passed Check reserved.
func (c *Controller) Cancel(res Reservation) {
	if res.epoch >= 0 {
		c.passes.Undo(res.epoch, res.n)
	}
	if res.end != res.start {
		// Give the span back only if no later entry queued behind it.
		c.free.CompareAndSwap(res.end, res.start)
	}
}

// Threshold returns the permits the rule allows per interval (its
// StatIntervalInMs) at now: Threshold itself, or under WarmUp and
// MemoryAdaptive the threshold those strategies put in force now.
func (c *Controller) Threshold(now int64) float64 {
	switch c.rule.Strategy {
	case WarmUp:
		return c.warm.rate(now, c)
	case MemoryAdaptive:
		return c.memoryThreshold(now)
	}
	return c.rule.Threshold
}

// previousInterval returns the permits passed in the whole interval before
// the one that holds now.
func (c *Controller) previousInterval(now int64) int64 {
	start := now - now%c.interval
	return c.passes.Window().SumBetween(stat.Pass, start-c.interval, start)
}

// takeSlot reserves the next span of cost nanoseconds, starting when the
// previous span ends (or now, if that is later), and returns the span's
// start and end, for a Cancel, with the wait until its start. A span of
// math.MaxInt64 (see cost), or one that would end past the clock's range,
// ends at math.MaxInt64, that is never.
func (c *Controller) takeSlot(now, cost int64) (start, end int64, wait time.Duration, ok bool) {
	if cost < 0 {
		return 0, 0, 0, false
	}
	maxWait := int64(c.rule.MaxQueueingTime)
	for {
		free := c.free.Load()
		start = max(free, now)
		// start >= now; a negative difference overflowed, and is longer
		// than any MaxQueueingTime.
		if w := start - now; w < 0 || w > maxWait {
			return 0, 0, 0, false
		}
		end = start + cost
		if cost == math.MaxInt64 || end < start {
			end = math.MaxInt64
		}
		if c.free.CompareAndSwap(free, end) {
			return start, end, time.Duration(start - now), true
		}
	}
}

// oversized reports whether a Throttling entry of batch permits is more than
// one interval's worth at threshold (or more than one permit, when the
// threshold is below one): such an entry could only pass by booking the
// queue for longer than an interval, shutting out every other caller, so it
// is refused, as Reject refuses a batch over its threshold.
func oversized(batch int64, threshold float64) bool { return float64(batch) > max(threshold, 1) }

// cost returns the spacing for batch permits at threshold per interval,
// rounded up to a whole nanosecond so the rate never exceeds the threshold,
// or -1 when the threshold admits nothing. A spacing past the range of
// int64 nanoseconds (about 292 years: 1e-10 per second, say) is
// math.MaxInt64: the entry passes, and its span never ends.
func (c *Controller) cost(batch int64, threshold float64) int64 {
	if !(threshold > 0) {
		return -1
	}
	d := math.Ceil(float64(batch) * float64(c.interval) / threshold)
	if !(d < math.MaxInt64) { // float64(MaxInt64) is 2^63; also +Inf
		return math.MaxInt64
	}
	return max(int64(d), 1)
}

// memoryThreshold slides linearly from LowMemUsageThreshold at
// MemLowWaterMark to HighMemUsageThreshold at MemHighWaterMark.
func (c *Controller) memoryThreshold(now int64) float64 {
	r := &c.rule
	var used uint64
	ok := c.memory != nil
	if ok {
		used, ok = c.memory(now)
	}
	switch {
	case !ok || used <= r.MemLowWaterMark:
		return r.LowMemUsageThreshold
	case used >= r.MemHighWaterMark:
		return r.HighMemUsageThreshold
	}
	f := float64(used-r.MemLowWaterMark) / float64(r.MemHighWaterMark-r.MemLowWaterMark)
	return r.LowMemUsageThreshold - f*(r.LowMemUsageThreshold-r.HighMemUsageThreshold)
}
