package stat

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// reserveUpTo reserves one at now and keeps it if the count is within limit.
func reserveUpTo(t *Tally, now, limit int64) bool {
	epoch, count := t.Reserve(now, 1)
	if count > limit {
		t.Undo(epoch, 1)
		return false
	}
	return true
}

func TestTallyIsExactUnderContention(t *testing.T) {
	tally, err := NewTally(time.Second, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	base := int64(1_700_000_000) * int64(time.Second)
	const limit, goroutines, each = 100, 64, 50
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if reserveUpTo(tally, base+int64(i)*int64(time.Millisecond), limit) {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != limit || tally.Count(base+int64(each)*int64(time.Millisecond)) != limit {
		t.Fatalf("admitted %d, counted %d; want exactly %d", admitted.Load(), tally.Count(base), limit) // one bucket: any time in it reads the same
	}
}

// A burst at the end of a bucket keeps the next nine buckets shut; the
// window lets it go only when its bucket leaves.
func TestTallyWindowAtBucketEdges(t *testing.T) {
	tally, _ := NewTally(time.Second, 10, 0)
	ms := int64(time.Millisecond)
	base := int64(1_700_000_000) * int64(time.Second)
	burst := func(at int64) (n int) {
		for i := 0; i < 20; i++ {
			if reserveUpTo(tally, at, 10) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		at   int64
		want int
	}{
		{base + 99*ms, 10},          // the end of bucket 0
		{base + 100*ms, 0},          // bucket 1: bucket 0 is still in the window
		{base + 999*ms, 0},          // bucket 9: the same
		{base + 1000*ms - 1, 0},     // the last nanosecond of bucket 9
		{base + 1000*ms, 10},        // bucket 10: bucket 0 has left
		{base + 1999*ms, 0},         // bucket 19: bucket 10 is still in
		{base + 2000*ms + 5*ms, 10}, // bucket 20
	} {
		if got := burst(tc.at); got != tc.want {
			t.Fatalf("at +%d ns: %d admitted, want %d", tc.at-base, got, tc.want)
		}
	}
}

// A caller that read its clock before a bucket edge and reserves after
// others crossed it sees their reservations: it adds to the older bucket but
// counts the newest window too.
func TestTallyLateCallerCountsTheNewestWindow(t *testing.T) {
	tally, _ := NewTally(time.Second, 10, 0)
	ms := int64(time.Millisecond)
	base := int64(1_700_000_000) * int64(time.Second)
	for i := 0; i < 9; i++ {
		if !reserveUpTo(tally, base+150*ms, 10) { // bucket 1
			t.Fatal("blocked under the limit")
		}
	}
	if !reserveUpTo(tally, base+1050*ms, 10) { // bucket 10: bucket 0 is empty, 9 + 1
		t.Fatal("blocked under the limit")
	}
	// Late: its own window (buckets 0-9) holds 9, the newest (1-10) 10.
	if reserveUpTo(tally, base+999*ms, 10) {
		t.Fatal("a late caller went over the limit of the newest window")
	}
	if got := tally.Count(base + 1050*ms); got != 10 {
		t.Fatalf("count %d after the late caller's undo, want 10", got)
	}
}

func TestTallyZeroAlloc(t *testing.T) {
	tally, _ := NewTally(time.Second, 10, 0)
	now := int64(time.Hour)
	if a := testing.AllocsPerRun(1000, func() {
		now += int64(7 * time.Millisecond)
		reserveUpTo(tally, now, 1e9)
	}); a != 0 {
		t.Fatalf("allocs per reserve = %v, want 0", a)
	}
}

// TestTallyCountsPassOnly: a tally's window keeps two cells per bucket
// (state and Pass), not a full window's seven.
func TestTallyCountsPassOnly(t *testing.T) {
	tl, err := NewTally(time.Second, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := tl.Window()
	if got, want := len(w.cells), w.ring()*passCells; got != want || passCells != 2 {
		t.Fatalf("%d cells for %d buckets, want %d", got, w.ring(), want)
	}
	now := int64(1_700_000_000) * int64(time.Second)
	tl.Reserve(now, 3)
	w.Add(now, Pass, 2)
	if got := tl.Count(now); got != 5 {
		t.Fatalf("count %d, want 5", got)
	}
}
