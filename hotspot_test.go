package sluice_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/hotspot"
)

func TestHotspotPerUserThroughEngine(t *testing.T) {
	eng, clk := newEngine(t)
	if err := eng.LoadHotspotRules([]hotspot.Rule{{ID: "per-user", Resource: "GET /cart", ParamIndex: 0, Threshold: 2}}); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice", "bob"} {
		if got := try(eng, "GET /cart", 5, sluice.WithArgs(user)); got != 2 {
			t.Fatalf("%s: %d passed, want 2", user, got)
		}
	}
	_, err := eng.Entry(context.Background(), "GET /cart", sluice.WithArgs("alice"))
	var be *sluice.BlockError
	if !errors.As(err, &be) || be.Type != sluice.BlockTypeHotspot || be.Rule.(*hotspot.Rule).ID != "per-user" {
		t.Fatalf("block: %v", err)
	}
	if got := try(eng, "GET /cart", 5); got != 5 {
		t.Fatalf("entries without the argument: %d of 5 passed; the rule must not apply", got)
	}
	clk.Advance(time.Second)
	if got := try(eng, "GET /cart", 5, sluice.WithArgs("alice")); got != 2 {
		t.Fatalf("a second later: %d passed, want 2", got)
	}
}

func TestHotspotParamKeyAndNegativeIndex(t *testing.T) {
	eng, _ := newEngine(t)
	_ = eng.LoadHotspotRules([]hotspot.Rule{
		{Resource: "a", ParamKey: "tenant", ParamIndex: 0, Threshold: 1},
		{Resource: "b", ParamIndex: -1, Threshold: 1},
	})
	if got := try(eng, "a", 3, sluice.WithArgs("x"), sluice.WithAttachment("tenant", "acme")); got != 1 {
		t.Fatalf("ParamKey: %d passed, want 1", got)
	}
	if got := try(eng, "a", 3, sluice.WithArgs("x"), sluice.WithAttachment("tenant", "other")); got != 1 {
		t.Fatalf("ParamKey picks the attachment, not argument 0: %d passed, want 1", got)
	}
	if got := try(eng, "b", 3, sluice.WithArgs("ignored", 7)); got != 1 {
		t.Fatalf("index -1: %d passed, want 1", got)
	}
	if got := try(eng, "b", 3, sluice.WithArgs("ignored", int64(7))); got != 0 {
		t.Fatal("int 7 and int64 7 must be one value")
	}
}

func TestHotspotUncountableArgsAreSkippedAndCounted(t *testing.T) {
	eng, _ := newEngine(t)
	_ = eng.LoadHotspotRules([]hotspot.Rule{{Resource: "r", Threshold: 0}})
	for _, v := range []any{[]string{"a"}, map[string]int{}, func() {}, nil} {
		if got := try(eng, "r", 1, sluice.WithArgs(v)); got != 1 {
			t.Fatalf("%T: blocked; an uncountable value must skip the rule", v)
		}
	}
	if st, _ := eng.Stats("r"); len(st.Hotspots) != 1 || st.Hotspots[0].Skipped != 4 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHotspotConcurrencyKeepsEntriesApart(t *testing.T) {
	eng, _ := newEngine(t)
	_ = eng.LoadHotspotRules([]hotspot.Rule{{Resource: "r", MetricType: hotspot.Concurrency, Threshold: 2}})
	users := []string{"u1", "u2", "u3", "u4"}
	var peak [4]atomic.Int64
	var inFlight [4]atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(u int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				_ = eng.Do(context.Background(), "r", func(context.Context) error {
					n := inFlight[u].Add(1)
					for old := peak[u].Load(); n > old && !peak[u].CompareAndSwap(old, n); old = peak[u].Load() {
					}
					inFlight[u].Add(-1)
					return nil
				}, sluice.WithArgs(users[u]))
			}
		}(g % 4)
	}
	wg.Wait()
	for u := range users {
		if p := peak[u].Load(); p > 2 || p == 0 {
			t.Errorf("%s: peak %d in flight, want 1..2", users[u], p)
		}
	}
	for _, u := range users { // every slot given back
		if got := holdAll(eng, "r", u, 5); got != 2 {
			t.Errorf("%s: %d could enter after the run, want 2", u, got)
		}
	}
}

// holdAll enters n times without exiting, then exits them all, returning how
// many entered.
func holdAll(eng *sluice.Engine, res, user string, n int) int {
	var held []sluice.Permit
	for i := 0; i < n; i++ {
		if p, err := eng.Entry(context.Background(), res, sluice.WithArgs(user)); err == nil {
			held = append(held, p)
		}
	}
	for _, p := range held {
		p.Exit()
	}
	return len(held)
}

func TestHotspotConcurrencyReleasedAfterPanic(t *testing.T) {
	eng, _ := newEngine(t)
	_ = eng.LoadHotspotRules([]hotspot.Rule{{Resource: "r", MetricType: hotspot.Concurrency, Threshold: 1}})
	func() {
		defer func() { _ = recover() }()
		_ = eng.Do(context.Background(), "r", func(context.Context) error { panic("boom") }, sluice.WithArgs("u"))
	}()
	if err := eng.Do(context.Background(), "r", succeed, sluice.WithArgs("u")); err != nil {
		t.Fatalf("slot not released after a panic: %v", err)
	}
}

func TestHotspotThrottlingHonoursContext(t *testing.T) {
	eng, clk := newEngine(t)
	_ = eng.LoadHotspotRules([]hotspot.Rule{{Resource: "r", Threshold: 1, ControlBehavior: hotspot.Throttling,
		MaxQueueingTime: 5 * time.Second}})
	try(eng, "r", 1, sluice.WithArgs("u"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := eng.Entry(ctx, "r", sluice.WithArgs("u"))
		done <- err
	}()
	clk.BlockUntilTimers(1)
	cancel()
	err := <-done
	var be *sluice.BlockError
	if !errors.As(err, &be) || be.Type != sluice.BlockTypeHotspot || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	// The cancelled entry gave its slot back: the next waits 1 s, not 2.
	go func() {
		p, err := eng.Entry(context.Background(), "r", sluice.WithArgs("u"))
		p.Exit()
		done <- err
	}()
	clk.BlockUntilTimers(1)
	clk.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("queued entry: %v", err)
	}
}

func TestHotspotReloadKeepsCounters(t *testing.T) {
	eng, _ := newEngine(t)
	rule := hotspot.Rule{Resource: "r", Threshold: 3, SpecificItems: []hotspot.SpecificItem{{Value: 42, Threshold: 1}}}
	_ = eng.LoadHotspotRules([]hotspot.Rule{rule})
	try(eng, "r", 2, sluice.WithArgs("u"))
	_ = eng.LoadHotspotRules([]hotspot.Rule{rule})
	if got := try(eng, "r", 5, sluice.WithArgs("u")); got != 1 {
		t.Fatalf("unchanged rule: %d passed, want the 1 left", got)
	}
	rule.SpecificItems = []hotspot.SpecificItem{{Value: 42.0, Threshold: 1}} // a change: 42.0 is not 42
	_ = eng.LoadHotspotRules([]hotspot.Rule{rule})
	if got := try(eng, "r", 5, sluice.WithArgs("u")); got != 3 {
		t.Fatalf("changed rule: %d passed, want a fresh 3", got)
	}
}

// TestHotspotEntryDoesNotAllocate: with the argument boxed by the caller
// once, Entry+Exit under hotspot rules allocates nothing inside the engine.
func TestHotspotEntryDoesNotAllocate(t *testing.T) {
	eng, clk := newEngine(t)
	_ = eng.LoadHotspotRules([]hotspot.Rule{
		{Resource: "r", Threshold: 1e12},
		{Resource: "r", ParamIndex: 1, MetricType: hotspot.Concurrency, Threshold: 1e9},
	})
	ctx := context.Background()
	args := []any{"user-1", 123456} // boxed once, by the caller
	for i := 0; i < 2; i++ {        // a value seen twice is in the frequent queue
		p, _ := eng.Entry(ctx, "r", sluice.WithArgs(args...))
		p.Exit()
	}
	engine := testing.AllocsPerRun(1000, func() {
		clk.Advance(time.Millisecond)
		p, err := eng.Entry(ctx, "r", sluice.WithArgs(args...))
		if err != nil {
			t.Fatal(err)
		}
		p.Exit()
	})
	if engine != 0 {
		t.Fatalf("%v allocs per Entry+Exit inside the engine, want 0", engine)
	}
	// At a call site, WithArgs(v, w) builds the argument slice; the values
	// are kept as cache keys, so Go's escape analysis puts that slice on the
	// heap: one allocation, the caller's, like boxing v and w.
	user, item := any("user-1"), any(123456)
	slice := testing.AllocsPerRun(1000, func() {
		p, _ := eng.Entry(ctx, "r", sluice.WithArgs(user, item))
		p.Exit()
	})
	s, n := "user-1", 123456
	boxing := testing.AllocsPerRun(1000, func() {
		p, _ := eng.Entry(ctx, "r", sluice.WithArgs(s, n))
		p.Exit()
	})
	t.Logf("allocs per Entry+Exit: 0 inside the engine; %v for WithArgs(v, w) of boxed values; %v with the caller boxing a string and an int", slice, boxing)
}

// ParamsMaxCapacity 1 (reachable from Sentinel JSON) is a rule like any
// other: it limits each value, one value tracked at a time.
func TestHotspotCapacityOfOneLimits(t *testing.T) {
	eng, _ := newEngine(t)
	if err := eng.LoadHotspotRules([]hotspot.Rule{{Resource: "r", Threshold: 2, ParamsMaxCapacity: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice", "bob"} {
		if got := try(eng, "r", 5, sluice.WithArgs(user)); got != 2 {
			t.Fatalf("%s: %d of 5 passed, want 2", user, got)
		}
	}
}

type tenantScore float64

type wrapped struct{ v any }

// A value not equal to itself (a NaN of a named float type) and a
// comparable value holding a slice in an interface are uncountable: let
// through, counted as skipped, with no panic behind them.
func TestHotspotValuesThatCannotBeFoundAgainAreSkipped(t *testing.T) {
	var logs bytes.Buffer
	eng, _ := newEngine(t, sluice.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err := eng.LoadHotspotRules([]hotspot.Rule{{Resource: "r", MetricType: hotspot.Concurrency, Threshold: 1}}); err != nil {
		t.Fatal(err)
	}
	var held []sluice.Permit
	for _, v := range []any{tenantScore(math.NaN()), wrapped{[]int{1}}} {
		for i := 0; i < 3; i++ {
			p, err := eng.Entry(context.Background(), "r", sluice.WithArgs(v))
			if err != nil {
				t.Fatalf("%#v: %v; an uncountable value must skip the rule", v, err)
			}
			held = append(held, p)
		}
	}
	for _, p := range held {
		p.Exit()
	}
	if st, _ := eng.Stats("r"); len(st.Hotspots) != 1 || st.Hotspots[0].Skipped != 6 || st.Hotspots[0].Tracked != 0 {
		t.Fatalf("stats %+v, want 6 skipped and no value tracked", st)
	}
	if strings.Contains(logs.String(), "panic") {
		t.Fatalf("a panic behind an entry: %s", logs.String())
	}
}
