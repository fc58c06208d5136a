package stat

import (
	"sync/atomic"
	"time"
)

// Tally counts admissions over a sliding window so that concurrent callers
// can hold them to a limit exactly: Reserve adds first and reads after, so
// that each caller's count includes itself and every reservation made before
// it, and a caller whose count is over its limit gives its reservation back
// with Undo. However many goroutines reserve at once, a limit checked this
// way is never exceeded within one window.
//
// The window is the bucket holding now and the buckets before it, one
// interval in all. Make a Tally with NewTally; it is safe for concurrent use
// and does not allocate.
type Tally struct {
	w     *Window
	prior Prior
	// latest is the newest bucket epoch a Reserve has seen.
	latest atomic.Int64
}

// NewTally returns a tally over interval cut into the given number of
// buckets, keeping history buckets behind them, with the same constraints
// as NewWindow.
func NewTally(interval time.Duration, buckets, history int) (*Tally, error) {
	w, err := newPassWindow(interval, buckets, history)
	if err != nil {
		return nil, err
	}
	return &Tally{w: w}, nil
}

// Window returns the window the tally counts in, for passes added without
// a limit (Window.Add) and for reads of its history. It counts Pass only:
// adding or reading another event panics.
func (t *Tally) Window() *Window { return t.w }

// Reserve adds n at now and returns the count over the window holding now,
// n included, with the bucket epoch to pass to Undo.
//
// A late caller (one that read its clock before a bucket edge that others
// have crossed) adds to the older bucket; its count is the larger of its
// own window and the newest one, so that it sees the reservations made past
// the edge, as they may not see it.
func (t *Tally) Reserve(now, n int64) (epoch, count int64) {
	epoch, inBucket := t.w.AddGet(now, Pass, n)
	count = inBucket + t.w.Prior(epoch, Pass, &t.prior)
	if latest := t.latest.Load(); epoch > latest {
		t.latest.CompareAndSwap(latest, epoch)
	} else if epoch < latest {
		count = max(count, t.w.Sum(latest*t.w.bucketNanos, Pass))
	}
	return epoch, count
}

// Undo takes back a reservation of n that Reserve made in the bucket of
// epoch (a bucket that has left the window needs none).
func (t *Tally) Undo(epoch, n int64) { t.w.Undo(epoch, Pass, n) }

// Count returns the count over the window holding now.
func (t *Tally) Count(now int64) int64 { return t.w.Sum(now, Pass) }
