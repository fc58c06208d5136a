package sluice

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/core/stat"
	"github.com/sluice-go/sluice/core/system"
)

// inbound keeps the statistics of every Inbound entry, whatever its
// resource, for system rules: a window of the last second in 100 ms
// buckets, with system.BBRWindows seconds of history behind it for BBR. It
// counts entries, not permits: a batch entry counts once, as it does in
// flight.
type inbound struct {
	node *stat.Node
	// passes counts the entries admitted under InboundQPS rules, each
	// reserved at its check, so that entries racing each other cannot pass
	// more than a trigger between them.
	passes *stat.Tally
	cache  inboundCache
}

// inboundCache holds what system rules read of the inbound statistics that
// does not change within a bucket, worked out once per bucket: the counts
// of the buckets of the last second but the current one and the one before
// it (an entry that read the clock just before the edge may still add to
// that one), and the BBR limit, worked out from whole buckets.
//
// epoch is the bucket (now / inboundBucket) + 1 the values belong to, 0
// while none or while they are being written; it is written after them and
// read before and after them, so a reader that sees the same epoch twice
// has the values of that bucket.
type inboundCache struct {
	epoch      atomic.Int64
	refreshing atomic.Bool
	pass       atomic.Int64
	complete   atomic.Int64
	rtSum      atomic.Int64
	bbrLimit   atomic.Uint64 // math.Float64bits
}

// inboundReading is what inboundCache holds for one bucket.
type inboundReading struct {
	pass, complete int64
	rtSum          time.Duration
	bbrLimit       float64
}

const (
	inboundInterval = time.Second
	inboundBuckets  = 10
	inboundBucket   = int64(inboundInterval / inboundBuckets)
	// inboundHistory keeps system.BBRWindows seconds before the current
	// bucket: the buckets of the last second but the current one, and the
	// rest as history.
	inboundHistory = system.BBRWindows*inboundBuckets - (inboundBuckets - 1)
)

func newInbound() inbound {
	node, err := stat.NewNodeWithHistory(inboundInterval, inboundBuckets, inboundHistory)
	if err != nil {
		panic("sluice: inbound window: " + err.Error()) // constants: cannot happen
	}
	node.Spread() // every Inbound entry records here, from every core
	passes, err := stat.NewTally(inboundInterval, inboundBuckets, 0)
	if err != nil {
		panic("sluice: inbound tally: " + err.Error())
	}
	return inbound{node: node, passes: passes}
}

// passed returns the inbound entries admitted in the last second (the
// bucket holding now and the nine before it): the two newest buckets read
// live, the older ones from settled.
func (in *inbound) passed(now int64) int64 {
	bucket := max(now, 0) / inboundBucket
	return in.settled(now).pass + in.node.CountAt(bucket-1, stat.Pass) + in.node.CountAt(bucket, stat.Pass)
}

// avgRTms returns the mean response time in milliseconds of the inbound
// entries that exited in the last second, read as passed is, or 0 if none
// did.
func (in *inbound) avgRTms(now int64) float64 {
	bucket := max(now, 0) / inboundBucket
	r := in.settled(now)
	complete, rtSum := r.complete, int64(r.rtSum)
	for b := bucket - 1; b <= bucket; b++ {
		complete += in.node.CountAt(b, stat.Complete)
		rtSum += in.node.CountAt(b, stat.RTSum)
	}
	if complete == 0 {
		return 0
	}
	return float64(rtSum) / float64(complete) / float64(time.Millisecond)
}

// settled returns what the cache holds for now's bucket: from the cache if
// it holds that bucket, else worked out afresh and cached (unless another
// entry is caching at the same moment).
func (in *inbound) settled(now int64) inboundReading {
	bucket := max(now, 0) / inboundBucket
	if r, ok := in.cached(bucket); ok {
		return r
	}
	r := in.older(now)
	if c := &in.cache; c.refreshing.CompareAndSwap(false, true) {
		c.epoch.Store(0)
		c.pass.Store(r.pass)
		c.complete.Store(r.complete)
		c.rtSum.Store(int64(r.rtSum))
		c.bbrLimit.Store(math.Float64bits(r.bbrLimit))
		c.epoch.Store(bucket + 1)
		c.refreshing.Store(false)
	}
	return r
}

// cached returns the cache's values if they are of bucket.
func (in *inbound) cached(bucket int64) (inboundReading, bool) {
	c := &in.cache
	if c.epoch.Load() != bucket+1 {
		return inboundReading{}, false
	}
	r := inboundReading{pass: c.pass.Load(), complete: c.complete.Load(), rtSum: time.Duration(c.rtSum.Load()),
		bbrLimit: math.Float64frombits(c.bbrLimit.Load())}
	return r, c.epoch.Load() == bucket+1
}

// older works out what the cache holds for now's bucket.
func (in *inbound) older(now int64) inboundReading {
	start := max(now, 0) / inboundBucket * inboundBucket
	c := in.node.ReadBetween(start-(inboundBuckets-1)*inboundBucket, start-inboundBucket)
	return inboundReading{pass: c.Pass, complete: c.Complete, rtSum: c.RTSum, bbrLimit: in.bbrLimit(now)}
}

// bbrLimit returns maxCompletedPerSecond × minRT at now: the most entries
// that exited in one of the last system.BBRWindows whole seconds, times the
// smallest mean response time of one 100 ms bucket in them.
func (in *inbound) bbrLimit(now int64) float64 {
	peak, minRT := in.node.Peak(now, time.Second, system.BBRWindows)
	return float64(peak) * minRT.Seconds()
}

// bbrAdmits reports whether an inbound entry is within what the service has
// shown it completes, given the entries in flight besides it: at most one,
// or at most the BBR limit.
func bbrAdmits(others int64, limit float64) bool {
	return others <= 1 || float64(others) <= limit
}

// inboundHold is what an inbound entry took of the inbound statistics
// before it was admitted for good, to give back if a later check or its
// queueing wait blocks it: a slot in the exact in-flight count (under a
// Concurrency rule) or a count in its stripe, and a pass in the InboundQPS
// tally. Its zero value holds nothing.
type inboundHold struct {
	in       *inbound
	slot     bool // counted in flight in the node's exact, shared count
	inFlight bool // counted in flight in stripe
	stripe   int
	pass     int64 // the passes bucket of its reservation + 1; 0: none
}

// reserveSlot counts the entry in flight in the exact count if that keeps
// it at or under limit, and reports whether it did.
func (in *inbound) reserveSlot(h *inboundHold, limit int64) bool {
	h.in = in
	h.slot = in.node.TryAcquire(limit)
	return h.slot
}

// reservePass counts the entry in the passes tally and returns the
// entries admitted over the last second, this one included.
func (in *inbound) reservePass(h *inboundHold, now int64) int64 {
	h.in = in
	epoch, count := in.passes.Reserve(now, 1)
	h.pass = epoch + 1
	return count
}

// hold counts an entry that passed its checks in flight, in its stripe
// unless it holds a slot: it is in flight from here, queueing included.
func (in *inbound) hold(h *inboundHold, stripe int) {
	h.in = in
	if !h.slot && !h.inFlight {
		in.node.Enter(stripe)
		h.inFlight, h.stripe = true, stripe
	}
}

// release gives back what h holds.
func (h *inboundHold) release() {
	if h.in == nil {
		return
	}
	if h.pass != 0 {
		h.in.passes.Undo(h.pass-1, 1)
	}
	if h.slot {
		h.in.node.Release()
	} else if h.inFlight {
		h.in.node.Leave(h.stripe)
	}
	*h = inboundHold{}
}

// enter counts an admitted inbound entry, in flight since hold.
func (in *inbound) enter(now int64, stripe int) { in.node.Add(now, stripe, stat.Pass, 1) }

// leave counts an inbound entry's exit; slot says whether it holds a slot
// in the exact in-flight count or was counted in its stripe.
func (in *inbound) leave(now int64, stripe int, rt time.Duration, failed, slot bool) {
	in.node.AddCompletion(now, stripe, 1, rt, failed)
	if slot {
		in.node.Release()
	} else {
		in.node.Leave(stripe)
	}
}

// block counts a blocked inbound entry.
func (in *inbound) block(now int64, stripe int) { in.node.Add(now, stripe, stat.Block, 1) }
