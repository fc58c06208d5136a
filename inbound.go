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
// buckets, with system.BBRWindows seconds of history behind it for BBR.
type inbound struct {
	node *stat.Node

	// The readings below are worked out at most once per bucket, by the
	// first entry that needs them in a new bucket: reading the node costs a
	// pass over all its buckets.
	epoch    atomic.Int64  // bucket (now / inboundBucket) of the readings, +1; 0 for none
	qps      atomic.Uint64 // math.Float64bits: passed entries per second over the last second
	avgRTms  atomic.Uint64 // math.Float64bits: mean response time in ms over the last second
	bbrLimit atomic.Uint64 // math.Float64bits: maxCompletedPerSecond × minRT over the BBR windows
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

// refresh brings the cached readings up to now's bucket.
func (in *inbound) refresh(now int64) {
	epoch := max(now, 0)/inboundBucket + 1
	old := in.epoch.Load()
	if old == epoch || !in.epoch.CompareAndSwap(old, epoch) {
		return // fresh, or another entry is refreshing it: use what is there
	}
	r := in.node.Rates(now)
	in.qps.Store(math.Float64bits(r.Pass))
	in.avgRTms.Store(math.Float64bits(float64(r.AvgRT) / float64(time.Millisecond)))
	peak, minRT := in.node.Peak(now, time.Second, system.BBRWindows)
	in.bbrLimit.Store(math.Float64bits(float64(peak) * minRT.Seconds()))
}

func (in *inbound) read(v *atomic.Uint64, now int64) float64 {
	in.refresh(now)
	return math.Float64frombits(v.Load())
}

// bbrAdmits reports whether an inbound entry is within what the service has
// shown it completes: the inbound entries in flight, this one not counted,
// are at most maxCompletedPerSecond × minRT.
func (in *inbound) bbrAdmits(now int64) bool {
	return float64(in.node.Concurrency()) <= in.read(&in.bbrLimit, now)
}
