package sluice_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
)

var errDown = errors.New("dependency down")

func fail(context.Context) error    { return errDown }
func succeed(context.Context) error { return nil }

func TestBreakerThroughEngine(t *testing.T) {
	changes := make(chan circuitbreaker.StateChange, 16)
	eng, clk := newEngine(t, sluice.WithStateListener(func(c circuitbreaker.StateChange) { changes <- c }))
	rule := circuitbreaker.Rule{ID: "inv", Resource: "inventory", Strategy: circuitbreaker.ErrorRatio,
		Threshold: 0.5, MinRequestAmount: 4, RetryTimeout: 2 * time.Second}
	if err := eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, fn := range []func(context.Context) error{succeed, fail, succeed, fail} {
		_ = eng.Do(ctx, "inventory", fn)
	}
	err := eng.Do(ctx, "inventory", succeed)
	var be *sluice.BlockError
	if !errors.As(err, &be) || be.Type != sluice.BlockTypeCircuitBreaker || be.Rule.(*circuitbreaker.Rule).ID != "inv" {
		t.Fatalf("after 2 of 4 failed: %v", err)
	}
	st, _ := eng.Stats("inventory")
	if len(st.CircuitBreakers) != 1 || st.CircuitBreakers[0].State != circuitbreaker.Open || st.ErrorQPS != 2 {
		t.Fatalf("stats %+v", st)
	}
	clk.Advance(2 * time.Second)
	if err := eng.Do(ctx, "inventory", succeed); err != nil {
		t.Fatalf("probe after RetryTimeout: %v", err)
	}
	for _, want := range []string{"Closed>Open", "Open>HalfOpen", "HalfOpen>Closed"} {
		select {
		case c := <-changes:
			if got := c.From.String() + ">" + c.To.String(); got != want || c.Resource != "inventory" || c.Rule.ID != "inv" {
				t.Fatalf("change %s (%+v), want %s", got, c, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s change delivered", want)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	rule := circuitbreaker.Rule{Resource: "r", Strategy: circuitbreaker.ErrorCount, Threshold: 1, RetryTimeout: time.Second}
	eng, _ := newEngine(t)
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{rule})
	_ = eng.Do(context.Background(), "r", func(context.Context) error { return context.Canceled })
	if st, _ := eng.Stats("r"); st.ErrorQPS != 0 || st.CircuitBreakers[0].State != circuitbreaker.Closed {
		t.Fatalf("context.Canceled counted as a failure by default: %+v", st)
	}
	errNotFound := errors.New("not found")
	eng2, _ := newEngine(t, sluice.WithErrorClassifier(func(err error) bool { return !errors.Is(err, errNotFound) }))
	_ = eng2.LoadCircuitBreakerRules([]circuitbreaker.Rule{rule})
	_ = eng2.Do(context.Background(), "r", func(context.Context) error { return errNotFound })
	if st, _ := eng2.Stats("r"); st.CircuitBreakers[0].State != circuitbreaker.Closed {
		t.Fatal("a classified-away error tripped the breaker")
	}
	func() {
		defer func() { _ = recover() }()
		_ = eng2.Do(context.Background(), "r", func(context.Context) error { panic("boom") })
	}()
	if st, _ := eng2.Stats("r"); st.CircuitBreakers[0].State != circuitbreaker.Open {
		t.Fatal("a panic did not count as a failure")
	}
}

func TestProbeBlockedByLaterCheckIsGivenBack(t *testing.T) {
	blockNext := true
	eng, clk := newEngine(t, sluice.WithChecker(sluice.CheckerFunc(func(context.Context, sluice.EntryInfo) error {
		if blockNext {
			return errors.New("custom says no")
		}
		return nil
	})))
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{{Resource: "r", Strategy: circuitbreaker.ErrorCount,
		Threshold: 1, RetryTimeout: time.Second}})
	blockNext = false
	_ = eng.Do(context.Background(), "r", fail) // trips
	clk.Advance(time.Second)
	blockNext = true
	for i := 0; i < 3; i++ { // each takes the probe slot, then the custom check blocks it
		var be *sluice.BlockError
		if err := eng.Do(context.Background(), "r", succeed); !errors.As(err, &be) || be.Type != sluice.BlockTypeCustom {
			t.Fatalf("attempt %d: %v, want a custom block (the probe slot was not given back)", i, err)
		}
	}
	blockNext = false
	if err := eng.Do(context.Background(), "r", succeed); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if st, _ := eng.Stats("r"); st.CircuitBreakers[0].State != circuitbreaker.Closed {
		t.Fatalf("state %v after a good probe", st.CircuitBreakers[0].State)
	}
}

func TestBreakerReload(t *testing.T) {
	eng, _ := newEngine(t)
	rule := circuitbreaker.Rule{Resource: "r", Strategy: circuitbreaker.ErrorCount, Threshold: 2, RetryTimeout: time.Minute}
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{rule})
	_ = eng.Do(context.Background(), "r", fail)
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{rule}) // unchanged: keeps its window
	_ = eng.Do(context.Background(), "r", fail)
	if st, _ := eng.Stats("r"); st.CircuitBreakers[0].State != circuitbreaker.Open {
		t.Fatal("an unchanged rule lost its window on reload")
	}
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{rule}) // still open
	if err := eng.Do(context.Background(), "r", succeed); !errors.Is(err, sluice.ErrBlocked) {
		t.Fatal("an unchanged rule lost its Open state on reload")
	}
	rule.RetryTimeout = 2 * time.Minute // changed: a fresh breaker
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{rule})
	if err := eng.Do(context.Background(), "r", succeed); err != nil {
		t.Fatalf("a changed rule kept the old state: %v", err)
	}
}

func TestSlowOrPanickingListenerDoesNotHurtCallers(t *testing.T) {
	release := make(chan struct{})
	var logs bytes.Buffer
	clk := clock.NewManual(t0)
	eng := sluice.New(sluice.WithClock(clk), sluice.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		sluice.WithStateListener(func(circuitbreaker.StateChange) { <-release }),
		sluice.WithStateListener(func(circuitbreaker.StateChange) { panic("listener bug") }))
	_ = eng.LoadCircuitBreakerRules([]circuitbreaker.Rule{{Resource: "r", Strategy: circuitbreaker.ErrorCount,
		Threshold: 1, RetryTimeout: time.Millisecond}})
	// Thousands of transitions while the first listener is stuck: callers
	// must not wait for it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			_ = eng.Do(context.Background(), "r", fail) // Closed/HalfOpen -> Open
			clk.Advance(time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("callers blocked behind a stuck listener")
	}
	close(release)
	eng.Close() // delivers what was queued, then stops the goroutine (goleak checks)
	for _, want := range []string{"state listeners are too slow", "state listener panicked"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// A half-open probe lost past RetryTimeout gives its slot to the next
// caller; when it exits late, it must not free that caller's slot (nor
// close the breaker), or a third probe runs beside the second.
func TestLateLostProbeKeepsItsSuccessorsSlot(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{Resource: "r",
		Strategy: circuitbreaker.ErrorCount, Threshold: 1, RetryTimeout: time.Second}}})
	ctx := context.Background()
	_ = eng.Do(ctx, "r", fail) // trips
	clk.Advance(time.Second)
	a, err := eng.Entry(ctx, "r") // probe A, whose caller stalls
	if err != nil {
		t.Fatalf("probe A: %v", err)
	}
	clk.Advance(time.Second) // A is lost
	b, err := eng.Entry(ctx, "r")
	if err != nil {
		t.Fatalf("probe B, in A's slot: %v", err)
	}
	a.Exit() // late
	if err := eng.Do(ctx, "r", succeed); !errors.Is(err, sluice.ErrBlocked) {
		t.Fatalf("a third call while probe B runs: %v, want blocked (A's late exit freed B's slot)", err)
	}
	if st, _ := eng.Stats("r"); st.CircuitBreakers[0].State != circuitbreaker.HalfOpen {
		t.Fatalf("state %v after the lost probe's late exit, want HalfOpen", st.CircuitBreakers[0].State)
	}
	b.Exit()
	if st, _ := eng.Stats("r"); st.CircuitBreakers[0].State != circuitbreaker.Closed {
		t.Fatalf("state %v after probe B succeeded, want Closed", st.CircuitBreakers[0].State)
	}
}

// A RetryTimeout of the longest duration keeps the breaker open: the time
// it opens until saturates instead of wrapping into the past.
func TestLongestRetryTimeoutKeepsTheBreakerOpen(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{Resource: "r",
		Strategy: circuitbreaker.ErrorCount, Threshold: 1, RetryTimeout: math.MaxInt64}}})
	ctx := context.Background()
	_ = eng.Do(ctx, "r", fail) // trips
	for _, d := range []time.Duration{0, time.Nanosecond, 100 * 365 * 24 * time.Hour} {
		clk.Advance(d)
		if err := eng.Do(ctx, "r", succeed); !errors.Is(err, sluice.ErrBlocked) {
			t.Fatalf("%v after tripping: %v, want blocked by the open breaker", d, err)
		}
	}
}
