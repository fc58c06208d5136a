// Package clock is Sluice's time source. Every window, token bucket, warm-up
// curve and queueing wait in Sluice reads time through a Clock, so tests can
// drive time by hand with a Manual clock and assert exact behaviour without
// sleeping.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Nanos returns the current time as nanoseconds since the Unix epoch. For
	// the real clock it advances monotonically (it is derived from the
	// monotonic clock, so wall-clock steps do not move it), and it is the
	// cheap reading used on the hot path.
	Nanos() int64
	// NewTimer returns a Timer that fires once, d after now.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C returns the channel on which the firing time is delivered.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer, false if it had already fired or been stopped.
	Stop() bool
}

// Sleep waits on c for d, or until ctx is done, whichever comes first. It
// returns nil after a full wait and ctx.Err() when ctx ended the wait. A d of
// zero or less returns nil at once, even if ctx is done.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
