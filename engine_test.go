package sluice_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/isolation"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Unix(1_700_000_000, 0)

func newEngine(t *testing.T, opts ...sluice.Option) (*sluice.Engine, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(t0)
	eng := sluice.New(append([]sluice.Option{sluice.WithClock(clk),
		sluice.WithLogger(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))}, opts...)...)
	t.Cleanup(func() { eng.Close() })
	return eng, clk
}

func mustLoad(t *testing.T, eng *sluice.Engine, r sluice.Rules) {
	t.Helper()
	if err := eng.LoadRules(r); err != nil {
		t.Fatal(err)
	}
}

// try enters and exits n times, returning how many passed.
func try(eng *sluice.Engine, resource string, n int, opts ...sluice.EntryOption) int {
	passed := 0
	for i := 0; i < n; i++ {
		p, err := eng.Entry(context.Background(), resource, opts...)
		if err == nil {
			passed++
			p.Exit()
		}
	}
	return passed
}

func TestFlowRejectExactFromManyGoroutines(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 50}}})
	var passed, blocked atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				p, err := eng.Entry(context.Background(), "r")
				if err != nil {
					var be *sluice.BlockError
					if !errors.As(err, &be) || be.Type != sluice.BlockTypeFlow || be.Resource != "r" {
						t.Errorf("block error %v", err)
					}
					blocked.Add(1)
					continue
				}
				passed.Add(1)
				p.Exit()
			}
		}()
	}
	wg.Wait()
	if passed.Load() != 50 || blocked.Load() != 750 {
		t.Fatalf("passed %d blocked %d, want 50 and 750", passed.Load(), blocked.Load())
	}
	st, _ := eng.Stats("r")
	if st.PassQPS != 50 || st.BlockQPS != 750 || st.CompleteQPS != 50 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBlockErrorNamesRule(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{ID: "orders-qps", Resource: "GET /orders", Threshold: 0}}})
	_, err := eng.Entry(context.Background(), "GET /orders")
	var be *sluice.BlockError
	if !errors.Is(err, sluice.ErrBlocked) || !errors.As(err, &be) {
		t.Fatalf("err = %v", err)
	}
	if r, ok := be.Rule.(*flow.Rule); !ok || r.ID != "orders-qps" {
		t.Fatalf("Rule = %#v", be.Rule)
	}
	if !strings.Contains(err.Error(), `"GET /orders" blocked by Flow rule`) {
		t.Fatalf("message %q", err.Error())
	}
}

func TestThrottlingQueuesOnTheClock(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "q", Threshold: 10,
		ControlBehavior: flow.Throttling, MaxQueueingTime: 250 * time.Millisecond}}}) // 100 ms apart
	ctx := context.Background()
	first, err := eng.Entry(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	first.Exit()

	type result struct {
		at  time.Time
		err error
	}
	results := make(chan result, 2)
	for i := 0; i < 2; i++ {
		go func() {
			p, err := eng.Entry(ctx, "q")
			results <- result{clk.Now(), err}
			p.Exit()
		}()
		clk.BlockUntilTimers(i + 1) // queued in order: 100 ms, then 200 ms
	}
	// A fourth would wait 300 ms > 250 ms: blocked at once, no timer.
	if _, err := eng.Entry(ctx, "q"); !errors.Is(err, sluice.ErrBlocked) {
		t.Fatalf("over-long queue: err = %v", err)
	}
	clk.Advance(100 * time.Millisecond)
	r := <-results
	if r.err != nil || !r.at.Equal(t0.Add(100*time.Millisecond)) {
		t.Fatalf("first queued entry: %v at %v", r.err, r.at.Sub(t0))
	}
	select {
	case r := <-results:
		t.Fatalf("second queued entry left early: %+v", r)
	default:
	}
	clk.Advance(100 * time.Millisecond)
	if r := <-results; r.err != nil || !r.at.Equal(t0.Add(200*time.Millisecond)) {
		t.Fatalf("second queued entry: %v at %v", r.err, r.at.Sub(t0))
	}
}

func TestThrottlingWaitHonoursContext(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "q", Threshold: 1,
		ControlBehavior: flow.Throttling, MaxQueueingTime: 10 * time.Second}}}) // 1 s apart
	p, _ := eng.Entry(context.Background(), "q")
	p.Exit()

	// Cancelled while waiting: returns at once, with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := eng.Entry(ctx, "q")
		done <- err
	}()
	clk.BlockUntilTimers(1)
	cancel()
	err := <-done
	var be *sluice.BlockError
	if !errors.As(err, &be) || !errors.Is(err, context.Canceled) || be.Type != sluice.BlockTypeFlow {
		t.Fatalf("cancelled wait: %v", err)
	}
	if clk.Timers() != 0 {
		t.Fatal("the cancelled wait left a timer")
	}

	// A deadline closer than the wait: blocked without waiting at all. The
	// cancelled entry gave its slot back, so this one would wait 1 s.
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	if _, err := eng.Entry(dctx, "q"); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sluice.ErrBlocked) {
		t.Fatalf("deadline too close: %v", err)
	}
	if st, _ := eng.Stats("q"); st.BlockQPS != 2 {
		t.Fatalf("the two cut-short waits should count as blocks: %+v", st)
	}
	// And that entry gave its slot back too: after 1 s, the next passes at once.
	clk.Advance(time.Second)
	if p, err := eng.Entry(context.Background(), "q"); err != nil {
		t.Fatalf("after 1 s: %v", err)
	} else {
		p.Exit()
	}
}

func TestWarmUpThroughEngine(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "w", Threshold: 30, Strategy: flow.WarmUp,
		WarmUpPeriod: 5 * time.Second}}})
	if got := try(eng, "w", 100); got != 10 {
		t.Fatalf("cold: %d passed, want 30/3 = 10", got)
	}
	last := 0
	for sec := 1; sec <= 12; sec++ {
		clk.Advance(time.Second)
		last = try(eng, "w", 100)
	}
	if last != 30 {
		t.Fatalf("after 12 s of traffic %d passed per second, want 30", last)
	}
}

func TestAssociatedResourceThroughEngine(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "report", Threshold: 3,
		RelationStrategy: flow.AssociatedResource, RefResource: "checkout"}}})
	if got := try(eng, "report", 5); got != 5 {
		t.Fatalf("checkout idle: %d of 5 reports passed", got)
	}
	try(eng, "checkout", 3)
	if got := try(eng, "report", 5); got != 0 {
		t.Fatalf("checkout busy: %d reports passed, want 0", got)
	}
	clk.Advance(time.Second)
	if got := try(eng, "report", 5); got != 5 {
		t.Fatalf("checkout idle again: %d of 5 passed", got)
	}
}

func TestRegexRuleCountsEachResource(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{
		Flow:      []flow.Rule{{Resource: "api/.*", Regex: true, Threshold: 2}},
		Isolation: []isolation.Rule{{Resource: "db-(a|b)", Regex: true, Threshold: 0}},
	})
	for _, name := range []string{"api/a", "api/b"} {
		if got := try(eng, name, 5); got != 2 {
			t.Errorf("%s: %d passed, want its own 2", name, got)
		}
	}
	for name, want := range map[string]int{"xapi/a": 5, "db-a": 0, "db-b": 0, "db-c": 5, "db-ab": 5} {
		if got := try(eng, name, 5); got != want {
			t.Errorf("%s: %d passed, want %d (patterns match whole names)", name, got, want)
		}
	}
}

func TestInvalidRulesKeepOldRules(t *testing.T) {
	eng, _ := newEngine(t)
	good := sluice.Rules{
		Flow:      []flow.Rule{{Resource: "r", Threshold: 2}},
		Isolation: []isolation.Rule{{Resource: "i", Threshold: 1}},
	}
	mustLoad(t, eng, good)
	try(eng, "r", 1)
	bad := []sluice.Rules{
		{Flow: []flow.Rule{{Resource: "r", Threshold: -1}}},
		{Flow: []flow.Rule{{Resource: "r", Threshold: 100}}, Isolation: []isolation.Rule{{Resource: "", Threshold: 1}}},
		{Flow: []flow.Rule{{Resource: "x(", Regex: true, Threshold: 1}}},
		{Flow: []flow.Rule{{Resource: "r", Threshold: 1, ControlBehavior: flow.Throttling, MaxQueueingTime: -1}}},
	}
	for i, rules := range bad {
		err := eng.LoadRules(rules)
		var re *sluice.RuleError
		if !errors.Is(err, sluice.ErrInvalidRule) || !errors.As(err, &re) || re.Index != 0 {
			t.Errorf("bad set %d: %v", i, err)
		}
	}
	if err := eng.LoadFlowRules([]flow.Rule{{Resource: "ok", Threshold: 1}, {Resource: "r", Threshold: -5}}); err == nil ||
		!strings.Contains(err.Error(), "flow rule #1") {
		t.Errorf("LoadFlowRules error should name rule #1: %v", err)
	}
	if got := eng.Rules(); len(got.Flow) != 1 || got.Flow[0] != good.Flow[0] || len(got.Isolation) != 1 {
		t.Fatalf("rules in force changed: %+v", got)
	}
	// The old rule, with its count, is still enforced: 1 of 2 used.
	if got := try(eng, "r", 5); got != 1 {
		t.Fatalf("%d passed, want the 1 left under the old rule", got)
	}
}

func TestLoadRulesReplacesEveryFamily(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{
		Flow:      []flow.Rule{{Resource: "f", Threshold: 0}},
		Isolation: []isolation.Rule{{Resource: "i", Threshold: 0}},
	})
	if err := eng.LoadIsolationRules(nil); err != nil {
		t.Fatal(err)
	}
	if try(eng, "i", 1) != 1 || try(eng, "f", 1) != 0 {
		t.Fatal("LoadIsolationRules must clear isolation only")
	}
	mustLoad(t, eng, sluice.Rules{Isolation: []isolation.Rule{{Resource: "i", Threshold: 0}}})
	if try(eng, "i", 1) != 0 || try(eng, "f", 1) != 1 {
		t.Fatal("LoadRules must replace every family")
	}
}

func TestReloadKeepsStateOfUnchangedRules(t *testing.T) {
	eng, _ := newEngine(t)
	rules := sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 10}, {Resource: "s", Threshold: 10}}}
	mustLoad(t, eng, rules)
	try(eng, "r", 6)
	try(eng, "s", 6)
	// Same rules again: counts carry over.
	mustLoad(t, eng, rules)
	if got := try(eng, "r", 10); got != 4 {
		t.Fatalf("unchanged rule: %d passed, want the 4 left", got)
	}
	// s changes: its new threshold takes effect with a fresh count.
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 10}, {Resource: "s", Threshold: 3}}})
	if got := try(eng, "s", 10); got != 3 {
		t.Fatalf("changed rule: %d passed, want 3", got)
	}
	if got := try(eng, "r", 10); got != 0 {
		t.Fatalf("r kept its state across a reload that changed s: %d passed, want 0", got)
	}
}

func TestIsolationIsExact(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Isolation: []isolation.Rule{{Resource: "db", Threshold: 3}, {Resource: "db", Threshold: 5}}})
	var inFlight, peak, passed atomic.Int64
	release := make(chan struct{})
	var wg, decided sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		decided.Add(1)
		go func() {
			defer wg.Done()
			p, err := eng.Entry(context.Background(), "db")
			decided.Done()
			if err != nil {
				var be *sluice.BlockError
				if !errors.As(err, &be) || be.Type != sluice.BlockTypeIsolation || be.Rule.(*isolation.Rule).Threshold != 3 {
					t.Errorf("block: %v", err)
				}
				return
			}
			passed.Add(1)
			n := inFlight.Add(1)
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			<-release
			inFlight.Add(-1)
			p.Exit()
		}()
	}
	decided.Wait() // every entry has passed or been blocked; the passed ones hold on
	if st, _ := eng.Stats("db"); st.Concurrency != 3 || st.BlockQPS != 29 {
		t.Fatalf("while held: %+v", st)
	}
	close(release)
	wg.Wait()
	if passed.Load() != 3 || peak.Load() != 3 {
		t.Fatalf("passed %d, peak in flight %d; want 3 and 3 (the smaller threshold)", passed.Load(), peak.Load())
	}
	if st, _ := eng.Stats("db"); st.Concurrency != 0 {
		t.Fatalf("concurrency after all exits: %d", st.Concurrency)
	}
}

func TestBlockedByLaterCheckGivesEarlierBack(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{
		Flow:      []flow.Rule{{Resource: "r", Threshold: 100}, {Resource: "r", Threshold: 0}},
		Isolation: []isolation.Rule{{Resource: "r", Threshold: 1}},
	})
	try(eng, "r", 10)
	if st, _ := eng.Stats("r"); st.Concurrency != 0 {
		t.Fatalf("isolation slot not released after a flow block: %+v", st)
	}
	// The first flow rule's permits were given back each time: with the
	// blocking rule gone, all 100 are still there.
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 100}}})
	if got := try(eng, "r", 200); got != 100 {
		t.Fatalf("%d passed, want 100", got)
	}
}

func TestExitTwiceAndSetErrorAfterExit(t *testing.T) {
	eng, clk := newEngine(t)
	p, err := eng.Entry(context.Background(), "r", sluice.WithBatchCount(3))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(40 * time.Millisecond)
	p.SetError(errors.New("boom"))
	p.Exit()
	p.Exit()
	p.SetError(errors.New("late"))
	p.Exit()
	st, _ := eng.Stats("r")
	want := sluice.ResourceStats{Resource: "r", PassQPS: 3, CompleteQPS: 3, ErrorQPS: 3,
		AvgRT: 40 * time.Millisecond, MinRT: 40 * time.Millisecond}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	var zero sluice.Permit
	zero.SetError(err)
	zero.Exit() // no panic
	if zero.Resource() != "" {
		t.Fatalf("the zero Permit's resource is %q", zero.Resource())
	}
}

func TestDoRecordsErrorsAndPanics(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Isolation: []isolation.Rule{{Resource: "r", Threshold: 1}}})
	boom := errors.New("boom")
	if err := eng.Do(context.Background(), "r", func(context.Context) error {
		clk.Advance(10 * time.Millisecond)
		return boom
	}); err != boom {
		t.Fatalf("Do returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Fatalf("recovered %v, want the original panic", r)
			}
		}()
		_ = eng.Do(context.Background(), "r", func(context.Context) error { panic("kaboom") })
	}()
	if err := eng.Do(context.Background(), "r", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("slot not released after the panic: %v", err)
	}
	st, _ := eng.Stats("r")
	if st.ErrorQPS != 2 || st.CompleteQPS != 3 || st.Concurrency != 0 || st.MinRT != 0 || st.AvgRT != 10*time.Millisecond/3 {
		t.Fatalf("stats %+v", st)
	}
	// Blocked: fn does not run.
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 0}}})
	ran := false
	if err := eng.Do(context.Background(), "r", func(context.Context) error { ran = true; return nil }); !errors.Is(err, sluice.ErrBlocked) || ran {
		t.Fatalf("blocked Do: err %v, fn ran %v", err, ran)
	}
}

func TestStatsSlideWithTheWindow(t *testing.T) {
	eng, clk := newEngine(t)
	try(eng, "r", 4)
	clk.Advance(500 * time.Millisecond)
	try(eng, "r", 2)
	if st, _ := eng.Stats("r"); st.PassQPS != 6 {
		t.Fatalf("PassQPS %v, want 6", st.PassQPS)
	}
	clk.Advance(600 * time.Millisecond)
	if st, _ := eng.Stats("r"); st.PassQPS != 2 {
		t.Fatalf("PassQPS %v after the first 4 left the window, want 2", st.PassQPS)
	}
	if _, ok := eng.Stats("never"); ok {
		t.Fatal("Stats of an unknown resource reported ok")
	}
	try(eng, "a", 1)
	if got := eng.Resources(); strings.Join(got, ",") != "a,r" {
		t.Fatalf("Resources() = %v", got)
	}
}

func TestStatWindowOption(t *testing.T) {
	eng, clk := newEngine(t, sluice.WithStatWindow(2*time.Second, 4))
	try(eng, "r", 8)
	clk.Advance(1500 * time.Millisecond)
	if st, _ := eng.Stats("r"); st.PassQPS != 4 { // 8 over a 2 s window
		t.Fatalf("PassQPS %v, want 4", st.PassQPS)
	}
	var logs bytes.Buffer
	sluice.New(sluice.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), sluice.WithStatWindow(time.Second, 7))
	if !strings.Contains(logs.String(), "invalid statistics window") {
		t.Fatalf("an invalid window was not logged: %q", logs.String())
	}
}

func TestResourceBound(t *testing.T) {
	var logs bytes.Buffer
	clk := clock.NewManual(t0)
	eng := sluice.New(sluice.WithClock(clk), sluice.WithMaxResources(2),
		sluice.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{
		{Resource: "r.*", Regex: true, Threshold: 0},
		{Resource: "GET /orders", Threshold: 0},
	}})
	try(eng, "a", 1)
	try(eng, "b", 1)
	for i := 0; i < 3; i++ {
		if got := try(eng, "r3", 1); got != 1 {
			t.Fatal("a resource past the bound, named by no rule, must pass unchecked")
		}
	}
	if _, ok := eng.Stats("r3"); ok {
		t.Fatal("a resource past the bound was tracked")
	}
	// A name a rule names exactly is tracked and checked whatever the bound.
	if got := try(eng, "GET /orders", 5); got != 0 {
		t.Fatalf("%d of 5 passed a threshold of 0 on a rule-named resource past the bound", got)
	}
	if n := strings.Count(logs.String(), "resource bound reached"); n != 1 {
		t.Fatalf("bound logged %d times, want once:\n%s", n, logs.String())
	}
}

func TestCustomChecker(t *testing.T) {
	errNoTenant := errors.New("no tenant")
	var seen sluice.EntryInfo
	eng, _ := newEngine(t, sluice.WithChecker(sluice.CheckerFunc(func(_ context.Context, e sluice.EntryInfo) error {
		seen = e
		if len(e.Args) == 0 {
			return errNoTenant
		}
		return nil
	})))
	_, err := eng.Entry(context.Background(), "r", sluice.WithTrafficType(sluice.Inbound), sluice.WithBatchCount(2))
	var be *sluice.BlockError
	if !errors.As(err, &be) || be.Type != sluice.BlockTypeCustom || !errors.Is(err, errNoTenant) {
		t.Fatalf("err = %v", err)
	}
	if seen.Resource != "r" || seen.TrafficType != sluice.Inbound || seen.BatchCount != 2 {
		t.Fatalf("checker saw %+v", seen)
	}
	p, err := eng.Entry(context.Background(), "r", sluice.WithArgs("acme"))
	if err != nil || seen.Args[0] != "acme" {
		t.Fatalf("with args: %v, saw %+v", err, seen)
	}
	p.Exit()
	if st, _ := eng.Stats("r"); st.BlockQPS != 2 || st.PassQPS != 1 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPanickingCheckerPassesButRulesStand(t *testing.T) {
	var logs bytes.Buffer
	eng := sluice.New(sluice.WithClock(clock.NewManual(t0)),
		sluice.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		sluice.WithChecker(sluice.CheckerFunc(func(context.Context, sluice.EntryInfo) error { panic("bug") })))
	mustLoad(t, eng, sluice.Rules{
		Flow:      []flow.Rule{{Resource: "r", Threshold: 1}},
		Isolation: []isolation.Rule{{Resource: "r", Threshold: 1}},
	})
	if got := try(eng, "r", 100); got != 1 {
		t.Fatalf("%d of 100 passed a threshold of 1: the checker's panic switched the rules off", got)
	}
	st, _ := eng.Stats("r")
	if st.PassQPS != 1 || st.BlockQPS != 99 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
	if n := strings.Count(logs.String(), "custom checker panicked"); n != 1 {
		t.Fatalf("panic logged %d times, want once:\n%s", n, logs.String())
	}
}

func TestTypedNilBlockErrorFromCheckerPasses(t *testing.T) {
	eng, _ := newEngine(t, sluice.WithChecker(sluice.CheckerFunc(func(context.Context, sluice.EntryInfo) error {
		var be *sluice.BlockError
		return be
	})))
	p, err := eng.Entry(context.Background(), "r")
	if err != nil {
		t.Fatalf("a typed-nil *BlockError blocked: %v", err)
	}
	p.Exit()
}

func TestHugeBatchCannotWrapCounters(t *testing.T) {
	eng, _ := newEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 10}}})
	try(eng, "r", 1)
	if got := try(eng, "r", 1, sluice.WithBatchCount(math.MaxInt64)); got != 0 {
		t.Fatal("a batch of MaxInt64 passed a threshold of 10")
	}
	if got := try(eng, "r", 1000); got != 9 {
		t.Fatalf("after the huge batch %d passed, want the 9 left", got)
	}
}

func TestPatternCannotEscapeItsAnchors(t *testing.T) {
	eng, _ := newEngine(t)
	err := eng.LoadFlowRules([]flow.Rule{{Resource: `admin)|(.*`, Regex: true, Threshold: 0}})
	if !errors.Is(err, sluice.ErrInvalidRule) {
		t.Fatalf("an unbalanced pattern loaded: %v", err)
	}
	if got := try(eng, "GET /health", 1); got != 1 {
		t.Fatal("GET /health blocked")
	}
}

func TestBrokenMemoryReaderGivesNoReading(t *testing.T) {
	for name, opt := range map[string]sluice.Option{
		"nil":      sluice.WithMemoryUsage(nil),
		"panics":   sluice.WithMemoryUsage(func() (uint64, error) { panic("no /proc") }),
		"errors":   sluice.WithMemoryUsage(func() (uint64, error) { return 0, errors.New("no /proc") }),
		"reads 0":  sluice.WithMemoryUsage(func() (uint64, error) { return 0, nil }),
		"reads 5G": sluice.WithMemoryUsage(func() (uint64, error) { return 5 << 30, nil }),
	} {
		eng, _ := newEngine(t, opt)
		mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "m", Strategy: flow.MemoryAdaptive,
			LowMemUsageThreshold: 3, HighMemUsageThreshold: 1, MemLowWaterMark: 1 << 30, MemHighWaterMark: 2 << 30}}})
		want := 3 // no reading, or below the low water mark (nil: the default reader, far below 1 GiB here)
		if name == "reads 5G" {
			want = 1
		}
		if got := try(eng, "m", 10); got != want {
			t.Errorf("%s: %d passed, want %d", name, got, want)
		}
	}
}

func TestMemoryAdaptiveUsesReader(t *testing.T) {
	var used atomic.Uint64
	used.Store(3 << 30)
	eng, clk := newEngine(t, sluice.WithMemoryUsage(func() (uint64, error) { return used.Load(), nil }))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "m", Strategy: flow.MemoryAdaptive,
		LowMemUsageThreshold: 100, HighMemUsageThreshold: 10, MemLowWaterMark: 1 << 30, MemHighWaterMark: 2 << 30}}})
	if got := try(eng, "m", 200); got != 10 {
		t.Fatalf("high memory: %d passed, want 10", got)
	}
	used.Store(1 << 29)
	clk.Advance(500 * time.Millisecond) // the reading is cached for 1 s
	if got := try(eng, "m", 200); got != 0 {
		t.Fatalf("reading refreshed early: %d passed", got)
	}
	clk.Advance(time.Second)
	if got := try(eng, "m", 200); got != 100 {
		t.Fatalf("low memory: %d passed, want 100", got)
	}
}

func TestDefaultEngineNeedsNoSetup(t *testing.T) {
	// The default engine outlives the test (and -count runs): use a fresh name.
	name := fmt.Sprintf("default-test-%d", time.Now().UnixNano())
	if err := sluice.LoadFlowRules([]flow.Rule{{Resource: name, Threshold: 1}}); err != nil {
		t.Fatal(err)
	}
	defer sluice.LoadRules(sluice.Rules{})
	p, err := sluice.Entry(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	p.Exit()
	if err := sluice.Do(context.Background(), name, func(context.Context) error { return nil }); !errors.Is(err, sluice.ErrBlocked) {
		t.Fatalf("second entry in the same second: %v", err)
	}
	if st, ok := sluice.Stats(name); !ok || st.PassQPS != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestIsolationCountsEntriesFromBeforeItsRule(t *testing.T) {
	eng, _ := newEngine(t)
	var held []sluice.Permit
	for i := 0; i < 3; i++ {
		p, err := eng.Entry(context.Background(), "db")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	mustLoad(t, eng, sluice.Rules{Isolation: []isolation.Rule{{Resource: "db", Threshold: 3}}})
	if _, err := eng.Entry(context.Background(), "db"); !errors.Is(err, sluice.ErrBlocked) {
		t.Fatal("3 entries from before the rule are in flight: a 4th must be blocked")
	}
	held[0].Exit()
	p, err := eng.Entry(context.Background(), "db")
	if err != nil {
		t.Fatalf("after one exit: %v", err)
	}
	p.Exit()
	for _, p := range held[1:] {
		p.Exit()
	}
	if st, _ := eng.Stats("db"); st.Concurrency != 0 {
		t.Fatalf("concurrency %d after all exits", st.Concurrency)
	}
}

// faultyClock panics on Nanos while fail is set: a fault inside the
// engine's entry path.
type faultyClock struct {
	*clock.Manual
	fail atomic.Bool
}

func (c *faultyClock) Nanos() int64 {
	if c.fail.Load() {
		panic("clock broke")
	}
	return c.Manual.Nanos()
}

func TestFaultInsideSluiceLetsTheEntryPass(t *testing.T) {
	var logs bytes.Buffer
	clk := &faultyClock{Manual: clock.NewManual(t0)}
	eng := sluice.New(sluice.WithClock(clk), sluice.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	mustLoad(t, eng, sluice.Rules{
		Flow:      []flow.Rule{{Resource: "r", Threshold: 1}},
		Isolation: []isolation.Rule{{Resource: "r", Threshold: 1}},
	})
	clk.fail.Store(true)
	p, err := eng.Entry(context.Background(), "r")
	if err != nil {
		t.Fatalf("a fault inside Sluice blocked the entry: %v", err)
	}
	p.Exit() // an unchecked permit: nothing to record, no clock read
	if !strings.Contains(logs.String(), "fault inside Sluice") {
		t.Fatalf("fault not logged: %q", logs.String())
	}
	clk.fail.Store(false)
	if got := try(eng, "r", 5); got != 1 {
		t.Fatalf("after the fault %d of 5 passed a threshold of 1: the rules must be intact", got)
	}
	if st, _ := eng.Stats("r"); st.Concurrency != 0 {
		t.Fatalf("the fault leaked a slot: %+v", st)
	}
}
