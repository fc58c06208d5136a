package stat

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// Totals is what a window has counted since it was made: every count it
// ever held, whether its bucket is still in the ring or has been reset.
type Totals struct {
	Pass, Block, Complete, Error int64
	// RTSeconds is the sum of response times times their batch counts, in
	// seconds (a float, so that it cannot wrap).
	RTSeconds float64
}

func (t *Totals) add(o Totals) {
	t.Pass += o.Pass
	t.Block += o.Block
	t.Complete += o.Complete
	t.Error += o.Error
	t.RTSeconds += o.RTSeconds
}

// folded is what the reset buckets of a window that keeps totals counted:
// a bucket about to be reused moves its counts here first. A reader sums
// folded and every bucket of the ring; folding and folds bracket a move,
// so that a reader never sees a count in both places or in neither.
type folded struct {
	folding atomic.Int64  // moves in progress
	folds   atomic.Uint64 // moves finished
	count   [RTSum]atomic.Int64
	rt      atomic.Uint64 // float64 seconds, as math.Float64bits
}

// fold moves the counts of b, a bucket being reset, into f and zeroes b.
// Swap, not Store: a count an adder makes while the bucket resets (it
// found the bucket before the reset began) lands either in f or in the
// bucket's next epoch, never nowhere.
func (f *folded) fold(b bucket) {
	f.folding.Add(1)
	for e := Pass; e < RTSum; e++ {
		if v := b.count(e).Swap(0); v != 0 {
			f.count[e].Add(v)
		}
	}
	if v := b.count(RTSum).Swap(0); v != 0 {
		addFloat(&f.rt, time.Duration(v).Seconds())
	}
	b[cellMinRT].Store(0)
	f.folds.Add(1)
	f.folding.Add(-1)
}

// addFloat adds d to the float64 whose bits u holds.
func addFloat(u *atomic.Uint64, d float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Totals returns what w has counted since it was made. Only a window made
// to keep totals (those of a Node) has them; any other reads as zero. The
// reading is exact: each count is in it once, whether made before or
// after a bucket was reset; counts made while it reads may or may not be.
// Successive readings never decrease.
func (w *Window) Totals() Totals {
	f := w.folded
	if f == nil {
		return Totals{}
	}
	for {
		seen := f.folds.Load()
		if f.folding.Load() != 0 {
			runtime.Gosched()
			continue
		}
		t := Totals{Pass: f.count[Pass].Load(), Block: f.count[Block].Load(),
			Complete: f.count[Complete].Load(), Error: f.count[Error].Load()}
		var rt int64
		for i := range w.ring() {
			b := w.bucketAt(i)
			t.Pass += b.count(Pass).Load()
			t.Block += b.count(Block).Load()
			t.Complete += b.count(Complete).Load()
			t.Error += b.count(Error).Load()
			rt += b.count(RTSum).Load()
		}
		t.RTSeconds = math.Float64frombits(f.rt.Load()) + time.Duration(rt).Seconds()
		if f.folding.Load() == 0 && f.folds.Load() == seen {
			return t
		}
	}
}
