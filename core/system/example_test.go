package system_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/system"
)

// A BBR rule on CPU usage: while the CPU is over 80 %, an inbound request
// is admitted only if the requests already in flight are at most what the
// service has shown it completes (completions per second × min RT).
// Outbound calls are never checked against system rules.
func Example_bbr() {
	clk := clock.NewManual(time.Unix(0, 0))
	var cpu atomic.Value // a reading from your telemetry; by default the engine's cgroup-aware readers
	cpu.Store(0.5)
	eng := sluice.New(sluice.WithClock(clk), sluice.WithSystemSampleInterval(time.Second),
		sluice.WithSystemReaders(system.Readers{CPU: system.ReaderFunc(func() (float64, error) {
			return cpu.Load().(float64), nil
		})}))
	defer eng.Close()
	_ = eng.LoadSystemRules([]system.Rule{{MetricType: system.CPUUsage, TriggerCount: 0.8, Strategy: system.BBR}})

	ctx := context.Background()
	inbound := sluice.WithTrafficType(sluice.Inbound)
	// 0.9 s of history under the trigger: 18 requests of 100 ms, two at a time.
	for i := 0; i < 9; i++ {
		a, _ := eng.Entry(ctx, "GET /orders", inbound)
		b, _ := eng.Entry(ctx, "GET /orders", inbound)
		clk.Advance(100 * time.Millisecond)
		a.Exit()
		b.Exit()
	}
	cpu.Store(0.95)
	clk.Advance(time.Second) // the next sample reads 95 %
	clk.BlockUntilTimers(1)  // (the sampler has stored it and set its next timer)
	fmt.Printf("CPU %.2f; limit %.1f in flight (16 done in the best second × 100 ms)\n", eng.SystemStats().CPUUsage, eng.SystemStats().BBRLimit)
	var held []sluice.Permit
	for i := 1; i <= 3; i++ {
		p, err := eng.Entry(ctx, "GET /orders", inbound)
		fmt.Printf("request %d: admitted %v\n", i, err == nil)
		held = append(held, p)
	}
	p, err := eng.Entry(ctx, "call inventory") // Outbound: no system rule applies
	fmt.Printf("outbound call: admitted %v\n", err == nil)
	p.Exit()
	for _, p := range held {
		p.Exit()
	}
	// Output:
	// CPU 0.95; limit 1.6 in flight (16 done in the best second × 100 ms)
	// request 1: admitted true
	// request 2: admitted true
	// request 3: admitted false
	// outbound call: admitted true
}

// A NoAdaptive rule blocks every inbound request while the metric is above
// its trigger. CPUUsage and MemoryUsage are ratios: 0.9 means 90 %; a
// TriggerCount above 1 for them is an invalid rule.
func Example_noAdaptive() {
	eng := sluice.New()
	defer eng.Close()
	err := eng.LoadSystemRules([]system.Rule{{MetricType: system.MemoryUsage, TriggerCount: 90}})
	fmt.Println(err)
	err = eng.LoadSystemRules([]system.Rule{{MetricType: system.Concurrency, TriggerCount: 1000}})
	fmt.Println(err)
	// Output:
	// sluice: invalid system rule #0 (id ""): TriggerCount: MemoryUsage is a ratio in [0, 1] (0.8 means 80%), got 90
	// <nil>
}
