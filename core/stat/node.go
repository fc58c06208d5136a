package stat

import (
	"sync/atomic"
	"time"
)

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
	w := n.window
	from, to := w.span(now)
	in := w.ReadBetween(from, to)
	old := w.ReadBetween(from-w.bucketNanos, from)
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

// Node holds the statistics of one resource: a sliding window of events and
// the number of entries in flight.
type Node struct {
	window *Window
	// concurrency changes on every entry and exit; the padding keeps it off
	// the cache line of window, which every entry reads.
	_           [56]byte
	concurrency atomic.Int64
	_           [56]byte
}

// NewNode returns a node whose window covers interval in the given number of
// buckets, with one bucket of history for Rates.
func NewNode(interval time.Duration, buckets int) (*Node, error) {
	w, err := NewWindow(interval, buckets, 1)
	if err != nil {
		return nil, err
	}
	return &Node{window: w}, nil
}

// Window returns the node's sliding window.
func (n *Node) Window() *Window { return n.window }

// Concurrency returns the number of entries in flight.
func (n *Node) Concurrency() int64 { return n.concurrency.Load() }

// AddConcurrency adds d (which may be negative) to the entries in flight.
func (n *Node) AddConcurrency(d int64) { n.concurrency.Add(d) }

// TryAcquire adds one entry in flight if that keeps the count at or under
// limit, and reports whether it did. It never overshoots, however many
// goroutines call it at once.
func (n *Node) TryAcquire(limit int64) bool {
	for {
		c := n.concurrency.Load()
		if c+1 > limit {
			return false
		}
		if n.concurrency.CompareAndSwap(c, c+1) {
			return true
		}
	}
}
