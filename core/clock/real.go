package clock

import "time"

// Real returns the clock of the machine. Its Nanos reading costs one
// monotonic clock read (about 20 ns on amd64), cheaper than time.Now.
func Real() Clock { return realClock{} }

// origin anchors Real().Nanos to the Unix epoch once, so that later readings
// need only the monotonic clock.
var origin, originNanos = func() (time.Time, int64) {
	now := time.Now()
	return now, now.UnixNano()
}()

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Nanos() int64 { return RealNanos() }

// RealNanos is Real().Nanos() without the interface call, for hot paths
// that have checked IsReal.
func RealNanos() int64 { return originNanos + int64(time.Since(origin)) }

// IsReal reports whether c is the clock returned by Real.
func IsReal(c Clock) bool {
	_, ok := c.(realClock)
	return ok
}

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }
