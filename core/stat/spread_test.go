package stat

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func newTestNode(t *testing.T) *Node {
	t.Helper()
	n, err := NewNode(time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNodeSpreadsWhenBusy: a node keeps one window until a bucket counts
// SpreadAt passes, then has one stripe per processor; its readings count
// every event wherever it went.
func TestNodeSpreadsWhenBusy(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // a node sized for 4 processors
	n := newTestNode(t)
	base := int64(1_700_000_000) * int64(time.Second)
	for i := range SpreadAt - 1 {
		if s := n.Stripe(); s != 0 {
			t.Fatalf("pass %d: stripe %d handed out before the node spread", i, s)
		}
		n.Add(base, 0, Pass, 1)
	}
	if n.more.Load() != nil {
		t.Fatalf("spread at %d passes in a bucket, want %d", SpreadAt-1, SpreadAt)
	}
	n.Add(base+int64(time.Second), 0, Pass, SpreadAt-1) // another bucket: no spread
	if n.more.Load() != nil {
		t.Fatal("spread though no bucket reached SpreadAt")
	}
	n.Add(base, 0, Pass, 1)
	if n.more.Load() == nil {
		t.Fatal("not spread at SpreadAt passes in a bucket")
	}
	for s := 0; s <= n.mask; s++ {
		n.Add(base+int64(time.Second), s, Pass, 1)
		n.Enter(s)
	}
	if got, want := n.Sum(base+int64(time.Second), Pass), int64(SpreadAt-1+n.mask+1); got != want {
		t.Fatalf("passes over the stripes %d, want %d", got, want)
	}
	if got := n.Concurrency(); got != int64(n.mask+1) {
		t.Fatalf("in flight %d, want %d", got, n.mask+1)
	}
}

// TestNodeSpreadUnderContention: 64 goroutines record passes, entries in
// flight and completions across the moment the node spreads; nothing is
// lost or counted twice.
func TestNodeSpreadUnderContention(t *testing.T) {
	n := newTestNode(t)
	now := int64(1_700_000_000) * int64(time.Second)
	const goroutines, each = 64, 200
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				s := n.Stripe()
				n.Add(now, s, Pass, 1)
				n.Enter(s)
				n.AddCompletion(now, s, 1, time.Millisecond, false)
				n.Leave(s)
			}
		}()
	}
	wg.Wait()
	if runtime.GOMAXPROCS(0) > 1 && n.more.Load() == nil {
		t.Fatal("a node with 12,800 passes in one bucket did not spread")
	}
	r := n.ReadBetween(now, now+1)
	if r.Pass != goroutines*each || r.Complete != goroutines*each || n.Concurrency() != 0 {
		t.Fatalf("passes %d, completions %d, in flight %d; want %d, %d, 0",
			r.Pass, r.Complete, n.Concurrency(), goroutines*each, goroutines*each)
	}
}

func TestNodeSpreadIsIdempotent(t *testing.T) {
	n := newTestNode(t)
	n.Spread()
	more := n.more.Load()
	n.Spread()
	if n.more.Load() != more {
		t.Fatal("a second Spread replaced the stripes")
	}
}
