package sluice_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
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
