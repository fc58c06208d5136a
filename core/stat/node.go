package stat

import (
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Node holds the statistics of one resource: sliding windows of events and
// the number of entries in flight.
//
// Its counters can be striped per processor: an entry records into the
// stripe of the processor it runs on (Stripe), so that entries on different
// cores do not pull the same cache lines back and forth; readings sum the
// stripes. A node starts with one stripe, and spreads to one per processor
// the first time a bucket of its window counts SpreadAt passes (the rate at
// which stripes begin to pay): a resource seldom entered costs one window,
// not one per processor. The in-flight count that isolation rules reserve
// against exactly is one shared counter (TryAcquire, Release).
type Node struct {
	first stripe // stripe 0
	// more holds stripes 1 to mask once the node has spread; Stripe hands
	// out only stripe 0 until then.
	more atomic.Pointer[[]stripe]
	mask int // the stripes the node can spread to, minus one
	// The shape of the windows, for those of the stripes spread to.
	interval         time.Duration
	buckets, history int
	spreading        sync.Mutex
	_                [64]byte // shared on a cache line of its own
	// shared is the exact in-flight count of entries that reserved it.
	shared atomic.Int64
	_      [64 - 8]byte
}

// stripe is one processor's share of a node, cache lines of its own.
type stripe struct {
	window   *Window
	inFlight atomic.Int64
	// rt counts exited permits by response time, by RTBounds (cumulative,
	// like the window's Totals).
	rt [RTBuckets]atomic.Int64
	_  [192 - 8 - 8 - 8*RTBuckets]byte
}

// MaxStripes bounds the stripes of a node, and so its memory: a node holds
// one window per stripe once it has spread.
const MaxStripes = 8

// SpreadAt is the count of passes in one bucket of a node's window (by
// default 100 ms) at which the node spreads to one stripe per processor.
const SpreadAt = 256

// NewNode returns a node whose windows cover interval in the given number
// of buckets, with one bucket of history for Rates. It can spread to one
// stripe per processor (GOMAXPROCS when it is made, rounded up to a power
// of two), at most MaxStripes.
func NewNode(interval time.Duration, buckets int) (*Node, error) {
	return NewNodeWithHistory(interval, buckets, 1)
}

// NewNodeWithHistory is NewNode with history buckets of history kept
// behind the window (at least 1, for Rates), for readings of the past such
// as Peak.
func NewNodeWithHistory(interval time.Duration, buckets, history int) (*Node, error) {
	history = max(history, 1)
	w, err := newTotalWindow(interval, buckets, history)
	if err != nil {
		return nil, err
	}
	n := 1 << bits.Len(uint(min(runtime.GOMAXPROCS(0), MaxStripes)-1))
	return &Node{first: stripe{window: w}, mask: n - 1, interval: interval, buckets: buckets, history: history}, nil
}

// Spread gives the node one stripe per processor now (it would on its own
// at SpreadAt passes in a bucket). Nodes that are entered from many cores
// at once from the start, such as the engine's inbound statistics, call it
// when made.
func (n *Node) Spread() {
	if n.mask == 0 || n.more.Load() != nil {
		return
	}
	n.spreading.Lock()
	defer n.spreading.Unlock()
	if n.more.Load() != nil {
		return
	}
	more := make([]stripe, n.mask)
	for i := range more {
		more[i].window, _ = newTotalWindow(n.interval, n.buckets, n.history) // shape checked in New
	}
	n.more.Store(&more)
}

// stripe returns stripe i; before the node has spread, every i is stripe
// 0 (readings sum the stripes, so where a count went does not matter).
func (n *Node) stripe(i int) *stripe {
	if i&n.mask == 0 {
		return &n.first
	}
	if more := n.more.Load(); more != nil {
		return &(*more)[i&n.mask-1]
	}
	return &n.first
}

// each calls f for every stripe the node has.
func (n *Node) each(f func(*stripe)) {
	f(&n.first)
	if more := n.more.Load(); more != nil {
		for i := range *more {
			f(&(*more)[i])
		}
	}
}

// Stripe returns the stripe of the processor the caller runs on, or 0 until
// the node has spread. The caller may move to another processor afterwards;
// any stripe is correct, the current one is only faster.
func (n *Node) Stripe() int {
	if n.more.Load() == nil {
		return 0
	}
	p := procPin()
	procUnpin()
	return p & n.mask
}

// Window returns the window of a stripe Stripe handed out.
func (n *Node) Window(stripe int) *Window { return n.stripe(stripe).window }

// Add adds v to event e at now in the given stripe. A pass that brings a
// bucket of stripe 0 to SpreadAt spreads the node.
func (n *Node) Add(now int64, stripe int, e Event, v int64) {
	if stripe&n.mask != 0 || n.mask == 0 || n.more.Load() != nil {
		n.stripe(stripe).window.Add(now, e, v)
		return
	}
	if _, c := n.first.window.AddGet(now, e, v); e == Pass && c >= SpreadAt && c-v < SpreadAt {
		n.Spread()
	}
}

// AddCompletion records an exited entry in the given stripe (see
// Window.AddCompletion), and its response time in the node's histogram.
func (n *Node) AddCompletion(now int64, stripe int, batch int64, rt time.Duration, failed bool) {
	s := n.stripe(stripe)
	s.window.AddCompletion(now, batch, rt, failed)
	s.rt[rtBucket(rt)].Add(batch)
}

// Totals returns what the node has counted since it was made, all stripes
// (see Window.Totals), with its response-time histogram. Each count is
// exact and never decreases from one reading to the next.
func (n *Node) Totals() NodeTotals {
	var t NodeTotals
	n.each(func(s *stripe) {
		t.Totals.add(s.window.Totals())
		for i := range s.rt {
			t.RT[i] += s.rt[i].Load()
		}
	})
	return t
}

// NodeTotals is what a node has counted since it was made.
type NodeTotals struct {
	Totals
	// RT[i] counts the exited permits whose response time is at most
	// RTBound(i) and more than RTBound(i-1); RT[RTBuckets-1] those over
	// the last bound. They sum to Complete once no exit is in progress.
	RT [RTBuckets]int64
}

// Enter counts an entry in flight in the given stripe; Leave, with the same
// stripe, ends it.
func (n *Node) Enter(stripe int) { n.stripe(stripe).inFlight.Add(1) }

// Leave ends an entry counted by Enter on the same stripe.
func (n *Node) Leave(stripe int) { n.stripe(stripe).inFlight.Add(-1) }

// TryAcquire counts an entry in flight in the shared count if that keeps
// the whole count (Concurrency) at or under limit, and reports whether it
// did. It never overshoots, however many goroutines call it at once: the
// reservation is a CAS on the shared count, and entries counted in stripes
// (from before an isolation rule applied) are counted too, until they exit.
func (n *Node) TryAcquire(limit int64) bool {
	for {
		c := n.shared.Load()
		if c+n.striped()+1 > limit {
			return false
		}
		if n.shared.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// Release ends an entry counted by TryAcquire.
func (n *Node) Release() { n.shared.Add(-1) }

// Concurrency returns the number of entries in flight.
func (n *Node) Concurrency() int64 { return n.shared.Load() + n.striped() }

func (n *Node) striped() int64 {
	c := n.first.inFlight.Load()
	if more := n.more.Load(); more != nil {
		for i := range *more {
			c += (*more)[i].inFlight.Load()
		}
	}
	return c
}

// Sum returns the count of e over the window ending at now, all stripes.
func (n *Node) Sum(now int64, e Event) int64 {
	return n.sum(func(w *Window) int64 { return w.Sum(now, e) })
}

// sum returns read of each stripe's window, summed. Keep it small enough
// to inline: then a function literal passed as read inlines too, and the
// hot path makes no call through a func value (go build -gcflags=-m says
// "inlining call to (*Node).sum" at each caller).
func (n *Node) sum(read func(*Window) int64) int64 {
	s := read(n.first.window)
	if more := n.more.Load(); more != nil {
		for i := range *more {
			s += read((*more)[i].window)
		}
	}
	return s
}

// Rates is a reading of a node's window as rates per second.
type Rates struct {
	Pass, Block, Complete, Error float64
	// AvgRT is the mean response time per completed permit; MinRT the
	// smallest response time. Both are 0 when nothing completed.
	AvgRT, MinRT time.Duration
}

// Rates estimates the rates over exactly the interval ending at now. The
// window's buckets cover between interval − one bucket (just after a bucket
// edge) and the whole interval (just before the next); the part of the
// oldest, history bucket still inside the interval makes up the difference,
// counted pro rata. Reading a plain window sum would under-read by up to one
// bucket's share.
func (n *Node) Rates(now int64) Rates {
	w := n.first.window
	from, to := w.span(now)
	in, old := n.ReadBetween(from, to), n.ReadBetween(from-w.bucketNanos, from)
	elapsed := max(now, 0) - (to - w.bucketNanos)
	f := 1 - float64(elapsed)/float64(w.bucketNanos) // share of the old bucket inside
	secs := w.Interval().Seconds()
	mix := func(a, b int64) float64 { return float64(a) + f*float64(b) }
	r := Rates{
		Pass:     mix(in.Pass, old.Pass) / secs,
		Block:    mix(in.Block, old.Block) / secs,
		Complete: mix(in.Complete, old.Complete) / secs,
		Error:    mix(in.Error, old.Error) / secs,
		MinRT:    in.MinRT,
	}
	if old.MinRT != 0 && f > 0 && (r.MinRT == 0 || old.MinRT < r.MinRT) {
		r.MinRT = old.MinRT
	}
	if c := mix(in.Complete, old.Complete); c > 0 {
		r.AvgRT = time.Duration(mix(int64(in.RTSum), int64(old.RTSum)) / c)
	}
	return r
}

// ReadBetween returns every counter of the buckets, window or history, whose
// start time is in [from, to), all stripes.
func (n *Node) ReadBetween(from, to int64) Counts {
	var c Counts
	n.each(func(s *stripe) { c.add(s.window.ReadBetween(from, to)) })
	return c
}

// ReadBucket returns every counter of the bucket of epoch (its start divided
// by the bucket length), all stripes; a stripe whose ring holds another
// epoch in its place counts as zero.
func (n *Node) ReadBucket(epoch int64) Counts {
	var c Counts
	n.each(func(s *stripe) { c.add(s.window.ReadBucket(epoch)) })
	return c
}

// CountAt returns the count of e in the bucket of epoch (its start divided
// by the bucket length), all stripes; a stripe whose ring holds another
// epoch in its place counts as zero. It is ReadBucket for one counter, and
// cheaper.
func (n *Node) CountAt(epoch int64, e Event) int64 {
	return n.sum(func(w *Window) int64 { return w.Count(epoch, e) })
}

// MaxPeakSpans is the most spans Peak reads.
const MaxPeakSpans = 64

// Peak reads the spans consecutive spans of length span (a whole number of
// buckets, at least one) that end at the start of now's bucket, all
// stripes: it returns the largest Complete count of one span, and the
// smallest mean response time of one bucket in them (its RTSum / Complete,
// all stripes; 0 if nothing completed). Spans older than the window and its
// history read as empty. spans is cut to MaxPeakSpans.
//
// The mean of a bucket, not the smallest single response time: one call
// far cheaper than the rest (a health check) does not stand for what the
// service takes per entry.
func (n *Node) Peak(now int64, span time.Duration, spans int) (peak int64, minMeanRT time.Duration) {
	spans = min(max(spans, 0), MaxPeakSpans)
	w := n.first.window
	per := max(int64(span)/w.bucketNanos, 1) // buckets per span
	last := w.epoch(max(now, 0))             // now's bucket: not read
	first := last - per*int64(spans)
	least := time.Duration(math.MaxInt64)
	var sum int64
	for e := max(first, last-int64(w.ring())); e < last; e++ { // older ones are gone
		c := n.ReadBucket(e)
		sum += c.Complete
		if c.Complete > 0 {
			least = min(least, c.RTSum/time.Duration(c.Complete))
		}
		if (e-first+1)%per == 0 {
			peak, sum = max(peak, sum), 0
		}
	}
	if least != math.MaxInt64 {
		minMeanRT = least
	}
	return peak, minMeanRT
}
