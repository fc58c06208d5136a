package clock_test

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/core/clock"
)

var t0 = time.Unix(1_700_000_000, 0)

// wantCaughtUp checks that c reads what m does.
func wantCaughtUp(t *testing.T, c *clock.Coarse, m *clock.Manual, when string) {
	t.Helper()
	if got := c.Nanos(); got != m.Nanos() {
		t.Fatalf("%s: reading %v behind the base clock", when, time.Duration(m.Nanos()-got))
	}
}

// tick advances m by d once the coarse goroutine waits on its timer, and
// returns once it has taken the reading (it then waits on its next timer).
func tick(m *clock.Manual, d time.Duration) {
	m.BlockUntilTimers(1)
	m.Advance(d)
	m.BlockUntilTimers(1)
}

func TestCoarseLagsByLessThanItsResolution(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := clock.NewManual(t0)
	c := clock.NewCoarse(m, time.Millisecond)
	defer c.Close()
	if got := c.Nanos(); got != t0.UnixNano() {
		t.Fatalf("first reading %d, want the base clock's %d", got, t0.UnixNano())
	}
	m.BlockUntilTimers(1)
	m.Advance(999 * time.Microsecond) // before the tick: the reading stays
	if got := c.Nanos(); got != t0.UnixNano() {
		t.Fatalf("reading moved before the tick: %d", got-t0.UnixNano())
	}
	m.Advance(time.Microsecond) // the tick fires
	m.BlockUntilTimers(1)
	if got, want := c.Nanos(), t0.Add(time.Millisecond).UnixNano(); got != want {
		t.Fatalf("after the tick: %v behind", time.Duration(want-got))
	}
	// A base clock that jumps far ahead between ticks: the next tick
	// catches up at once, whole.
	m.Advance(time.Hour)
	m.BlockUntilTimers(1)
	wantCaughtUp(t, c, m, "after a jump")
}

func TestCoarseStopsWhenIdleAndRestarts(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := clock.NewManual(t0)
	c := clock.NewCoarse(m, 100*time.Millisecond) // idle after 10 ticks
	defer c.Close()
	c.Nanos()
	tick(m, 100*time.Millisecond) // read since the start: not idle
	for range 9 {                 // nine idle ticks: it runs on
		tick(m, 100*time.Millisecond)
	}
	m.Advance(100 * time.Millisecond) // the tenth ends it
	if err := goleak.Find(); err != nil {
		t.Fatalf("the goroutine runs on after a second unread: %v", err)
	}
	if m.Timers() != 0 {
		t.Fatal("a timer is left behind")
	}
	// The next reading reads the base clock and starts it again.
	wantCaughtUp(t, c, m, "the first reading after idle")
	tick(m, 100*time.Millisecond)
	wantCaughtUp(t, c, m, "the restarted goroutine")
}

func TestCoarseReadEveryTickKeepsRunning(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := clock.NewManual(t0)
	c := clock.NewCoarse(m, 100*time.Millisecond)
	defer c.Close()
	for range 50 { // five idle periods, each tick read
		c.Nanos()
		tick(m, 100*time.Millisecond)
	}
	wantCaughtUp(t, c, m, "after 50 ticks, each read")
}

// TestCoarseNeverGoesBack: 64 goroutines read while the base clock advances
// and the goroutine stops for idleness and restarts; every goroutine's
// readings are non-decreasing.
func TestCoarseNeverGoesBack(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := clock.NewManual(t0)
	c := clock.NewCoarse(m, 100*time.Microsecond) // idle after 10,000 ticks
	defer c.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := c.Nanos()
				if n < last {
					t.Errorf("reading went back by %v", time.Duration(last-n))
					return
				}
				last = n
			}
		}()
	}
	for range 2000 {
		m.Advance(37 * time.Microsecond)
	}
	close(stop)
	wg.Wait()
}

type panickingClock struct {
	clock.Clock
	panics chan bool
}

func (p panickingClock) Nanos() int64 {
	if <-p.panics {
		panic("clock broke")
	}
	return p.Clock.Nanos()
}

func TestCoarseBaseClockPanicInTheGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := clock.NewManual(t0)
	panics := make(chan bool, 8)
	c := clock.NewCoarse(panickingClock{m, panics}, time.Millisecond)
	defer c.Close()
	panics <- false
	c.Nanos() // starts the goroutine
	panics <- true
	m.BlockUntilTimers(1)
	m.Advance(time.Millisecond) // the goroutine's reading panics: it stops for good
	if err := goleak.Find(); err != nil {
		t.Fatalf("the goroutine did not stop after its clock panicked: %v", err)
	}
	panics <- false
	wantCaughtUp(t, c, m, "after the panic") // read from the base clock now
	if m.Timers() != 0 {
		t.Fatal("a reading restarted the goroutine of a clock that panicked")
	}
}

func TestCoarseCloseStopsForGood(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := clock.NewManual(t0)
	c := clock.NewCoarse(m, time.Millisecond)
	c.Nanos()
	m.BlockUntilTimers(1)
	c.Close()
	c.Close()
	m.Advance(time.Second)
	wantCaughtUp(t, c, m, "after Close")
	if m.Timers() != 0 {
		t.Fatal("a reading after Close started a goroutine")
	}
}

// TestCoarseRealClock: on the real clock, a reading is never ahead of the
// clock read just after it, and is behind the clock read just before it by
// little: the resolution plus the goroutine's scheduling delay, which on a
// loaded machine can reach tens of milliseconds (hence the tolerance).
func TestCoarseRealClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := clock.NewCoarse(clock.Real(), time.Millisecond)
	defer c.Close()
	c.Nanos()
	var worst time.Duration
	for range 200 {
		time.Sleep(500 * time.Microsecond)
		before := clock.RealNanos()
		n := c.Nanos()
		after := clock.RealNanos()
		if n > after {
			t.Fatalf("reading %v ahead of the real clock", time.Duration(n-after))
		}
		worst = max(worst, time.Duration(before-n))
	}
	if worst > 100*time.Millisecond {
		t.Fatalf("reading up to %v behind the real clock, resolution 1 ms", worst)
	}
	t.Logf("worst lag over 200 readings: %v", worst)
}

// scripted is a base clock whose readings the test hands out, one per call
// on the reads channel; a reading taken from script waits for gate first.
type scripted struct {
	*clock.Manual
	reads chan int64
	gate  chan struct{}
}

func (s scripted) Nanos() int64 {
	n := <-s.reads
	if n < 0 { // a read held at the gate
		<-s.gate
		return -n
	}
	return n
}

// TestCoarseStartNeverGoesBackForALateStarter: two readers start an idle
// clock at once; the one that read the base clock later but took the lock
// second must not read the earlier starter's value next.
func TestCoarseStartNeverGoesBackForALateStarter(t *testing.T) {
	defer goleak.VerifyNone(t)
	base := scripted{Manual: clock.NewManual(t0), reads: make(chan int64), gate: make(chan struct{})}
	c := clock.NewCoarse(base, time.Millisecond)
	defer c.Close()
	late := make(chan int64)
	go func() { late <- c.Nanos() }()
	base.reads <- -200 // the late starter reads 200, then waits before the lock
	if got := func() int64 {
		go func() { base.reads <- 100 }()
		return c.Nanos() // reads 100, starts the goroutine
	}(); got != 100 {
		t.Fatalf("first starter read %d, want 100", got)
	}
	close(base.gate)
	if got := <-late; got != 200 {
		t.Fatalf("late starter read %d, want 200", got)
	}
	if got := c.Nanos(); got < 200 {
		t.Fatalf("the reading after 200 is %d: it went back", got)
	}
}
