package stat

import (
	"sync/atomic"
	"time"
)

// Node holds the statistics of one resource: a sliding window of events and
// the number of entries in flight.
type Node struct {
	window      *Window
	concurrency atomic.Int64
}

// NewNode returns a node whose window covers interval in the given number of
// buckets (see NewWindow).
func NewNode(interval time.Duration, buckets int) (*Node, error) {
	w, err := NewWindow(interval, buckets)
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
