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

	// The readings of the current bucket, cached: working them out costs a
	// pass over all the node's buckets, so it is done once per bucket.
	// epoch is the bucket (now / inboundBucket) + 1 they belong to, 0 while
	// none or while they are being written; it is written after them and
	// read before and after them, so a reader that sees the same epoch
	// twice has the readings of that bucket.
	epoch      atomic.Int64
	refreshing atomic.Bool
	qps        atomic.Uint64 // math.Float64bits: passed entries per second over the last second
	avgRTms    atomic.Uint64 // math.Float64bits: mean response time in ms over the last second
	bbrLimit   atomic.Uint64 // math.Float64bits: maxCompletedPerSecond × minRT over the BBR windows
}

// inboundReading is what system rules read of the inbound statistics.
type inboundReading struct {
	qps, avgRTms, bbrLimit float64
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
	return inbound{node: node}
}

// reading returns the readings of now's bucket: the cached ones if they are
// of that bucket, else worked out afresh (and cached, unless another entry
// is caching them at the same moment). A reading of an older bucket is never
// used.
func (in *inbound) reading(now int64) inboundReading {
	epoch := max(now, 0)/inboundBucket + 1
	if in.epoch.Load() == epoch {
		r := inboundReading{
			qps:      math.Float64frombits(in.qps.Load()),
			avgRTms:  math.Float64frombits(in.avgRTms.Load()),
			bbrLimit: math.Float64frombits(in.bbrLimit.Load()),
		}
		if in.epoch.Load() == epoch {
			return r
		}
	}
	r, _ := in.compute(now)
	if in.refreshing.CompareAndSwap(false, true) {
		in.epoch.Store(0)
		in.qps.Store(math.Float64bits(r.qps))
		in.avgRTms.Store(math.Float64bits(r.avgRTms))
		in.bbrLimit.Store(math.Float64bits(r.bbrLimit))
		in.epoch.Store(epoch)
		in.refreshing.Store(false)
	}
	return r
}

// compute works out the readings at now from the node, and returns the
// node's rates with them.
func (in *inbound) compute(now int64) (inboundReading, stat.Rates) {
	rates := in.node.Rates(now)
	peak, minRT := in.node.Peak(now, time.Second, system.BBRWindows)
	return inboundReading{
		qps:      rates.Pass,
		avgRTms:  float64(rates.AvgRT) / float64(time.Millisecond),
		bbrLimit: float64(peak) * minRT.Seconds(),
	}, rates
}

// bbrAdmits reports whether an inbound entry is within what the service has
// shown it completes: the inbound entries in flight, this one not counted,
// are at most maxCompletedPerSecond × minRT.
func (in *inbound) bbrAdmits(now int64) bool {
	return float64(in.node.Concurrency()) <= in.reading(now).bbrLimit
}

// enter counts an admitted inbound entry, in flight until leave.
func (in *inbound) enter(now int64, stripe int) {
	in.node.Add(now, stripe, stat.Pass, 1)
	in.node.Enter(stripe)
}

// leave counts an inbound entry's exit.
func (in *inbound) leave(now int64, stripe int, rt time.Duration, failed bool) {
	in.node.AddCompletion(now, stripe, 1, rt, failed)
	in.node.Leave(stripe)
}

// block counts a blocked inbound entry.
func (in *inbound) block(now int64, stripe int) { in.node.Add(now, stripe, stat.Block, 1) }
