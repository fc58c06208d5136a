package sluice_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

// TestEntryExitDoesNotAllocate checks the hot-path promise: Entry and Exit
// on a resource with rules, passed or blocked, allocate nothing in steady
// state.
func TestEntryExitDoesNotAllocate(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_700_000_000, 0))
	eng := sluice.New(sluice.WithClock(clk))
	err := eng.LoadRules(sluice.Rules{
		Flow:      []flow.Rule{{Resource: "r", Threshold: 1e12}, {Resource: "blocked", Threshold: 0}},
		Isolation: []isolation.Rule{{Resource: "r", Threshold: 1000}},
		CircuitBreaker: []circuitbreaker.Rule{{Resource: "r", Strategy: circuitbreaker.ErrorRatio, Threshold: 0.5,
			MinRequestAmount: 1 << 40, RetryTimeout: time.Second}},
		// Inbound entries reserve a slot and a pass, and read live figures.
		System: []system.Rule{{MetricType: system.Concurrency, TriggerCount: 1 << 40},
			{MetricType: system.InboundQPS, TriggerCount: 1e12}, {MetricType: system.AvgRT, TriggerCount: 1e9}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every inbound entry blocked by a system rule, which gives back the
	// pass it reserved under the first.
	shut := sluice.New(sluice.WithClock(clk))
	if err := shut.LoadSystemRules([]system.Rule{{MetricType: system.InboundQPS, TriggerCount: 1e12},
		{MetricType: system.Concurrency, TriggerCount: 0}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := map[string]func(){
		"pass": func() {
			p, err := eng.Entry(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			p.Exit()
		},
		"pass with options": func() {
			p, err := eng.Entry(ctx, "r", sluice.WithTrafficType(sluice.Inbound), sluice.WithBatchCount(2))
			if err != nil {
				t.Fatal(err)
			}
			p.SetError(context.Canceled)
			p.Exit()
		},
		"inbound blocked by a system rule": func() {
			if _, err := shut.Entry(ctx, "tracked", sluice.WithTrafficType(sluice.Inbound)); err == nil {
				t.Fatal("not blocked")
			}
		},
		"blocked": func() {
			if _, err := eng.Entry(ctx, "blocked"); err == nil {
				t.Fatal("not blocked")
			}
		},
		"no rules": func() {
			p, _ := eng.Entry(ctx, "free")
			p.Exit()
		},
		"package level": func() {
			p, err := sluice.Entry(ctx, "default")
			if err != nil {
				t.Fatal(err)
			}
			p.Exit()
		},
		"Do": func() {
			_ = eng.Do(ctx, "r", func(context.Context) error { return nil })
		},
	}
	for name, f := range callShapes(t, eng) {
		cases["call shape: "+name] = f
	}
	for name, f := range cases {
		f() // first use creates the resource and binds its rules
		if a := testing.AllocsPerRun(1000, func() {
			clk.Advance(time.Millisecond)
			f()
		}); a != 0 {
			t.Errorf("%s: %v allocs per Entry+Exit, want 0", name, a)
		}
	}
}

// enterer is what the interface call shape calls Entry through.
type enterer interface {
	Entry(ctx context.Context, resource string, opts ...sluice.EntryOption) (sluice.Permit, error)
}

// enterFunc is the type of Engine.Entry as a method value.
type enterFunc = func(ctx context.Context, resource string, opts ...sluice.EntryOption) (sluice.Permit, error)

// The call shapes in which Go's inliner cannot see Entry from the caller:
// each helper is kept out of line, so that the closures they return call
// Entry from a frame the compiler knows nothing about.

//go:noinline
func closureOn(eng *sluice.Engine, res string) func() error {
	return func() error {
		p, err := eng.Entry(context.Background(), res)
		if err != nil {
			return err
		}
		defer p.Exit()
		return nil
	}
}

//go:noinline
func hotOn(eng *sluice.Engine) func() error {
	return func() error {
		p, err := eng.Entry(context.Background(), "hot", sluice.WithArgs("tenant-2", 7), sluice.WithAttachment("tenant", "t"))
		if err != nil {
			return err
		}
		defer p.Exit()
		return nil
	}
}

//go:noinline
func throughFunc(enter enterFunc, res string, opts ...sluice.EntryOption) error {
	p, err := enter(context.Background(), res, opts...)
	if err != nil {
		return err
	}
	p.SetError(errBoom)
	p.Exit()
	return nil
}

//go:noinline
func throughInterface(g enterer, res string, opts ...sluice.EntryOption) error {
	p, err := g.Entry(context.Background(), res, opts...)
	if err != nil {
		return err
	}
	defer p.Exit()
	return nil
}

// permitHolder keeps a permit on the heap, as middleware keeps it in a
// response wrapper.
type permitHolder struct{ p sluice.Permit }

var errBoom = errors.New("boom")

// callShapes returns Entry+Exit calls made the ways user code and
// middleware make them, for the allocation test. eng must have the rules
// TestEntryExitDoesNotAllocate loads; callShapes adds hotspot rules.
func callShapes(t *testing.T, eng *sluice.Engine) map[string]func() {
	t.Helper()
	rules := eng.Rules()
	rules.Hotspot = []hotspot.Rule{
		{Resource: "hot", ParamIndex: 0, Threshold: 1e12, Duration: time.Second},
		{Resource: "hot", ParamKey: "tenant", Threshold: 1e12, Duration: time.Second},
		{Resource: "hot", MetricType: hotspot.Concurrency, ParamIndex: 1, Threshold: 1 << 20},
	}
	if err := eng.LoadRules(rules); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	closure := closureOn(eng, "r")
	methodValue := eng.Entry
	var boxedTenant, boxedID any = "tenant-1", 42_000 // boxed once, here
	holder := new(permitHolder)
	hotOpts := []sluice.EntryOption{sluice.WithArgs(boxedTenant, boxedID), sluice.WithAttachment("tenant", boxedTenant)}
	hotClosure := hotOn(eng)

	// A goroutine that exits the permits it is handed.
	permits, exited := make(chan sluice.Permit), make(chan struct{})
	go func() {
		for p := range permits {
			p.Exit()
			exited <- struct{}{}
		}
	}()
	t.Cleanup(func() { close(permits) })

	return map[string]func(){
		"closure":       func() { must(closure()) },
		"method value":  func() { must(throughFunc(methodValue, "r")) },
		"package-level": func() { must(throughFunc(sluice.Entry, "default")) },
		"interface":     func() { must(throughInterface(eng, "r")) },
		"Do through a closure": func() {
			if err := eng.Do(ctx, "r", func(context.Context) error { return errBoom }); err != errBoom {
				t.Fatal(err)
			}
		},
		"WithArgs of boxed values under hotspot rules": func() {
			p, err := eng.Entry(ctx, "hot", sluice.WithArgs(boxedTenant, boxedID))
			must(err)
			p.Exit()
		},
		"WithArgs of constants and an attachment, from a closure": func() {
			must(hotClosure())
		},
		// Through a func value or an interface, Go cannot see where the
		// options go, so a variadic slice built at the call site is put on
		// the heap there (Go's escape analysis, whatever the callee); a
		// slice the caller keeps costs nothing.
		"options slice through a method value": func() {
			must(throughFunc(methodValue, "hot", hotOpts...))
		},
		"options slice through an interface": func() {
			must(throughInterface(eng, "hot", hotOpts...))
		},
		"permit kept in a heap struct": func() {
			p, err := eng.Entry(ctx, "r", sluice.WithTrafficType(sluice.Inbound))
			must(err)
			holder.p = p
			holder.p.SetError(errBoom)
			holder.p.Exit()
		},
		"permit exited on another goroutine": func() {
			p, err := methodValue(ctx, "r")
			must(err)
			permits <- p
			<-exited
		},
	}
}
