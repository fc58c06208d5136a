package hotspot

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestEvictionNeverGivesAValueTwoCounts replays, step by step, the
// interleaving in which an entry looks its value's state up, the value is
// forgotten and made afresh by another entry, and the first entry then takes
// a slot: it must count against the value's current state, not the
// forgotten one, or the value has two live counts, each admitting up to the
// threshold.
func TestEvictionNeverGivesAValueTwoCounts(t *testing.T) {
	l := newLimiter(t, Rule{MetricType: Concurrency, Threshold: 1, ParamsMaxCapacity: 4})
	k := key(t, "v")
	sh := &l.shards[k.hash()&l.mask]
	stale := l.lookup(sh, k) // what Acquire does first, outside the shard lock
	for i := 0; i < 100; i++ {
		tok, _, _ := l.Acquire(t0, key(t, i), 1) // forgets "v": nothing in flight
		l.Release(tok)
	}
	if _, ok := sh.cache.Peek(k); ok {
		t.Fatal("the churn did not evict the value")
	}
	held, _, ok := l.Acquire(t0, k, 1) // a fresh state for "v", its one slot taken
	if !ok {
		t.Fatal("the first entry of a forgotten value was refused")
	}
	if st, ok := l.enter(sh, stale); ok { // the first entry resumes
		t.Fatalf("2 in flight on a threshold of 1: the forgotten state took a slot (the holder's state: %v)", st == held.st)
	}
	l.Release(held)
	if got := acquire(l, t0, k, 3); got != 1 {
		t.Fatalf("after the release %d entered, want 1", got)
	}
}

// TestConcurrencyUnderEvictionChurn races 64 goroutines over more values
// than the cache holds, so that values are forgotten and made afresh all
// the time, and checks with its own counters that no value ever has more
// entries in flight than the threshold, and that every slot is given back.
func TestConcurrencyUnderEvictionChurn(t *testing.T) {
	const values, goroutines, rounds = 16, 64, 1000
	l := newLimiter(t, Rule{MetricType: Concurrency, Threshold: 1, ParamsMaxCapacity: 4})
	keys := make([]Key, values)
	for i := range keys {
		keys[i] = key(t, fmt.Sprint("v", i))
	}
	var inFlight, peak [values]atomic.Int64
	var passed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				v := (g*7 + i) % values
				tok, _, ok := l.Acquire(t0, keys[v], 1)
				if !ok {
					continue
				}
				passed.Add(1)
				n := inFlight[v].Add(1)
				for old := peak[v].Load(); n > old && !peak[v].CompareAndSwap(old, n); old = peak[v].Load() {
				}
				inFlight[v].Add(-1)
				l.Release(tok)
			}
		}(g)
	}
	wg.Wait()
	for v := range keys {
		if p := peak[v].Load(); p > 1 {
			t.Errorf("%v: %d in flight at once, threshold 1", keys[v].Value(), p)
		}
	}
	if passed.Load() == 0 {
		t.Fatal("nothing passed")
	}
	for v := range keys { // every slot given back, no value left busy
		if got := acquire(l, t0, keys[v], 3); got != 1 {
			t.Errorf("%v: %d entered after the run, want 1", keys[v].Value(), got)
		}
	}
}
