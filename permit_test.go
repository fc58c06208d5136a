package sluice

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/isolation"
)

// These tests attack the promise that a Permit whose entry has exited, and
// every copy of it, never affects another entry, even once the pooled
// storage behind it holds a stranger's entry. They are internal so that
// they can see the storage being reused.

func permitEngine(t *testing.T, rules Rules) *Engine {
	t.Helper()
	eng := New(WithClock(clock.NewManual(time.Unix(1_700_000_000, 0))),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(func() { eng.Close() })
	if err := eng.LoadRules(rules); err != nil {
		t.Fatal(err)
	}
	return eng
}

var errStale = errors.New("stale")

// enterReusing enters res and exits, and enters again, until the second
// entry's storage is the first's; it returns the first permit (exited) and
// the second (live). sync.Pool hands back what was put last on the same
// processor, but the goroutine may move between the two, and under the
// race detector the pool drops some puts at random: hence the retries.
func enterReusing(t *testing.T, eng *Engine, res string) (stale, next Permit) {
	t.Helper()
	for range 10_000 {
		first, err := eng.Entry(context.Background(), res)
		if err != nil {
			t.Fatal(err)
		}
		first.Exit()
		p, err := eng.Entry(context.Background(), res)
		if err != nil {
			t.Fatal(err)
		}
		if p.s == first.s {
			if p.gen == first.gen {
				t.Fatal("storage reused under the same generation")
			}
			return first, p
		}
		p.Exit()
	}
	t.Fatal("the storage of an exited permit was never reused")
	return Permit{}, Permit{}
}

func TestStalePermitLeavesTheStorageNextEntryAlone(t *testing.T) {
	eng := permitEngine(t, Rules{
		Isolation: []isolation.Rule{{Resource: "r", Threshold: 1}},
		CircuitBreaker: []circuitbreaker.Rule{{Resource: "r", Strategy: circuitbreaker.ErrorCount,
			Threshold: 1, MinRequestAmount: 1, RetryTimeout: time.Hour}},
	})
	ctx := context.Background()
	first, next := enterReusing(t, eng, "r")
	stale := first // a copy, as a deferred Exit holds one

	// Every method of the old permit and its copy, after the reuse.
	for _, old := range []Permit{first, stale} {
		old.SetError(errStale)
		old.Exit()
		if old.Resource() != "r" {
			t.Fatalf("stale permit's resource %q", old.Resource())
		}
	}
	// The new entry still holds the only slot: a stale Exit released nothing.
	if _, err := eng.Entry(ctx, "r"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("second entry while the reusing one is in flight: %v, want an isolation block", err)
	}
	next.Exit()
	st, _ := eng.Stats("r")
	// A stale SetError would have counted an error and tripped the breaker.
	if st.ErrorQPS != 0 || st.CircuitBreakers[0].State != circuitbreaker.Closed || st.Concurrency != 0 {
		t.Fatalf("after the stale calls: %+v", st)
	}
	if p, err := eng.Entry(ctx, "r"); err != nil {
		t.Fatalf("entry after the reusing one exited: %v", err)
	} else {
		p.Exit()
	}
}

// TestPermitCopiesRaceToExit: 64 goroutines call Exit and SetError on
// copies of one live permit at once; exactly one exit is recorded, and the
// in-flight count ends at zero, not below.
func TestPermitCopiesRaceToExit(t *testing.T) {
	eng := permitEngine(t, Rules{Isolation: []isolation.Rule{{Resource: "r", Threshold: 1}}})
	const rounds, goroutines = 200, 64
	for range rounds {
		p, err := eng.Entry(context.Background(), "r")
		if err != nil {
			t.Fatal(err)
		}
		var start, done sync.WaitGroup
		start.Add(1)
		for g := range goroutines {
			done.Add(1)
			go func(c Permit) {
				defer done.Done()
				start.Wait()
				if g%2 == 0 {
					c.SetError(errStale)
				}
				c.Exit()
			}(p)
		}
		start.Done()
		done.Wait()
	}
	st, _ := eng.Stats("r")
	if st.CompleteQPS != rounds || st.Concurrency != 0 || st.PassQPS != rounds {
		t.Fatalf("after %d entries each exited by %d copies at once: %+v", rounds, goroutines, st)
	}
}

// TestStaleCopiesAcrossGoroutines: 64 goroutines enter and exit, and after
// each exit hand their permit's copy to a neighbour, which calls SetError
// and Exit on it while its storage is being reused all around. Only the
// owners' errors are counted, and every entry exits exactly once.
func TestStaleCopiesAcrossGoroutines(t *testing.T) {
	eng := permitEngine(t, Rules{Isolation: []isolation.Rule{{Resource: "r", Threshold: 1 << 20}}})
	const goroutines, perGoroutine = 64, 300
	stale := make([]chan Permit, goroutines)
	for i := range stale {
		stale[i] = make(chan Permit, perGoroutine)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perGoroutine {
				p, err := eng.Entry(context.Background(), "r")
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					p.SetError(errStale) // an owner's error: counted
				}
				p.Exit()
				stale[(g+1)%goroutines] <- p
				for drained := false; !drained; {
					select {
					case old := <-stale[g]:
						old.SetError(errStale)
						old.Exit()
					default:
						drained = true
					}
				}
			}
		}()
	}
	wg.Wait()
	const entries = goroutines * perGoroutine
	st, _ := eng.Stats("r")
	if st.PassQPS != entries || st.CompleteQPS != entries || st.ErrorQPS != entries/2 || st.Concurrency != 0 {
		t.Fatalf("%d entries, half with an owner's error: %+v", entries, st)
	}
}
