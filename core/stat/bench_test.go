package stat

import (
	"testing"
	"time"
)

// BenchmarkPrior measures Window.Prior on a warm cache: the read every
// Reserve and every breaker check makes.
func BenchmarkPrior(b *testing.B) {
	w, _ := NewWindow(time.Second, 10, 0)
	now := int64(1_700_000_000) * int64(time.Second)
	for i := int64(0); i < 10; i++ {
		w.Add(now+i*int64(100*time.Millisecond), Pass, 1)
	}
	epoch := w.epoch(now + 9*int64(100*time.Millisecond))
	var cache Prior
	b.ReportAllocs()
	var sink int64
	for range b.N {
		sink += w.Prior(epoch, Pass, &cache)
	}
	_ = sink
}

// BenchmarkTallyReserve measures a Reserve and its Undo, the Reject check.
func BenchmarkTallyReserve(b *testing.B) {
	t, _ := NewTally(time.Second, 10, 0)
	now := int64(1_700_000_000) * int64(time.Second)
	b.ReportAllocs()
	for range b.N {
		e, _ := t.Reserve(now, 1)
		t.Undo(e, 1)
	}
}

// BenchmarkTallyReserveParallel is BenchmarkTallyReserve from GOMAXPROCS
// goroutines on one tally.
func BenchmarkTallyReserveParallel(b *testing.B) {
	t, _ := NewTally(time.Second, 10, 0)
	now := int64(1_700_000_000) * int64(time.Second)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e, _ := t.Reserve(now, 1)
			t.Undo(e, 1)
		}
	})
}
