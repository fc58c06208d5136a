package stat

import (
	"sync"
	"testing"
	"time"
)

func mustWindow(t *testing.T, interval time.Duration, buckets int) *Window {
	t.Helper()
	w, err := NewWindow(interval, buckets, 0)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestNewWindowRejectsUnevenBuckets(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		buckets  int
	}{{time.Second, 0}, {0, 10}, {time.Second, 7}, {-time.Second, 10}} {
		if _, err := NewWindow(tc.interval, tc.buckets, 0); err == nil {
			t.Errorf("NewWindow(%v, %d) = nil error", tc.interval, tc.buckets)
		}
	}
}

func TestWindowSlides(t *testing.T) {
	w := mustWindow(t, time.Second, 10)
	ms := int64(time.Millisecond)
	base := int64(1_700_000_000) * int64(time.Second) // on a bucket edge
	for i := int64(0); i < 10; i++ {
		w.Add(base+i*100*ms, Pass, i+1) // 1..10 in buckets 0..9
	}
	if got := w.Sum(base+999*ms, Pass); got != 55 {
		t.Fatalf("sum over full window = %d, want 55", got)
	}
	// 100ms later the first bucket (1) has left the window.
	if got := w.Sum(base+1000*ms, Pass); got != 54 {
		t.Fatalf("sum after one bucket slid = %d, want 54", got)
	}
	// Writing into the reused slot resets it.
	w.Add(base+1000*ms, Pass, 100)
	if got := w.Sum(base+1050*ms, Pass); got != 154 {
		t.Fatalf("sum after reuse = %d, want 154", got)
	}
	// After a full idle window nothing is left.
	if got := w.Sum(base+2100*ms, Pass); got != 0 {
		t.Fatalf("sum after idle window = %d, want 0", got)
	}
	if got := w.SumBetween(Pass, base+200*ms, base+400*ms); got != 3+4 {
		t.Fatalf("SumBetween = %d, want 7", got)
	}
}

func TestWindowUndo(t *testing.T) {
	w := mustWindow(t, time.Second, 10)
	now := int64(5 * time.Second)
	e := w.Add(now, Pass, 3)
	w.Undo(e, Pass, 2)
	if got := w.Sum(now, Pass); got != 1 {
		t.Fatalf("after undo sum = %d, want 1", got)
	}
	// An undo for a bucket that rolled over does not touch the new epoch.
	later := now + int64(time.Second)
	w.Add(later, Pass, 5)
	w.Undo(e, Pass, 1)
	if got := w.Sum(later, Pass); got != 5 {
		t.Fatalf("stale undo changed the new epoch: sum = %d, want 5", got)
	}
}

func TestWindowRead(t *testing.T) {
	w := mustWindow(t, time.Second, 10)
	now := int64(3 * time.Second)
	w.Add(now, Pass, 4)
	w.Add(now, Block, 2)
	w.Add(now, Complete, 3)
	w.Add(now, Error, 1)
	w.AddCompletion(now, 1, 30*time.Millisecond, false)
	w.AddCompletion(now+int64(200*time.Millisecond), 2, 10*time.Millisecond, true)
	c := w.Read(now + int64(200*time.Millisecond))
	want := Counts{Pass: 4, Block: 2, Complete: 6, Error: 3, RTSum: 50 * time.Millisecond, MinRT: 10 * time.Millisecond}
	if c != want {
		t.Fatalf("Read = %+v, want %+v", c, want)
	}
	// A zero response time is a real minimum, not "none".
	w.AddCompletion(now, 1, 0, false)
	if c := w.Read(now); c.MinRT != 0 || c.Complete != 5 {
		t.Fatalf("after zero RT: %+v", c)
	}
	if c := w.Read(now + int64(5*time.Second)); c != (Counts{}) {
		t.Fatalf("Read of an idle window = %+v, want zero", c)
	}
}

// TestWindowRolloverLosesNoCounts has many goroutines add to a bucket at the
// instant it is reused, phase after phase, and checks that every count made
// in the new epoch is there: none is wiped by a concurrent reset.
func TestWindowRolloverLosesNoCounts(t *testing.T) {
	const (
		goroutines = 8
		perG       = 200
		phases     = 200
	)
	w := mustWindow(t, 4*time.Millisecond, 4) // 1ms buckets, ring of 4
	for phase := int64(0); phase < phases; phase++ {
		// Each phase lands on the same slot, one ring later: a reuse.
		now := (phase + 1) * 4 * int64(time.Millisecond)
		var start, done sync.WaitGroup
		start.Add(1)
		for g := 0; g < goroutines; g++ {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				for i := 0; i < perG; i++ {
					w.Add(now, Pass, 1)
				}
			}()
		}
		start.Done()
		done.Wait()
		if got := w.SumBetween(Pass, now, now+1); got != goroutines*perG {
			t.Fatalf("phase %d: bucket holds %d, want %d", phase, got, goroutines*perG)
		}
	}
}

func TestNodeTryAcquireIsExact(t *testing.T) {
	n, err := NewNode(time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	acquired := 0
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.TryAcquire(limit) {
				mu.Lock()
				acquired++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if acquired != limit || n.Concurrency() != limit {
		t.Fatalf("acquired %d, concurrency %d; want %d", acquired, n.Concurrency(), limit)
	}
	n.Enter(1)
	n.Enter(0)
	n.Leave(1)
	n.Release()
	if n.Concurrency() != limit {
		t.Fatalf("after Enter/Leave and a Release: %d, want %d", n.Concurrency(), limit)
	}
}

func TestWindowZeroAlloc(t *testing.T) {
	w := mustWindow(t, time.Second, 10)
	now := int64(time.Hour)
	allocs := testing.AllocsPerRun(1000, func() {
		now += int64(7 * time.Millisecond)
		w.Add(now, Pass, 1)
		w.AddCompletion(now, 1, time.Millisecond, false)
		_ = w.Sum(now, Pass)
		_ = w.Read(now)
	})
	if allocs != 0 {
		t.Fatalf("allocs per add+read = %v, want 0", allocs)
	}
}

func TestWindowHistory(t *testing.T) {
	w, err := NewWindow(time.Second, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	base := int64(1_700_000_000) * int64(time.Second)
	w.Add(base, Pass, 7)
	later := base + int64(1500*time.Millisecond)
	w.Add(later, Pass, 1)
	if got := w.Sum(later, Pass); got != 1 {
		t.Fatalf("Sum covers the interval only: %d, want 1", got)
	}
	if got := w.SumBetween(Pass, base, base+int64(time.Second)); got != 7 {
		t.Fatalf("history bucket: %d, want 7", got)
	}
	if w.Interval() != time.Second {
		t.Fatalf("Interval() = %v", w.Interval())
	}
}

func TestNodeRatesCountTheOldBucketProRata(t *testing.T) {
	n, err := NewNode(time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	ms := int64(time.Millisecond)
	base := int64(1_700_000_000) * int64(time.Second)
	n.Add(base, 0, Pass, 10)        // bucket [0, 100ms)
	n.Add(base+500*ms, 1, Pass, 20) // bucket [500, 600ms), another stripe
	n.AddCompletion(base+500*ms, n.Stripe(), 1, 4*time.Millisecond, false)
	for _, tc := range []struct {
		at   int64
		want float64
	}{
		{base + 999*ms, 30},   // both buckets inside the last second
		{base + 1000*ms, 30},  // [0, 100ms) is the history bucket, still wholly inside
		{base + 1050*ms, 25},  // half of it has slid out
		{base + 1100*ms, 20},  // all of it has
		{base + 1599*ms, 0.2}, // 1 ms of [500, 600ms) is left inside
		{base + 1700*ms, 0},
	} {
		if got := n.Rates(tc.at).Pass; got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("at +%dms: pass rate %v, want %v", (tc.at-base)/ms, got, tc.want)
		}
	}
	if r := n.Rates(base + 600*ms); r.AvgRT != 4*time.Millisecond || r.MinRT != 4*time.Millisecond || r.Complete != 1 {
		t.Fatalf("RT rates %+v", r)
	}
}

// TestEpochMatchesDivision checks the division-free epoch against plain
// division at bucket edges and at random times.
func TestEpochMatchesDivision(t *testing.T) {
	for _, interval := range []time.Duration{time.Second, 3 * time.Second, 70 * time.Millisecond, 10, time.Hour} {
		w := mustWindow(t, interval, 10)
		bn := w.bucketNanos
		check := func(now int64) {
			if got, want := w.epoch(now), now/bn; got != want {
				t.Fatalf("bucket %d ns: epoch(%d) = %d, want %d", bn, now, got, want)
			}
		}
		for _, base := range []int64{0, 1, bn, 1_700_000_000_000_000_000, 1<<62 - 1, 4_102_444_800_000_000_000} {
			e := base / bn
			for d := int64(-2); d <= 2; d++ {
				if now := (e+d)*bn - 1; now >= 0 {
					check(now)
					check(now + 1)
					check(now + 2)
				}
			}
		}
		x := uint64(88172645463325252)
		for i := 0; i < 200000; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			check(int64(x >> 1))
		}
	}
}

func TestPriorAndCount(t *testing.T) {
	w := mustWindow(t, time.Second, 10)
	ms := int64(time.Millisecond)
	base := int64(1_700_000_000) * int64(time.Second)
	w.Add(base, Pass, 3)                     // bucket 0
	w.Add(base+500*ms, Pass, 4)              // bucket 5
	e, cur := w.AddGet(base+950*ms, Pass, 2) // bucket 9
	var cache Prior
	if got := w.Prior(e, Pass, &cache); got != 7 || cur != 2 || w.Count(e, Pass) != 2 {
		t.Fatalf("prior %d, current %d", got, cur)
	}
	// A late add into an earlier bucket after the cache was filled: the
	// cached value is stale until an add of an older epoch overwrites it.
	w.Add(base+500*ms, Pass, 1)
	if got := w.Prior(e, Pass, &cache); got != 7 {
		t.Fatalf("cache not used: %d", got)
	}
	if got := w.Prior(e-4, Pass, &cache); got != 3 { // the late caller's own view
		t.Fatalf("prior of the earlier epoch %d, want 3", got)
	}
	if got := w.Prior(e, Pass, &cache); got != 8 {
		t.Fatalf("after the late caller, prior %d, want 8 (recomputed)", got)
	}
	// The next bucket's prior drops bucket 0, which leaves the interval.
	if got := w.Prior(e+1, Pass, &cache); got != 5+2 {
		t.Fatalf("prior of the next epoch %d, want 7", got)
	}
	if w.Count(e-10, Pass) != 0 {
		t.Fatal("Count of a rolled-over epoch should be 0")
	}
}

func TestNodePeak(t *testing.T) {
	n, err := NewNodeWithHistory(time.Second, 10, 91) // 10 s behind the current bucket
	if err != nil {
		t.Fatal(err)
	}
	ms := int64(time.Millisecond)
	base := int64(1_700_000_000) * int64(time.Second)
	complete := func(at int64, count int, rt time.Duration) {
		for i := 0; i < count; i++ {
			n.AddCompletion(at, i%2, 1, rt, false) // two stripes
		}
	}
	complete(base+100*ms, 30, 8*time.Millisecond)  // second [0, 1 s)
	complete(base+900*ms, 20, 9*time.Millisecond)  // same second: 50 in all
	complete(base+1500*ms, 40, 3*time.Millisecond) // second [1, 2 s)
	complete(base+2050*ms, 99, time.Millisecond)   // the current bucket: not read
	for _, tc := range []struct {
		at    int64
		spans int
		peak  int64
		minRT time.Duration
	}{
		{base + 2050*ms, 10, 50, 3 * time.Millisecond}, // spans end at 2 s: [0, 1 s) has 50, [1, 2 s) 40
		{base + 2099*ms, 1, 40, 3 * time.Millisecond},  // only [1 s, 2 s)
		{base + 2150*ms, 10, 139, time.Millisecond},    // spans end at 2.1 s: [1.1, 2.1 s) holds 40 + 99
		{base + 11_950*ms, 10, 99, time.Millisecond},   // spans [1.9, 11.9 s): only the bucket at 2 s is left
		{base + 13_000*ms, 10, 0, 0},                   // everything is older than 10 s
		{base + 2150*ms, 0, 0, 0},                      // no span
	} {
		peak, minRT := n.Peak(tc.at, time.Second, tc.spans)
		if peak != tc.peak || minRT != tc.minRT {
			t.Errorf("at +%dms, %d spans: peak %d, minRT %v; want %d, %v", (tc.at-base)/ms, tc.spans, peak, minRT, tc.peak, tc.minRT)
		}
	}
}

// Peak's response time is the smallest mean of one bucket, all stripes:
// a bucket with one 1 ms call among nine of 10 ms means 9.1 ms.
func TestNodePeakTakesBucketMeans(t *testing.T) {
	n, err := NewNodeWithHistory(time.Second, 10, 91)
	if err != nil {
		t.Fatal(err)
	}
	ms := int64(time.Millisecond)
	base := int64(1_700_000_000) * int64(time.Second)
	n.AddCompletion(base+10*ms, 0, 1, time.Millisecond, false)
	for i := 0; i < 9; i++ {
		n.AddCompletion(base+20*ms, 1, 1, 10*time.Millisecond, false)
	}
	n.AddCompletion(base+150*ms, 1, 1, 12*time.Millisecond, false) // another bucket, a larger mean
	peak, minMean := n.Peak(base+int64(time.Second), time.Second, 1)
	if peak != 11 || minMean != 9100*time.Microsecond {
		t.Fatalf("peak %d, min bucket mean %v; want 11, 9.1ms", peak, minMean)
	}
	if c := n.ReadBucket((base + 20*ms) / (100 * ms)); c.Complete != 10 || c.RTSum != 91*time.Millisecond || c.MinRT != time.Millisecond {
		t.Fatalf("ReadBucket %+v", c)
	}
	if c := n.ReadBucket((base - 2000*ms) / (100 * ms)); c != (Counts{}) {
		t.Fatalf("ReadBucket of an epoch the ring does not hold: %+v", c)
	}
}

// TestPriorCacheIsTaggedWithTheWholeEpoch: after an idle gap of exactly
// 2^32 buckets (or another gap whose low 32 bits are zero) the cached epoch
// and the new one share their low bits; the cache must not answer for the
// new epoch.
func TestPriorCacheIsTaggedWithTheWholeEpoch(t *testing.T) {
	w := mustWindow(t, time.Millisecond, 10) // 100 µs buckets: 2^40 of them fit in int64 nanoseconds
	bucket := int64(100 * time.Microsecond)
	fill := func(e, n int64) { // n in each of the 9 buckets before e
		for i := int64(1); i <= 9; i++ {
			w.Add((e-i)*bucket, Error, n)
		}
	}
	var cache Prior
	e := int64(1_700_000_000)*int64(time.Second)/bucket + 9
	fill(e, 1)
	if got := w.Prior(e, Error, &cache); got != 9 {
		t.Fatalf("prior %d, want 9", got)
	}
	for _, gap := range []int64{1 << 32, 1 << 33, 3 << 32, 1 << 40} {
		idle := e + gap // nothing recorded since e: the window is empty
		if got := w.Prior(idle, Error, &cache); got != 0 {
			t.Fatalf("after an idle gap of %d buckets, prior %d, want 0", gap, got)
		}
		e = idle + gap // and another gap, with new counts before it
		fill(e, 2)
		if got := w.Prior(e, Error, &cache); got != 18 {
			t.Fatalf("after a gap of %d buckets, prior %d, want the fresh 18", gap, got)
		}
	}
}

// TestPriorCacheUnderRacingEpochs: callers of two epochs 2^32 buckets
// apart share one cache; each always reads its own epoch's sum.
func TestPriorCacheUnderRacingEpochs(t *testing.T) {
	w := mustWindow(t, time.Second, 10)
	bucket := int64(100 * time.Millisecond)
	e1 := int64(1_700_000_000)*int64(time.Second)/bucket + 9
	e2 := e1 + 1<<32 // its buckets are not in the ring: its window is empty
	for i := int64(1); i <= 9; i++ {
		w.Add((e1-i)*bucket, Pass, 1)
	}
	var cache Prior
	done := make(chan int64)
	go func() {
		var bad int64
		for i := 0; i < 20000; i++ {
			if w.Prior(e2, Pass, &cache) != 0 {
				bad++
			}
		}
		done <- bad
	}()
	var bad int64
	for i := 0; i < 20000; i++ {
		if w.Prior(e1, Pass, &cache) != 9 {
			bad++
		}
	}
	if bad += <-done; bad != 0 {
		t.Fatalf("%d readings took the other epoch's sum", bad)
	}
}
