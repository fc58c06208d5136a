package clock_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/core/clock"
)

var start = time.Unix(1_700_000_000, 0)

func TestMonotonicAbsorbsStepsBack(t *testing.T) {
	src := clock.NewManual(start)
	m := clock.Monotonic(src)
	at := func(want time.Duration) {
		t.Helper()
		if got := time.Duration(m.Nanos() - start.UnixNano()); got != want {
			t.Fatalf("reads start%+v, want start%+v", got, want)
		}
		if got := m.Now().Sub(start); got != want {
			t.Fatalf("Now reads start%+v, want start%+v", got, want)
		}
	}
	at(0)
	src.Advance(time.Second)
	at(time.Second)
	src.Advance(-time.Hour) // absorbed: time stands at its latest reading
	at(time.Second)
	src.Advance(300 * time.Millisecond) // and goes on at the source's pace
	at(1300 * time.Millisecond)
	src.Set(time.Unix(0, 0)) // to 1970: absorbed too
	at(1300 * time.Millisecond)
	src.Advance(time.Millisecond)
	at(1301 * time.Millisecond)
	src.Advance(time.Hour) // forward is time passing
	at(time.Hour + 1301*time.Millisecond)
}

func TestMonotonicHoldsWithinTolerance(t *testing.T) {
	src := clock.NewManual(start)
	m := clock.Monotonic(src)
	m.Nanos()
	src.Advance(-clock.StepTolerance) // out of order, not a step
	if got := m.Nanos() - start.UnixNano(); got != 0 {
		t.Fatalf("a step of StepTolerance reads start%+v, want the latest reading", time.Duration(got))
	}
	src.Advance(clock.StepTolerance + time.Microsecond)
	if got := m.Nanos() - start.UnixNano(); got != int64(time.Microsecond) {
		t.Fatalf("once the source passes the latest reading: start%+v, want start+1µs", time.Duration(got))
	}
}

func TestMonotonicWrapsOnce(t *testing.T) {
	if clock.Monotonic(clock.Real()) != clock.Real() {
		t.Fatal("the real clock is wrapped")
	}
	m := clock.Monotonic(clock.NewManual(start))
	if clock.Monotonic(m) != m {
		t.Fatal("a monotonic clock is wrapped again")
	}
}

func TestMonotonicTimersAreTheSources(t *testing.T) {
	src := clock.NewManual(start)
	tm := clock.Monotonic(src).NewTimer(time.Second)
	src.Advance(time.Second)
	select {
	case <-tm.C():
	default:
		t.Fatal("the timer did not fire when the source reached it")
	}
}

// counter is a source that advances 1 ns a reading, and steps back when told.
type counter struct{ n atomic.Int64 }

func (c *counter) Nanos() int64                         { return c.n.Add(1) }
func (c *counter) Now() time.Time                       { return time.Unix(0, c.Nanos()) }
func (c *counter) NewTimer(d time.Duration) clock.Timer { panic("not used") }

// TestMonotonicUnderContention: 64 goroutines read while the source steps
// back ten times by a second. Each goroutine's readings never go back, and
// the time absorbed is the ten seconds of the steps, each counted once,
// give or take StepTolerance a step: readings that merely arrive out of
// order are not steps.
func TestMonotonicUnderContention(t *testing.T) {
	src := &counter{}
	src.n.Store(start.UnixNano())
	m := clock.Monotonic(src)
	const goroutines, reads = 64, 2000
	var wg sync.WaitGroup
	var done atomic.Int64 // readings taken, by every goroutine
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(0)
			for i := 0; i < reads; i++ {
				v := m.Nanos()
				if v < last {
					t.Errorf("a goroutine read %d after %d", v, last)
					return
				}
				last = v
				done.Add(1)
			}
		}()
	}
	for i := int64(1); i <= 10; i++ { // a step at every eleventh of the readings
		for done.Load() < i*goroutines*reads/11 {
			runtime.Gosched()
		}
		src.n.Add(-int64(time.Second))
	}
	wg.Wait()
	absorbed := time.Duration(m.Nanos() - src.n.Load())
	if lo, hi := 10*(time.Second-clock.StepTolerance), 10*(time.Second+clock.StepTolerance); absorbed < lo || absorbed > hi {
		t.Fatalf("absorbed %v, want 10s ± 10×%v", absorbed, clock.StepTolerance)
	}
}

// gated is a source whose gateAt-th reading waits for gate, having read the
// time before it waits, as a goroutine descheduled inside Nanos would.
type gated struct {
	mu      sync.Mutex
	now     int64
	calls   int
	gateAt  int
	reached chan struct{}
	gate    chan struct{}
}

func newGated(now int64, gateAt int) *gated {
	return &gated{now: now, gateAt: gateAt, reached: make(chan struct{}), gate: make(chan struct{})}
}

func (g *gated) set(now int64) { g.mu.Lock(); g.now = now; g.mu.Unlock() }

func (g *gated) Nanos() int64 {
	g.mu.Lock()
	g.calls++
	n, v := g.calls, g.now
	g.mu.Unlock()
	if n == g.gateAt {
		close(g.reached)
		<-g.gate
	}
	return v
}
func (g *gated) Now() time.Time                       { return time.Unix(0, g.Nanos()) }
func (g *gated) NewTimer(d time.Duration) clock.Timer { panic("not used") }

// TestMonotonicStepSeenTwiceCountsOnce: two readers see the same step back;
// the one that absorbs it second must not absorb it again.
func TestMonotonicStepSeenTwiceCountsOnce(t *testing.T) {
	l := start.UnixNano()
	src := newGated(l, 3) // reading 3: A's second look at the stepped source
	m := clock.Monotonic(src)
	m.Nanos() // reading 1: latest = l
	src.set(l - int64(time.Second))
	a := make(chan int64)
	go func() { a <- m.Nanos() }() // readings 2 and 3: A sees the step, waits
	<-src.reached
	if got := m.Nanos(); got != l { // B absorbs the step
		t.Fatalf("B read l%+v, want l", time.Duration(got-l))
	}
	close(src.gate)
	if got := <-a; got != l {
		t.Fatalf("A read l%+v, want l: the step was absorbed twice", time.Duration(got-l))
	}
	if got := m.Nanos(); got != l {
		t.Fatalf("after both: l%+v, want l", time.Duration(got-l))
	}
}

// TestMonotonicLateReaderIsNotAStep: a reader that stood still between its
// reading and the comparison, while others read later times, sees an old
// time that is no step of the source; the time must not jump forward.
func TestMonotonicLateReaderIsNotAStep(t *testing.T) {
	l := start.UnixNano()
	src := newGated(l, 2) // reading 2: A's first, taken at l
	m := clock.Monotonic(src)
	m.Nanos() // reading 1
	a := make(chan int64)
	go func() { a <- m.Nanos() }()
	<-src.reached
	later := l + int64(10*time.Millisecond)
	src.set(later)
	if got := m.Nanos(); got != later { // B: latest = l+10ms
		t.Fatalf("B read l%+v, want l+10ms", time.Duration(got-l))
	}
	close(src.gate)
	if got := <-a; got != later {
		t.Fatalf("A read l%+v, want l+10ms", time.Duration(got-l))
	}
	if got := m.Nanos(); got != later {
		t.Fatalf("after A: l%+v, want l+10ms: a late reading was taken for a step", time.Duration(got-l))
	}
}
