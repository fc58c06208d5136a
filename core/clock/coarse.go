package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Coarse is a reading of a base clock that a goroutine of its own refreshes
// every resolution, so that reading it costs an atomic load instead of a
// clock read (about 1 ns against 20-40 ns for the monotonic clock). A
// reading is behind the base clock by less than the resolution, plus
// however long the goroutine waits to be scheduled on a busy machine.
//
// The goroutine runs only while the clock is read: the first Nanos starts
// it, and it stops after a second in which nothing read the clock (the
// next Nanos starts it again, reading the base clock itself). Close stops
// it for good; Nanos then reads the base clock. If the base clock panics in
// the goroutine, the goroutine stops for good in the same way, and the
// panic is left to the callers of Nanos.
//
// Readings never go back, as long as the base clock's do not.
type Coarse struct {
	base       Clock
	resolution time.Duration
	idleTicks  int

	now  atomic.Int64
	used atomic.Bool // read since the last tick

	mu      sync.Mutex // serialises state changes
	state   atomic.Int32
	stop    chan struct{}
	stopped sync.WaitGroup
}

const (
	coarseIdle    = iota // no goroutine: Nanos starts one
	coarseRunning        // the goroutine keeps now fresh
	coarseClosed         // no goroutine, for good: Nanos reads the base clock
)

// coarseIdleFor is how long the goroutine runs on with nothing reading.
const coarseIdleFor = time.Second

// NewCoarse returns a Coarse reading of base refreshed every resolution. A
// resolution under 100 µs is taken as 100 µs (more often would cost more
// in wake-ups than the readings save).
func NewCoarse(base Clock, resolution time.Duration) *Coarse {
	resolution = max(resolution, 100*time.Microsecond)
	return &Coarse{base: base, resolution: resolution,
		idleTicks: max(1, int(coarseIdleFor/resolution)), stop: make(chan struct{})}
}

// Resolution returns how often the reading is refreshed.
func (c *Coarse) Resolution() time.Duration { return c.resolution }

// Nanos returns the latest reading, in nanoseconds since the Unix epoch like
// Clock.Nanos.
func (c *Coarse) Nanos() int64 {
	switch c.state.Load() {
	case coarseRunning:
		if !c.used.Load() { // one write per tick, not per read
			c.used.Store(true)
		}
		return c.now.Load()
	case coarseClosed:
		return c.base.Nanos()
	}
	return c.start()
}

// start reads the base clock and, unless c is closed, starts the goroutine
// (or finds that another caller has). The reading it returns is also
// made the coarse one, if it is later: a caller that read the base clock
// after the caller that started the goroutine must not see the coarse
// reading, behind its own, next.
func (c *Coarse) start() int64 {
	n := c.base.Nanos()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state.Load() {
	case coarseIdle:
		c.advance(n)
		c.used.Store(true)
		c.state.Store(coarseRunning)
		c.stopped.Add(1)
		go c.run()
	case coarseRunning:
		c.advance(n)
	}
	return n
}

// advance moves the reading to n unless it is ahead already.
func (c *Coarse) advance(n int64) {
	for {
		old := c.now.Load()
		if n <= old || c.now.CompareAndSwap(old, n) {
			return
		}
	}
}

func (c *Coarse) run() {
	defer c.stopped.Done()
	tick, stopTick := c.ticker()
	defer func() {
		defer func() { _ = recover() }() // a user clock's Timer.Stop: nothing to undo
		stopTick()
	}()
	for idle := 0; ; {
		select {
		case <-c.stop:
			return
		case <-tick():
		}
		n, ok := c.read()
		if !ok { // the base clock panicked: read it directly from now on
			c.mu.Lock()
			c.state.Store(coarseClosed)
			c.mu.Unlock()
			return
		}
		c.advance(n)
		if c.used.Swap(false) {
			idle = 0
			continue
		}
		if idle++; idle < c.idleTicks {
			continue
		}
		c.mu.Lock()
		if !c.used.Load() && c.state.Load() == coarseRunning {
			c.state.Store(coarseIdle)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		idle = 0
	}
}

// read reads the base clock for the goroutine, reporting false if it
// panicked.
func (c *Coarse) read() (n int64, ok bool) {
	defer func() {
		if recover() != nil {
			n, ok = 0, false
		}
	}()
	return c.base.Nanos(), true
}

// ticker returns a channel source firing every resolution: a time.Ticker
// for the real clock, else one timer of the base clock after another (so
// that a Manual clock drives it).
func (c *Coarse) ticker() (next func() <-chan time.Time, stop func()) {
	if IsReal(c.base) {
		t := time.NewTicker(c.resolution)
		return func() <-chan time.Time { return t.C }, t.Stop
	}
	var t Timer
	return func() <-chan time.Time {
			t = c.base.NewTimer(c.resolution)
			return t.C()
		}, func() {
			if t != nil {
				t.Stop()
			}
		}
}

// Close stops the goroutine for good and waits for it to end; later
// readings read the base clock. Close is safe to call more than once.
func (c *Coarse) Close() {
	c.mu.Lock()
	if c.state.Load() != coarseClosed {
		c.state.Store(coarseClosed)
		close(c.stop)
	}
	c.mu.Unlock()
	c.stopped.Wait()
}
