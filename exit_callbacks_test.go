package sluice_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

var errClassifierBug = errors.New("an error the classifier chokes on")

// exitOneRules holds one of everything an entry can hold while in flight:
// an isolation slot, a hotspot per-value slot and an inbound system slot,
// each with room for one, and a breaker that one failure trips.
func exitOneRules() sluice.Rules {
	return sluice.Rules{
		Isolation: []isolation.Rule{{Resource: "r", Threshold: 1}},
		Hotspot: []hotspot.Rule{{Resource: "r", MetricType: hotspot.Concurrency, ParamIndex: 0,
			Threshold: 1}},
		System: []system.Rule{{MetricType: system.Concurrency, TriggerCount: 1}},
		CircuitBreaker: []circuitbreaker.Rule{{Resource: "r", Strategy: circuitbreaker.ErrorCount,
			Threshold: 1, RetryTimeout: time.Second}},
	}
}

var exitOneOpts = []sluice.EntryOption{sluice.WithTrafficType(sluice.Inbound), sluice.WithArgs("v")}

// exitQuietly exits p and reports whether Exit panicked.
func exitQuietly(p sluice.Permit) (panicked any) {
	defer func() { panicked = recover() }()
	p.Exit()
	return nil
}

// A panicking error classifier must not leak what the entry holds: before,
// Exit marked the permit exited, then called the classifier, and a panic
// left the slots taken for good (under rules of 1, the resource blocked
// for the life of the process).
func TestPanickingClassifierReleasesEverything(t *testing.T) {
	var logs bytes.Buffer
	eng, clk := newEngine(t, sluice.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		sluice.WithErrorClassifier(func(err error) bool {
			if errors.Is(err, errClassifierBug) {
				panic("classifier bug")
			}
			return true
		}))
	mustLoad(t, eng, exitOneRules())
	ctx := context.Background()

	p, err := eng.Entry(ctx, "r", exitOneOpts...)
	if err != nil {
		t.Fatal(err)
	}
	p.SetError(errClassifierBug)
	if v := exitQuietly(p); v != nil {
		t.Errorf("Exit panicked with the classifier's panic %v", v)
	}
	assertReleased(t, eng, "after a panicking classifier in Exit")
	if !strings.Contains(logs.String(), "error classifier panicked") {
		t.Errorf("the classifier's panic was not logged: %q", logs.String())
	}
	st, _ := eng.Stats("r")
	if st.ErrorQPS != 0 || st.CircuitBreakers[0].State != circuitbreaker.Closed {
		t.Errorf("an error the classifier could not judge counted as a failure: %+v", st)
	}

	// Do: fn's error is returned, not the classifier's panic.
	var doPanic any
	func() {
		defer func() { doPanic = recover() }()
		if err := eng.Do(ctx, "r", func(context.Context) error { return errClassifierBug }, exitOneOpts...); !errors.Is(err, errClassifierBug) {
			t.Errorf("Do returned %v, want fn's error", err)
		}
	}()
	if doPanic != nil {
		t.Errorf("Do panicked with the classifier's panic %v", doPanic)
	}
	assertReleased(t, eng, "after a panicking classifier in Do")

	// A half-open probe's slot is given back too, and the probe counts as
	// a success.
	if err := eng.Do(ctx, "r", fail, exitOneOpts...); !errors.Is(err, errDown) {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	p, err = eng.Entry(ctx, "r", exitOneOpts...)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	p.SetError(errClassifierBug)
	if v := exitQuietly(p); v != nil {
		t.Errorf("a probe's Exit panicked with the classifier's panic %v", v)
	}
	if st, _ := eng.Stats("r"); st.CircuitBreakers[0].State != circuitbreaker.Closed {
		t.Errorf("breaker %v after a probe whose error the classifier could not judge, want Closed",
			st.CircuitBreakers[0].State)
	}
	assertReleased(t, eng, "after a probe with a panicking classifier")
}

// A classifier that ends the goroutine (runtime.Goexit, as t.FailNow does)
// must not leak the entry's slots either.
func TestGoexitInClassifierReleasesEverything(t *testing.T) {
	eng, _ := newEngine(t, sluice.WithErrorClassifier(func(err error) bool {
		if errors.Is(err, errClassifierBug) {
			runtime.Goexit()
		}
		return true
	}))
	mustLoad(t, eng, exitOneRules())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p, err := eng.Entry(context.Background(), "r", exitOneOpts...)
		if err != nil {
			t.Error(err)
			return
		}
		p.SetError(errClassifierBug)
		p.Exit()
	}()
	wg.Wait()
	assertReleased(t, eng, "after a classifier that called runtime.Goexit")
}

// A custom checker that ends the goroutine (runtime.Goexit) leaves nothing
// the entry's checks took held: the isolation and system slots, the
// hotspot token and the half-open probe are given back.
func TestGoexitInCheckerReleasesEverything(t *testing.T) {
	var quit atomic.Bool
	eng, clk := newEngine(t, sluice.WithChecker(sluice.CheckerFunc(func(context.Context, sluice.EntryInfo) error {
		if quit.Load() {
			runtime.Goexit()
		}
		return nil
	})))
	mustLoad(t, eng, exitOneRules())
	// Open the breaker, then let it half-open: the next entry is its probe.
	p, err := eng.Entry(context.Background(), "r", exitOneOpts...)
	if err != nil {
		t.Fatal(err)
	}
	p.SetError(errors.New("fails"))
	p.Exit()
	clk.Advance(time.Second)
	quit.Store(true)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = eng.Entry(context.Background(), "r", exitOneOpts...)
		t.Error("Entry returned though the checker called runtime.Goexit")
	}()
	wg.Wait()
	quit.Store(false)
	if st, _ := eng.Stats("r"); st.CircuitBreakers[0].State != circuitbreaker.HalfOpen {
		t.Fatalf("breaker %v, want HalfOpen with its probe slot free", st.CircuitBreakers[0].State)
	}
	assertReleased(t, eng, "after a checker that called runtime.Goexit")
}

// Under GODEBUG=panicnil=1 (the default for a main module declaring go
// 1.20 or older), a classifier's panic(nil) is recovered as nil, like a
// runtime.Goexit, but Exit goes on: the entry is finished once all the same.
func TestPanicNilInClassifierFinishesOnce(t *testing.T) {
	t.Setenv("GODEBUG", "panicnil=1")
	eng, _ := newEngine(t, sluice.WithErrorClassifier(func(err error) bool {
		if errors.Is(err, errClassifierBug) {
			panic(nil)
		}
		return true
	}))
	mustLoad(t, eng, exitOneRules())
	p, err := eng.Entry(context.Background(), "r", exitOneOpts...)
	if err != nil {
		t.Fatal(err)
	}
	p.SetError(errClassifierBug)
	if v := exitQuietly(p); v != nil {
		t.Fatalf("Exit panicked: %v", v)
	}
	if st, _ := eng.Stats("r"); st.Concurrency != 0 || st.CompleteQPS != 1 {
		t.Fatalf("after one entry and one Exit: concurrency %d, completed %v; want 0 and 1", st.Concurrency, st.CompleteQPS)
	}
	assertReleased(t, eng, "after a classifier that called panic(nil) under panicnil=1")
}

// A clock that panics when Exit reads it is the user's too: the entry's
// slots are released all the same.
func TestPanickingClockInExitReleasesEverything(t *testing.T) {
	var logs bytes.Buffer
	clk := &faultyClock{Manual: clock.NewManual(t0)}
	eng := sluice.New(sluice.WithClock(clk), sluice.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	t.Cleanup(func() { eng.Close() })
	mustLoad(t, eng, exitOneRules())
	p, err := eng.Entry(context.Background(), "r", exitOneOpts...)
	if err != nil {
		t.Fatal(err)
	}
	clk.fail.Store(true)
	v := exitQuietly(p)
	clk.fail.Store(false)
	if v != nil {
		t.Errorf("Exit panicked with the clock's panic %v", v)
	}
	if !strings.Contains(logs.String(), "clock panicked in Exit") {
		t.Errorf("the clock's panic was not logged: %q", logs.String())
	}
	assertReleased(t, eng, "after a clock that panicked in Exit")
}

// assertReleased checks that nothing of exitOneRules is held: the
// resource, the value and the inbound slot all admit an entry again.
func assertReleased(t *testing.T, eng *sluice.Engine, when string) {
	t.Helper()
	if st, _ := eng.Stats("r"); st.Concurrency != 0 {
		t.Errorf("%s: concurrency %d, want 0", when, st.Concurrency)
	}
	if got := eng.SystemStats().Concurrency; got != 0 {
		t.Errorf("%s: inbound concurrency %d, want 0", when, got)
	}
	p, err := eng.Entry(context.Background(), "r", exitOneOpts...)
	if err != nil {
		t.Errorf("%s: the next entry is blocked: %v", when, err)
		return
	}
	p.Exit()
}
