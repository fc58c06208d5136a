package stat

import (
	"sync"
	"testing"
	"time"
)

func mustWindow(t *testing.T, interval time.Duration, buckets int) *Window {
	t.Helper()
	w, err := NewWindow(interval, buckets)
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
		if _, err := NewWindow(tc.interval, tc.buckets); err == nil {
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
	w.AddRT(now, 30*time.Millisecond)
	w.AddRT(now+int64(200*time.Millisecond), 10*time.Millisecond)
	w.AddRT(now, 20*time.Millisecond)
	c := w.Read(now + int64(200*time.Millisecond))
	want := Counts{Pass: 4, Block: 2, Complete: 3, Error: 1, RTSum: 60 * time.Millisecond, RTCount: 3, MinRT: 10 * time.Millisecond}
	if c != want {
		t.Fatalf("Read = %+v, want %+v", c, want)
	}
	// A zero response time is a real minimum, not "none".
	w.AddRT(now, 0)
	if c := w.Read(now); c.MinRT != 0 || c.RTCount != 3 {
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
}

func TestWindowZeroAlloc(t *testing.T) {
	w := mustWindow(t, time.Second, 10)
	now := int64(time.Hour)
	allocs := testing.AllocsPerRun(1000, func() {
		now += int64(7 * time.Millisecond)
		w.Add(now, Pass, 1)
		w.AddRT(now, time.Millisecond)
		_ = w.Sum(now, Pass)
		_ = w.Read(now)
	})
	if allocs != 0 {
		t.Fatalf("allocs per add+read = %v, want 0", allocs)
	}
}
