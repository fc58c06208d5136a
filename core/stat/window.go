// Package stat keeps Sluice's statistics: bucketed sliding windows of event
// counts (a leap array) and the per-resource nodes built on them.
//
// Every operation is lock-free and allocation-free. A bucket is reused in
// place when its time comes round again; the goroutine that rolls it over
// marks it as resetting, zeroes it and publishes the new epoch, and adders
// that meet a resetting bucket wait for it, so no count made in the current
// epoch is lost to a reset. The one approximation: a goroutine stopped for
// longer than a whole window between finding its bucket and adding to it
// counts in whatever epoch the bucket holds when it resumes.
package stat

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
)

// Event names one counter of a bucket.
type Event uint8

// The counters kept in each bucket.
const (
	Pass     Event = iota // entries admitted, in batch units
	Block                 // entries blocked, in batch units
	Complete              // entries exited, in batch units
	Error                 // entries exited with an error, in batch units
	RTSum                 // response times of exited entries times their batch, in nanoseconds
	numEvents
)

// Window is a sliding window of event counts over a fixed interval, cut into
// equal buckets, with optionally some older buckets kept as history. Times
// are nanoseconds since the Unix epoch, as read from a clock.Clock; negative
// times count as zero.
//
// A Window must be made with NewWindow. It is safe for concurrent use.
type Window struct {
	bucketNanos int64
	perNano     float64 // 1 / bucketNanos, to divide without a division
	inWindow    int64   // buckets in the interval
	mask        int64   // the ring's length - 1; the length is a power of two
	width       int     // cells per bucket: fullCells, or passCells
	cells       []atomic.Int64
	folded      *folded // what reset buckets counted; nil unless the window keeps totals
}

// bucket is a bucket's cells in its window: its state, then its counters,
// by Event, and the smallest response time. A window that counts passes
// only (a Tally's) has buckets of the state and the Pass counter alone.
//
// The state is epoch<<1 | resetting, where epoch = bucket start /
// bucketNanos; the smallest response time is kept plus one, 0 for none.
type bucket []atomic.Int64

const (
	cellMinRT = 1 + int(numEvents)
	fullCells = cellMinRT + 1
	passCells = 1 + 1 + int(Pass)
)

func (b bucket) state() *atomic.Int64        { return &b[0] }
func (b bucket) count(e Event) *atomic.Int64 { return &b[1+int(e)] }

// MaxBuckets is the most buckets, history included, a window may have.
const MaxBuckets = 4096

// NewWindow returns a window covering interval, cut into the given number of
// buckets, that also keeps history older buckets for SumBetween and
// ReadBetween. interval must be a positive multiple of buckets nanoseconds
// and history must not be negative.
func NewWindow(interval time.Duration, buckets, history int) (*Window, error) {
	return newWindow(interval, buckets, history, fullCells)
}

// newTotalWindow is NewWindow for a window that also keeps Totals.
func newTotalWindow(interval time.Duration, buckets, history int) (*Window, error) {
	w, err := newWindow(interval, buckets, history, fullCells)
	if err == nil {
		w.folded = new(folded)
	}
	return w, err
}

// newPassWindow is NewWindow for a window that counts Pass only (a Tally's):
// a quarter of the memory. Other events must not be added or read.
func newPassWindow(interval time.Duration, buckets, history int) (*Window, error) {
	return newWindow(interval, buckets, history, passCells)
}

func newWindow(interval time.Duration, buckets, history, width int) (*Window, error) {
	if buckets <= 0 || history < 0 || buckets+history > MaxBuckets || interval <= 0 || int64(interval)%int64(buckets) != 0 {
		return nil, fmt.Errorf("stat: window of %v cannot be cut into %d equal buckets (plus %d of history, %d at most)",
			interval, buckets, history, MaxBuckets)
	}
	ring := 1 << bits.Len(uint(buckets+history-1)) // extra slots keep older history
	bn := int64(interval) / int64(buckets)
	return &Window{bucketNanos: bn, perNano: 1 / float64(bn), inWindow: int64(buckets),
		mask: int64(ring - 1), width: width, cells: make([]atomic.Int64, ring*width)}, nil
}

// Interval returns the span the window covers.
func (w *Window) Interval() time.Duration { return time.Duration(w.bucketNanos * w.inWindow) }

// BucketLen returns the span of one bucket.
func (w *Window) BucketLen() time.Duration { return time.Duration(w.bucketNanos) }

// Add adds n to event e in the bucket holding now and returns that bucket's
// epoch (its start divided by BucketLen), for a later Undo.
func (w *Window) Add(now int64, e Event, n int64) (epoch int64) {
	b, epoch := w.current(now)
	b.count(e).Add(n)
	return epoch
}

// AddGet is Add that also returns the bucket's new count of e.
func (w *Window) AddGet(now int64, e Event, n int64) (epoch, count int64) {
	b, epoch := w.current(now)
	return epoch, b.count(e).Add(n)
}

// Undo subtracts n from event e in the bucket of the given epoch, if that
// bucket is still in the ring. A count whose bucket has rolled over has left
// the window already and needs no undoing.
func (w *Window) Undo(epoch int64, e Event, n int64) {
	b := w.slot(epoch)
	if b.state().Load() == epoch<<1 {
		b.count(e).Add(-n)
	}
}

// AddCompletion records one exited entry of batch permits: Complete, Error
// when failed, and its response time (RTSum grows by rt × batch, so that
// RTSum / Complete is the mean response time per permit), in one bucket
// look-up.
func (w *Window) AddCompletion(now, batch int64, rt time.Duration, failed bool) {
	if rt < 0 {
		rt = 0
	}
	b, _ := w.current(now)
	b.count(Complete).Add(batch)
	if failed {
		b.count(Error).Add(batch)
	}
	b.count(RTSum).Add(int64(rt) * batch)
	v, minRT := int64(rt)+1, &b[cellMinRT]
	for {
		old := minRT.Load()
		if old != 0 && old <= v || minRT.CompareAndSwap(old, v) {
			return
		}
	}
}

// current returns the bucket for now, rolling it over to now's epoch if it
// still holds an older one. If the bucket already holds a newer epoch (the
// caller read the clock, then was delayed for longer than the window), the
// count goes to the newer epoch: it happens now, not when the clock was read.
func (w *Window) current(now int64) (bucket, int64) {
	if now < 0 {
		now = 0
	}
	epoch := w.epoch(now)
	b := w.slot(epoch)
	want := epoch << 1
	state := b.state()
	for {
		s := state.Load()
		switch {
		case s == want:
			return b, epoch
		case s&1 != 0:
			runtime.Gosched() // another goroutine is resetting the bucket
		case s > want:
			return b, s >> 1
		case state.CompareAndSwap(s, want|1):
			if w.folded != nil {
				w.folded.fold(b)
			} else {
				for i := 1; i < len(b); i++ {
					b[i].Store(0)
				}
			}
			state.Store(want)
			return b, epoch
		}
	}
}

func (w *Window) slot(epoch int64) bucket { return w.bucketAt(int(epoch & w.mask)) }

// bucketAt returns the bucket at position i of the ring.
func (w *Window) bucketAt(i int) bucket {
	return bucket(w.cells[i*w.width : (i+1)*w.width : (i+1)*w.width])
}

// ring returns the number of buckets the window keeps, history included.
func (w *Window) ring() int { return int(w.mask) + 1 }

// epoch returns now / bucketNanos for now >= 0. A 64-bit division costs tens
// of cycles on the hot path; a multiplication by the reciprocal is off by at
// most one, which the two comparisons put right.
// Below 4096 ns per bucket the product can be off by more (float64 has 53
// bits), so such windows divide.
func (w *Window) epoch(now int64) int64 {
	if w.bucketNanos < 4096 {
		return now / w.bucketNanos
	}
	e := int64(float64(now) * w.perNano)
	if e*w.bucketNanos > now {
		e--
	} else if (e+1)*w.bucketNanos <= now {
		e++
	}
	return e
}

// Sum returns the count of e over the window ending at now: the bucket
// holding now and the buckets before it, one interval in all.
func (w *Window) Sum(now int64, e Event) int64 {
	from, to := w.span(now)
	return w.SumBetween(e, from, to)
}

// Count returns the count of e in the bucket of epoch, or 0 if that bucket
// has rolled over.
func (w *Window) Count(epoch int64, e Event) int64 {
	b := w.slot(epoch)
	s := b.state().Load()
	v := b.count(e).Load()
	if s != epoch<<1 || b.state().Load() != s {
		return 0
	}
	return v
}

// Prior caches Window.Prior for one event. Its zero value is empty.
//
// It is a sequence lock over the full epoch and the sum: seq is odd while a
// writer stores them, and a reader uses them only if seq was even and
// unchanged across its reads. A writer that finds seq odd or changed skips
// the write, so writes never wait and readers never block.
type Prior struct {
	seq   atomic.Uint64 // 0: empty; odd: being written
	epoch atomic.Int64
	sum   atomic.Int64
}

// Prior returns the count of e in the buckets of the interval that ends with
// the bucket of epoch, that bucket excluded. The bucket just before it is
// read live: an entry that read the clock just before the bucket edge may
// still be adding to it. The older ones no longer grow (but for an entry
// stopped for a whole bucket between reading the clock and adding), so
// their sum is computed once per epoch and kept in cache, tagged with the
// whole epoch; pass the same cache for the same window and event every
// time. A caller of an older epoch overwrites the cache, so the next caller
// of the newer epoch recomputes, counting it.
func (w *Window) Prior(epoch int64, e Event, cache *Prior) int64 {
	live := w.Count(epoch-1, e)
	if w.inWindow <= 2 {
		if w.inWindow == 1 {
			return 0
		}
		return live
	}
	seq := cache.seq.Load()
	if seq != 0 && seq&1 == 0 {
		cached, sum := cache.epoch.Load(), cache.sum.Load()
		if cached == epoch && cache.seq.Load() == seq {
			return live + sum
		}
	}
	start := (epoch - 1) * w.bucketNanos
	sum := w.SumBetween(e, start-(w.inWindow-2)*w.bucketNanos, start)
	if seq&1 == 0 && cache.seq.CompareAndSwap(seq, seq+1) {
		cache.epoch.Store(epoch)
		cache.sum.Store(sum)
		cache.seq.Store(seq + 2)
	}
	return live + sum
}

// SumBetween returns the count of e in the buckets, window or history, whose
// start time is in [from, to).
func (w *Window) SumBetween(e Event, from, to int64) int64 {
	var sum int64
	for i := range w.ring() {
		b := w.bucketAt(i)
		s := b.state().Load()
		if s&1 != 0 || !w.startIn(s, from, to) {
			continue
		}
		v := b.count(e).Load()
		if b.state().Load() == s {
			sum += v
		}
	}
	return sum
}

// Counts is a reading of every counter of a window.
type Counts struct {
	Pass, Block, Complete, Error int64
	// RTSum is the sum of response times times their batch counts.
	RTSum time.Duration
	// MinRT is the smallest response time recorded, or 0 if none was.
	MinRT time.Duration
}

func (c *Counts) add(o Counts) {
	c.Pass += o.Pass
	c.Block += o.Block
	c.Complete += o.Complete
	c.Error += o.Error
	c.RTSum += o.RTSum
	if o.MinRT != 0 && (c.MinRT == 0 || o.MinRT < c.MinRT) {
		c.MinRT = o.MinRT
	}
}

// Read returns every counter over the window ending at now.
func (w *Window) Read(now int64) Counts {
	from, to := w.span(now)
	return w.ReadBetween(from, to)
}

// ReadBetween returns every counter of the buckets, window or history, whose
// start time is in [from, to).
func (w *Window) ReadBetween(from, to int64) Counts {
	var c Counts
	for i := range w.ring() {
		b := w.bucketAt(i)
		if s := b.state().Load(); s&1 == 0 && w.startIn(s, from, to) {
			if v, ok := b.read(s); ok {
				c.add(v)
			}
		}
	}
	return c
}

// ReadBucket returns every counter of the bucket of epoch (its start divided
// by BucketLen), or zeros if the ring holds another epoch in its place.
func (w *Window) ReadBucket(epoch int64) Counts {
	c, _ := w.slot(epoch).read(epoch << 1)
	return c
}

// read returns the counters of a bucket of a full window if it is in state
// s, not resetting, from before the reading to after it.
func (b bucket) read(s int64) (Counts, bool) {
	if b.state().Load() != s || s&1 != 0 {
		return Counts{}, false
	}
	c := Counts{Pass: b.count(Pass).Load(), Block: b.count(Block).Load(), Complete: b.count(Complete).Load(),
		Error: b.count(Error).Load(), RTSum: time.Duration(b.count(RTSum).Load())}
	if m := b[cellMinRT].Load(); m != 0 {
		c.MinRT = time.Duration(m - 1)
	}
	if b.state().Load() != s {
		return Counts{}, false
	}
	return c, true
}

func (w *Window) span(now int64) (from, to int64) {
	if now < 0 {
		now = 0
	}
	to = (w.epoch(now) + 1) * w.bucketNanos
	return to - w.bucketNanos*w.inWindow, to
}

func (w *Window) startIn(state, from, to int64) bool {
	start := (state >> 1) * w.bucketNanos
	return start >= from && start < to
}
