package etcd

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is the wait between attempts to read and watch the key again:
// min, doubling after each wait up to max, each wait drawn at random from
// its upper half so that many sources do not retry in step.
type backoff struct {
	min, max time.Duration
	step     time.Duration // the next wait's upper bound; 0 means min
}

// reset makes the next wait the shortest again.
func (b *backoff) reset() { b.step = 0 }

// next returns the next wait and doubles the step.
func (b *backoff) next() time.Duration {
	if b.step < b.min {
		b.step = b.min
	}
	d := b.step/2 + rand.N(b.step/2+1)
	if b.step > b.max/2 { // 2*step would pass max, or overflow
		b.step = b.max
	} else {
		b.step = min(2*b.step, b.max)
	}
	return d
}

// wait sleeps for the next wait, or until ctx is done or closed is closed
// (the client's context: a closed client ends the wait at once); it reports
// whether it slept the whole wait.
func (b *backoff) wait(ctx context.Context, closed <-chan struct{}) bool {
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-closed:
		return false
	}
}
