package sluice_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
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
