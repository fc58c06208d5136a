package sluice_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/isolation"
)

func ExampleEngine_Entry() {
	eng := sluice.New()
	defer eng.Close()
	if err := eng.LoadFlowRules([]flow.Rule{{Resource: "GET /orders", Threshold: 2}}); err != nil {
		panic(err)
	}
	for i := 1; i <= 3; i++ {
		p, err := eng.Entry(context.Background(), "GET /orders", sluice.WithTrafficType(sluice.Inbound))
		if err != nil {
			var be *sluice.BlockError
			errors.As(err, &be)
			fmt.Printf("request %d: blocked by %s\n", i, be.Type)
			continue
		}
		fmt.Printf("request %d: served\n", i)
		p.Exit()
	}
	// Output:
	// request 1: served
	// request 2: served
	// request 3: blocked by Flow
}

func ExampleEngine_Do() {
	eng := sluice.New()
	defer eng.Close()
	err := eng.Do(context.Background(), "call inventory", func(ctx context.Context) error {
		return errors.New("inventory down") // recorded as an error of the resource
	})
	st, _ := eng.Stats("call inventory")
	fmt.Println(err, "| errors/s:", st.ErrorQPS)
	// Output: inventory down | errors/s: 1
}

// A Reject rule admits Threshold permits per second and blocks the rest at
// once.
func Example_flowReject() {
	clk := clock.NewManual(time.Unix(0, 0))
	eng := sluice.New(sluice.WithClock(clk))
	_ = eng.LoadFlowRules([]flow.Rule{{Resource: "search", Threshold: 3}})
	for sec := 0; sec < 2; sec++ {
		passed := 0
		for i := 0; i < 5; i++ {
			if p, err := eng.Entry(context.Background(), "search"); err == nil {
				passed++
				p.Exit()
			}
		}
		fmt.Printf("second %d: %d of 5 passed\n", sec, passed)
		clk.Advance(time.Second)
	}
	// Output:
	// second 0: 3 of 5 passed
	// second 1: 3 of 5 passed
}

// A Throttling rule spaces entries evenly: here one every 100 ms. Entries
// wait for their turn, up to MaxQueueingTime, on the engine's clock.
func Example_flowThrottling() {
	clk := clock.NewManual(time.Unix(0, 0))
	eng := sluice.New(sluice.WithClock(clk))
	_ = eng.LoadFlowRules([]flow.Rule{{Resource: "send sms", Threshold: 10,
		ControlBehavior: flow.Throttling, MaxQueueingTime: 150 * time.Millisecond}})

	p, _ := eng.Entry(context.Background(), "send sms")
	p.Exit()
	fmt.Println("first: at once")

	done := make(chan time.Duration)
	go func() {
		p, _ := eng.Entry(context.Background(), "send sms")
		p.Exit()
		done <- clk.Now().Sub(time.Unix(0, 0))
	}()
	clk.BlockUntilTimers(1) // the second entry is queued
	_, err := eng.Entry(context.Background(), "send sms")
	fmt.Println("third:", errors.Is(err, sluice.ErrBlocked), "(would wait 200ms > 150ms)")
	clk.Advance(100 * time.Millisecond)
	fmt.Println("second: after", <-done)
	// Output:
	// first: at once
	// third: true (would wait 200ms > 150ms)
	// second: after 100ms
}

// A WarmUp rule starts a cold resource at Threshold / WarmUpColdFactor and
// ramps up to Threshold over about WarmUpPeriod of sustained traffic.
func Example_flowWarmUp() {
	clk := clock.NewManual(time.Unix(0, 0))
	eng := sluice.New(sluice.WithClock(clk))
	_ = eng.LoadFlowRules([]flow.Rule{{Resource: "cache fill", Threshold: 60,
		Strategy: flow.WarmUp, WarmUpPeriod: 5 * time.Second}})
	for sec := 0; sec < 8; sec++ {
		passed := 0
		for i := 0; i < 100; i++ {
			if p, err := eng.Entry(context.Background(), "cache fill"); err == nil {
				passed++
				p.Exit()
			}
		}
		fmt.Print(passed, " ")
		clk.Advance(time.Second)
	}
	// Output: 20 21 24 28 34 45 60 60
}

// An isolation rule caps the entries in flight.
func Example_isolation() {
	eng := sluice.New()
	_ = eng.LoadIsolationRules([]isolation.Rule{{Resource: "db", Threshold: 2}})
	a, _ := eng.Entry(context.Background(), "db")
	b, _ := eng.Entry(context.Background(), "db")
	_, err := eng.Entry(context.Background(), "db")
	fmt.Println("third while two in flight:", err)
	a.Exit()
	c, err := eng.Entry(context.Background(), "db")
	fmt.Println("after one exits:", err)
	b.Exit()
	c.Exit()
	// Output:
	// third while two in flight: sluice: "db" blocked by Isolation rule: 2 entries in flight
	// after one exits: <nil>
}

// An AssociatedResource rule makes one resource give way to another: here
// reports are blocked while checkout traffic is at 2 per second or more.
func Example_flowAssociatedResource() {
	eng := sluice.New()
	_ = eng.LoadFlowRules([]flow.Rule{{Resource: "report", Threshold: 2,
		RelationStrategy: flow.AssociatedResource, RefResource: "checkout"}})
	enter := func(name string) error {
		p, err := eng.Entry(context.Background(), name)
		p.Exit()
		return err
	}
	fmt.Println("report, checkout idle:", enter("report") == nil)
	_, _ = enter("checkout"), enter("checkout")
	fmt.Println("report, checkout busy:", enter("report") == nil)
	// Output:
	// report, checkout idle: true
	// report, checkout busy: false
}

// WithChecker adds a check of your own to every entry: here, inbound
// requests must name a tenant.
func ExampleWithChecker() {
	requireTenant := sluice.CheckerFunc(func(_ context.Context, e sluice.EntryInfo) error {
		if e.TrafficType == sluice.Inbound && len(e.Args) == 0 {
			return errors.New("no tenant")
		}
		return nil
	})
	eng := sluice.New(sluice.WithChecker(requireTenant))
	_, err := eng.Entry(context.Background(), "GET /orders", sluice.WithTrafficType(sluice.Inbound))
	fmt.Println(err)
	p, err := eng.Entry(context.Background(), "GET /orders", sluice.WithTrafficType(sluice.Inbound), sluice.WithArgs("acme"))
	fmt.Println(err)
	p.Exit()
	// Output:
	// sluice: "GET /orders" blocked by Custom rule: custom check: no tenant
	// <nil>
}

// A MemoryAdaptive rule lowers the threshold as memory use rises: here from
// 100 per second at 1 GiB or less down to 10 per second at 2 GiB or more.
// WithMemoryUsage stands in for the process's real memory reading.
func Example_flowMemoryAdaptive() {
	used := uint64(3 << 29) // 1.5 GiB: halfway between the water marks
	eng := sluice.New(
		sluice.WithClock(clock.NewManual(time.Unix(0, 0))),
		sluice.WithMemoryUsage(func() (uint64, error) { return used, nil }))
	_ = eng.LoadFlowRules([]flow.Rule{{Resource: "import", Strategy: flow.MemoryAdaptive,
		LowMemUsageThreshold: 100, HighMemUsageThreshold: 10,
		MemLowWaterMark: 1 << 30, MemHighWaterMark: 2 << 30}})
	passed := 0
	for i := 0; i < 200; i++ {
		if p, err := eng.Entry(context.Background(), "import"); err == nil {
			passed++
			p.Exit()
		}
	}
	fmt.Println("passed at 1.5 GiB:", passed)
	// Output: passed at 1.5 GiB: 55
}

// A Regex rule applies to every resource whose whole name matches, with a
// separate count for each.
func Example_flowRegex() {
	eng := sluice.New()
	_ = eng.LoadFlowRules([]flow.Rule{{Resource: `GET /api/.*`, Regex: true, Threshold: 1}})
	for _, name := range []string{"GET /api/users", "GET /api/users", "GET /api/items", "GET /health"} {
		p, err := eng.Entry(context.Background(), name)
		fmt.Printf("%-15s blocked=%v\n", name, errors.Is(err, sluice.ErrBlocked))
		p.Exit()
	}
	// Output:
	// GET /api/users  blocked=false
	// GET /api/users  blocked=true
	// GET /api/items  blocked=false
	// GET /health     blocked=false
}

// The text of a block, as base.BlockError's documentation shows it.
func ExampleBlockError() {
	eng := sluice.New()
	defer eng.Close()
	if err := eng.LoadFlowRules([]flow.Rule{{Resource: "GET /orders", Threshold: 100}}); err != nil {
		panic(err)
	}
	for {
		p, err := eng.Entry(context.Background(), "GET /orders")
		if err != nil {
			fmt.Println(err)
			break
		}
		p.Exit()
	}
	// Output:
	// sluice: "GET /orders" blocked by Flow rule: 100 per 1s reached
}

// WithBlockLog writes one line per resource, block type and rule for each
// interval in which entries were blocked, and one when the blocking stops;
// nothing per blocked entry.
func ExampleWithBlockLog() {
	clk := clock.NewManual(time.Unix(1_700_000_000, 0))
	// A text log without the time, so that the output is the same each run.
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	eng := sluice.New(sluice.WithClock(clk), sluice.WithLogger(log), sluice.WithBlockLog(10*time.Second))
	defer eng.Close()
	_ = eng.LoadFlowRules([]flow.Rule{{ID: "orders-cap", Resource: "GET /orders", Threshold: 100}})

	interval := func() { // ten seconds pass; the block log writes
		clk.BlockUntilTimers(1)
		clk.Advance(10 * time.Second)
		clk.BlockUntilTimers(1)
	}
	for range 250 { // 250 requests in one second: 150 blocked
		if p, err := eng.Entry(context.Background(), "GET /orders"); err == nil {
			p.Exit()
		}
	}
	interval()
	interval() // no more blocks
	// Output:
	// level=INFO msg="sluice: rules loaded" flow=1 isolation=0 circuitBreaker=0 hotspot=0 system=0
	// level=WARN msg="sluice: blocking" resource="GET /orders" type=Flow rule=orders-cap blocked=150 interval=10s
	// level=INFO msg="sluice: blocking stopped" resource="GET /orders" type=Flow rule=orders-cap
}
