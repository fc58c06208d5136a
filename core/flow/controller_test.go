package flow

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/core/stat"
)

// t0 is on a whole second, so intervals and buckets start at t0.
var t0 = int64(1_700_000_000) * int64(time.Second)

const ms = int64(time.Millisecond)

func newController(t *testing.T, r Rule, env Env) *Controller {
	t.Helper()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return NewController(r, env)
}

func passes(c *Controller, now int64, tries int) int {
	n := 0
	for i := 0; i < tries; i++ {
		if _, _, ok := c.Check(now, 1); ok {
			n++
		}
	}
	return n
}

func TestRejectIsExactAtOneInstant(t *testing.T) {
	for _, threshold := range []float64{0, 1, 10, 10.5, 100} {
		c := newController(t, Rule{Resource: "r", Threshold: threshold}, Env{})
		if got, want := passes(c, t0, 1000), int(math.Floor(threshold)); got != want {
			t.Errorf("threshold %v: %d passed, want %d", threshold, got, want)
		}
	}
}

func TestRejectIsExactUnderContention(t *testing.T) {
	const threshold, goroutines, tries = 100, 8, 500
	for round := 0; round < 20; round++ {
		c := newController(t, Rule{Resource: "r", Threshold: threshold}, Env{})
		var passed atomic.Int64
		var start, done sync.WaitGroup
		start.Add(1)
		for g := 0; g < goroutines; g++ {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				passed.Add(int64(passes(c, t0, tries)))
			}()
		}
		start.Done()
		done.Wait()
		if passed.Load() != threshold {
			t.Fatalf("round %d: %d passed at one instant from %d goroutines, want exactly %d",
				round, passed.Load(), goroutines, threshold)
		}
	}
}

func TestRejectBatch(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 10}, Env{})
	for i, want := range []bool{true, true, true, false} { // 3+3+3 = 9, a 4th batch would be 12
		if _, _, ok := c.Check(t0, 3); ok != want {
			t.Fatalf("batch %d: ok = %v, want %v", i, ok, want)
		}
	}
	if _, _, ok := c.Check(t0, 1); !ok {
		t.Fatal("a batch of 1 should still fit (10th permit)")
	}
}

// TestRejectSlidingSecondBound offers far more than the threshold every 10 ms
// and checks every sliding second (at 1 ms steps) against Threshold × 1.1,
// what a 10-bucket window lets through for traffic spread over its buckets
// (bursts at bucket edges reach twice: see the next test), and that
// throughput does not starve.
func TestRejectSlidingSecondBound(t *testing.T) {
	const threshold = 100
	c := newController(t, Rule{Resource: "r", Threshold: threshold}, Env{})
	passedAt := map[int64]int{} // ms offset -> passes
	const steps = 1000          // 10 s of 10 ms steps
	for i := int64(0); i < steps; i++ {
		// Offsets that are not bucket-aligned, so bursts straddle bucket edges.
		now := t0 + i*10*ms + 7*ms
		passedAt[(now-t0)/ms] += passes(c, now, 30)
	}
	worst := 0
	for start := int64(0); start < 10_000-1000; start++ {
		worst = max(worst, passedIn(passedAt, start, start+1000))
	}
	if worst > threshold*11/10 {
		t.Fatalf("a sliding second passed %d, bound is %d", worst, threshold*11/10)
	}
	total := 0
	for _, n := range passedAt {
		total += n
	}
	if total < threshold*9 { // 10 s: at least 90% of capacity used
		t.Fatalf("only %d passed in 10 s at threshold %d/s", total, threshold)
	}
}

func TestRejectCancelGivesPermitBack(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 2}, Env{})
	_, res, _ := c.Check(t0, 1)
	c.Check(t0, 1)
	if _, _, ok := c.Check(t0, 1); ok {
		t.Fatal("third entry passed a threshold of 2")
	}
	c.Cancel(res)
	if _, _, ok := c.Check(t0, 1); !ok {
		t.Fatal("cancelled permit was not given back")
	}
}

func TestStatIntervalScalesThreshold(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 5, StatInterval: 100 * time.Millisecond}, Env{})
	if got := passes(c, t0, 100); got != 5 {
		t.Fatalf("%d passed in the first 100 ms, want 5", got)
	}
	if got := passes(c, t0+100*ms, 100); got != 5 {
		t.Fatalf("%d passed in the next 100 ms, want 5", got)
	}
}

func TestThrottlingSpacesEvenly(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 10, ControlBehavior: Throttling,
		MaxQueueingTime: 450 * time.Millisecond}, Env{})
	// Ten entries at one instant: the first passes at once, the next four wait
	// 100, 200, 300, 400 ms, the rest would wait over 450 ms and are blocked.
	var waits []time.Duration
	blocked := 0
	for i := 0; i < 10; i++ {
		w, _, ok := c.Check(t0, 1)
		if !ok {
			blocked++
			continue
		}
		waits = append(waits, w)
	}
	want := []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}
	if len(waits) != len(want) || blocked != 5 {
		t.Fatalf("waits %v, %d blocked; want %v and 5 blocked", waits, blocked, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	// A batch of 2 costs 200 ms of spacing.
	c2 := newController(t, Rule{Resource: "r", Threshold: 10, ControlBehavior: Throttling,
		MaxQueueingTime: time.Second}, Env{})
	c2.Check(t0, 2)
	if w, _, _ := c2.Check(t0, 1); w != 200*time.Millisecond {
		t.Fatalf("after a batch of 2 the next waits %v, want 200ms", w)
	}
}

func TestThrottlingWithoutQueue(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 10, ControlBehavior: Throttling}, Env{})
	if _, _, ok := c.Check(t0, 1); !ok {
		t.Fatal("first entry blocked")
	}
	if _, _, ok := c.Check(t0+99*ms, 1); ok {
		t.Fatal("entry 99 ms later passed a 100 ms spacing with no queue")
	}
	if w, _, ok := c.Check(t0+100*ms, 1); !ok || w != 0 {
		t.Fatalf("entry 100 ms later: ok=%v wait=%v, want pass at once", ok, w)
	}
}

func TestThrottlingCancelReturnsTailSlot(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 10, ControlBehavior: Throttling,
		MaxQueueingTime: time.Second}, Env{})
	c.Check(t0, 1)
	_, res, _ := c.Check(t0, 1) // waits 100 ms
	c.Cancel(res)
	if w, _, _ := c.Check(t0, 1); w != 100*time.Millisecond {
		t.Fatalf("after cancelling the tail slot the next waits %v, want 100ms", w)
	}
}

// warmModel is the documented warm-up formula, written out independently of
// the controller: it returns the passes per second of sustained traffic
// offered in a burst at the start of each second.
func warmModel(threshold, period, cold float64, seconds int, offered func(sec int) int) []int {
	w := threshold * period / (cold - 1)
	m := w + 2*threshold*period/(1+cold)
	slope := (cold - 1) / threshold / (m - w)
	rate := func(s float64) float64 {
		if s <= w {
			return threshold
		}
		return 1 / ((s-w)*slope + 1/threshold)
	}
	s, prev, idleIntervals := 0.0, 0.0, 1e9 // never filled: the first sync fills to m
	var out []int
	for sec := 0; sec < seconds; sec++ {
		if s < w || prev < math.Floor(threshold/cold) {
			s = math.Min(s+idleIntervals*threshold, m)
		}
		s = math.Max(s-prev, 0)
		idleIntervals = 1
		n := min(int(math.Floor(rate(s))), offered(sec))
		out = append(out, n)
		prev = float64(n)
	}
	return out
}

func TestWarmUpCurveFollowsFormula(t *testing.T) {
	const threshold, period = 100, 10
	c := newController(t, Rule{Resource: "r", Threshold: threshold, Strategy: WarmUp,
		WarmUpPeriod: period * time.Second}, Env{})
	// 20 s of sustained traffic (500 offered at the start of each second),
	// then 15 s idle, then 5 s of traffic again.
	offered := func(sec int) int {
		if sec >= 20 && sec < 35 {
			return 0
		}
		return 500
	}
	want := warmModel(threshold, period, 3, 40, offered)
	for sec := 0; sec < 40; sec++ {
		got := passes(c, t0+int64(sec)*int64(time.Second), offered(sec))
		if got != want[sec] {
			t.Fatalf("second %d: %d passed, formula says %d (curve so far %v)", sec, got, want[sec], want[:sec+1])
		}
	}
	// The shape the formula promises: cold at Threshold/3, warm (Threshold)
	// within about WarmUpPeriod, and cold again after idling.
	if want[0] != 33 {
		t.Fatalf("cold rate %d, want 33", want[0])
	}
	warmAt := -1
	for sec, n := range want[:20] {
		if n == threshold {
			warmAt = sec
			break
		}
	}
	if warmAt < period-2 || warmAt > period+2 {
		t.Fatalf("reached the threshold after %d s, want about %d s (curve %v)", warmAt, period, want[:20])
	}
	if want[35] != 33 {
		t.Fatalf("after 15 s idle the rate is %d, want cold 33 (curve %v)", want[35], want)
	}
	t.Logf("warm-up curve (passes per second): %v", want)
}

func TestWarmUpRateEnds(t *testing.T) {
	r := Rule{Resource: "r", Threshold: 90, Strategy: WarmUp, WarmUpPeriod: 10 * time.Second, WarmUpColdFactor: 3}
	// W = 90·10/2 = 450, M = 450 + 2·90·10/4 = 900.
	if got := WarmUpRate(r, 900); math.Abs(got-30) > 1e-9 {
		t.Fatalf("rate at max tokens = %v, want 30", got)
	}
	if got := WarmUpRate(r, 450); got != 90 {
		t.Fatalf("rate at warning tokens = %v, want 90", got)
	}
	if got := WarmUpRate(r, 675); math.Abs(got-45) > 1e-9 { // halfway: interval halfway between 1/90 and 1/30
		t.Fatalf("rate halfway = %v, want 45", got)
	}
}

func TestWarmUpThrottlingSpacesAtWarmRate(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 30, Strategy: WarmUp, WarmUpPeriod: 10 * time.Second,
		ControlBehavior: Throttling, MaxQueueingTime: time.Second}, Env{})
	c.Check(t0, 1)
	// Cold: 10 per second, so 100 ms apart.
	if w, _, _ := c.Check(t0, 1); w != 100*time.Millisecond {
		t.Fatalf("cold spacing %v, want 100ms", w)
	}
}

func TestMemoryAdaptiveThreshold(t *testing.T) {
	var used atomic.Uint64
	reading := true
	env := Env{MemoryUsage: func(int64) (uint64, bool) { return used.Load(), reading }}
	r := Rule{Resource: "r", Strategy: MemoryAdaptive, LowMemUsageThreshold: 100, HighMemUsageThreshold: 20,
		MemLowWaterMark: 1000, MemHighWaterMark: 2000}
	for _, tc := range []struct {
		used uint64
		ok   bool
		want int
	}{{500, true, 100}, {1000, true, 100}, {1500, true, 60}, {1750, true, 40}, {2000, true, 20}, {9000, true, 20}, {9000, false, 100}} {
		used.Store(tc.used)
		reading = tc.ok
		c := newController(t, r, env)
		if got := passes(c, t0, 1000); got != tc.want {
			t.Errorf("memory %d (reading %v): %d passed, want %d", tc.used, tc.ok, got, tc.want)
		}
	}
}

func TestAssociatedResource(t *testing.T) {
	ref, _ := stat.NewNode(time.Second, 10)
	env := Env{RefNode: func(name string) *stat.Node {
		if name != "db-write" {
			t.Fatalf("RefNode(%q)", name)
		}
		return ref
	}}
	c := newController(t, Rule{Resource: "db-read", Threshold: 5, RelationStrategy: AssociatedResource,
		RefResource: "db-write"}, env)
	if got := passes(c, t0, 10); got != 10 {
		t.Fatalf("with an idle ref resource %d of 10 passed; the rule counts the ref, not itself", got)
	}
	ref.Add(t0, 0, stat.Pass, 3)
	ref.Add(t0, 1, stat.Pass, 1) // another stripe counts too
	if _, _, ok := c.Check(t0, 1); !ok {
		t.Fatal("ref at 4 of 5: should pass")
	}
	ref.Add(t0, 0, stat.Pass, 1)
	if _, _, ok := c.Check(t0, 1); ok {
		t.Fatal("ref at 5 of 5: should block")
	}
	if _, _, ok := c.Check(t0+int64(time.Second), 1); !ok {
		t.Fatal("a second later the ref window is empty: should pass")
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	rules := map[string]Rule{
		"reject":     {Resource: "r", Threshold: 1e9},
		"throttling": {Resource: "r", Threshold: 1e9, ControlBehavior: Throttling, MaxQueueingTime: time.Second},
		"warmup":     {Resource: "r", Threshold: 1e9, Strategy: WarmUp, WarmUpPeriod: time.Second},
	}
	for name, r := range rules {
		c := newController(t, r, Env{})
		now := t0
		if a := testing.AllocsPerRun(1000, func() {
			now += ms
			_, res, _ := c.Check(now, 1)
			c.Cancel(res)
		}); a != 0 {
			t.Errorf("%s: %v allocs per Check+Cancel", name, a)
		}
	}
}

func TestWarmUpStartsColdAtTimeZero(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 30, Strategy: WarmUp, WarmUpPeriod: 10 * time.Second}, Env{})
	if got := passes(c, 0, 100); got != 10 {
		t.Fatalf("at clock time 0: %d passed, want cold 10", got)
	}
}

// TestRejectHoldsLateCallersToTheNewestWindow: an entry that read the clock
// just before a bucket edge, and checks after others crossed it, must not
// push the newest window over the threshold.
func TestRejectHoldsLateCallersToTheNewestWindow(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 10}, Env{})
	edge := t0 + 1000*ms
	if got := passes(c, edge, 100); got != 10 {
		t.Fatalf("%d passed at the edge, want 10", got)
	}
	if late := passes(c, edge-1, 5); late != 0 {
		t.Fatalf("%d late callers passed on top of a full newest window", late)
	}
	if w := c.passes.Window().Sum(edge, stat.Pass); w != 10 {
		t.Fatalf("newest window holds %d, want 10", w)
	}
}

// TestRejectSeesLateAddsToThePreviousBucket: a late caller adds to the
// bucket just before the newest; callers of the newest bucket see it live.
func TestRejectSeesLateAddsToThePreviousBucket(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 10}, Env{})
	edge := t0 + 1000*ms
	passes(c, edge, 5)   // newest bucket; fills the cache for its epoch
	passes(c, edge-1, 3) // late, into the bucket before: 8 in the window
	if got := passes(c, edge, 10); got != 2 {
		t.Fatalf("%d passed, want the 2 left (the late 3 must count)", got)
	}
}

func TestPriorCacheDoesNotAlias(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 10, StatInterval: MinStatInterval}, Env{})
	b := int64(MinStatInterval) / statBuckets
	base := (t0 / b) * b
	passes(c, base, 9)
	passes(c, base+2*b, 1) // caches the 9 as the older buckets of this epoch
	// 2^24 buckets later (about 28 minutes of 100 µs buckets) the window is
	// empty; a cache keyed on 24 bits of the epoch would still say 9.
	if got := passes(c, base+2*b+(1<<24)*b, 20); got != 10 {
		t.Fatalf("%d passed, want 10", got)
	}
}

func TestThrottlingNeverExceedsTheRate(t *testing.T) {
	// 3 per 1 ms: a spacing of 333 333.3 ns, rounded up.
	c := newController(t, Rule{Resource: "r", Threshold: 3, StatInterval: time.Millisecond,
		ControlBehavior: Throttling}, Env{})
	n := 0
	for now := t0; now < t0+10*int64(time.Millisecond); now += 1000 {
		if _, _, ok := c.Check(now, 1); ok {
			n++
		}
	}
	if n > 30 {
		t.Fatalf("%d passed in 10 ms at 3 per ms", n)
	}
}

func TestRejectBlocksABatchLargerThanTheThreshold(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 10}, Env{})
	if _, _, ok := c.Check(t0, 11); ok {
		t.Fatal("a batch of 11 passed a threshold of 10")
	}
	if got := passes(c, t0, 20); got != 10 {
		t.Fatalf("the refused batch reserved permits: %d passed after it, want 10", got)
	}
}

// A Throttling batch over the threshold would book the queue for more than
// an interval (a batch of MaxBatchCount at 50 per 10 s: 58 hours), locking
// every other caller out: it is refused and books nothing.
func TestThrottlingRefusesABatchLargerThanTheThreshold(t *testing.T) {
	for _, batch := range []int64{51, 1000, 1 << 20} {
		c := newController(t, Rule{Resource: "r", Threshold: 50, StatInterval: 10 * time.Second,
			ControlBehavior: Throttling, MaxQueueingTime: time.Second}, Env{})
		if _, _, ok := c.Check(t0, batch); ok {
			t.Fatalf("a batch of %d passed Throttling 50 per 10 s", batch)
		}
		if w, _, ok := c.Check(t0, 1); !ok || w != 0 {
			t.Fatalf("after a refused batch of %d, one permit: ok=%v wait=%v, want a pass at once", batch, ok, w)
		}
	}
	c := newController(t, Rule{Resource: "r", Threshold: 50, StatInterval: 10 * time.Second,
		ControlBehavior: Throttling, MaxQueueingTime: time.Second}, Env{})
	if _, _, ok := c.Check(t0, 50); !ok {
		t.Fatal("a batch of exactly the threshold was refused")
	}
	if _, _, ok := c.Check(t0+8*int64(time.Second), 1); ok { // 2 s before the booked 10 s end, past the 1 s queue
		t.Fatal("the batch of 50 did not book its 10 s")
	}
	// Below a threshold of one, a single permit still passes (one per two intervals).
	half := newController(t, Rule{Resource: "r", Threshold: 0.5, ControlBehavior: Throttling}, Env{})
	if _, _, ok := half.Check(t0, 2); ok {
		t.Fatal("a batch of 2 passed Throttling 0.5 per second")
	}
	if _, _, ok := half.Check(t0, 1); !ok {
		t.Fatal("one permit was refused by Throttling 0.5 per second")
	}
}

// Under WarmUp, Throttling refuses a batch over the threshold in force (the
// cold rate), as Reject does.
func TestWarmUpThrottlingRefusesABatchOverTheColdRate(t *testing.T) {
	c := newController(t, Rule{Resource: "r", Threshold: 30, Strategy: WarmUp, WarmUpPeriod: 10 * time.Second,
		ControlBehavior: Throttling, MaxQueueingTime: time.Second}, Env{})
	if _, _, ok := c.Check(t0, 11); ok {
		t.Fatal("a batch of 11 passed a cold rate of 10")
	}
	if _, _, ok := c.Check(t0, 10); !ok {
		t.Fatal("a batch of 10 was refused at a cold rate of 10")
	}
}

// The bound Reject documents, attacked at bucket edges: a full burst at the
// last instant of one bucket and another as the bucket ten later opens pass
// 2 × Threshold within 0.9 s, while no second that starts on a bucket edge
// ever holds more than Threshold.
func TestRejectWorstSlidingSecondIsTwiceTheThreshold(t *testing.T) {
	const threshold = 100
	c := newController(t, Rule{Resource: "r", Threshold: threshold}, Env{})
	passedAt := map[int64]int{} // ms offset -> passes
	for _, off := range []int64{99, 1000, 1999, 2000, 2550, 3099} {
		passedAt[off] += passes(c, t0+off*ms+ms-1, 3*threshold) // the last nanosecond of that ms
	}
	if n := passedAt[99] + passedAt[1000]; n != 2*threshold {
		t.Fatalf("bursts at 99 ms and 1000 ms passed %d, want the documented worst case %d", n, 2*threshold)
	}
	for start := int64(0); start <= 3000; start += 100 { // every second starting on a bucket edge
		if n := passedIn(passedAt, start, start+1000); n > threshold {
			t.Fatalf("the second from %d ms passed %d, bound %d", start, n, threshold)
		}
	}
}

// passedIn sums the passes recorded at ms offsets in [from, to).
func passedIn(passedAt map[int64]int, from, to int64) int {
	n := 0
	for off, k := range passedAt {
		if off >= from && off < to {
			n += k
		}
	}
	return n
}
