package clock

import (
	"sync/atomic"
	"time"
)

// StepTolerance is how far back a reading may be from the latest one before
// Monotonic treats it as a step of the clock. Readings taken by concurrent
// goroutines arrive slightly out of order; within this tolerance Monotonic
// returns the latest reading instead.
const StepTolerance = time.Millisecond

// Monotonic returns a Clock that never goes back, over c. When c steps back
// by more than StepTolerance, the step is absorbed: Monotonic's time carries
// on from its latest reading at c's pace, as if the step had not happened, so
// that no window, bucket, token bucket, breaker or queue waits for c to catch
// up. A smaller step back reads as the latest reading until c passes it. A
// step forward is kept: it is time passing (windows roll over, an open
// breaker may half-open).
//
// Now returns the instant of Nanos. Timers are c's own: they measure
// durations, which steps of c may shorten or lengthen. Monotonic returns
// Real() unchanged, and a clock already made by Monotonic unchanged.
func Monotonic(c Clock) Clock {
	if IsReal(c) {
		return c
	}
	if _, ok := c.(*monotonic); ok {
		return c
	}
	return &monotonic{src: c}
}

type monotonic struct {
	src    Clock
	offset atomic.Int64 // added to src's readings: the sum of the steps back absorbed
	latest atomic.Int64 // the latest reading returned
}

func (m *monotonic) Now() time.Time { return time.Unix(0, m.Nanos()) }

func (m *monotonic) NewTimer(d time.Duration) Timer { return m.src.NewTimer(d) }

func (m *monotonic) Nanos() int64 {
	for {
		off := m.offset.Load()
		v := m.src.Nanos() + off
		l := m.latest.Load()
		if v >= l {
			if v == l || m.latest.CompareAndSwap(l, v) {
				return v
			}
			continue // a concurrent reading moved latest: compare again
		}
		if l-v <= int64(StepTolerance) {
			return l
		}
		// Read again: this goroutine may have stood still between its
		// reading and the load of latest while others read later times.
		if v = m.src.Nanos() + off; l-v <= int64(StepTolerance) {
			continue
		}
		m.offset.CompareAndSwap(off, off+l-v) // else a concurrent reader absorbed it
	}
}
