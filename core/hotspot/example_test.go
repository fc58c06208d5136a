package hotspot_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/hotspot"
)

// Each user gets 2 requests per second of their own; one VIP gets 5. The
// user ID travels with the entry through WithArgs.
func Example_perUser() {
	eng := sluice.New(sluice.WithClock(clock.NewManual(time.Unix(0, 0))))
	_ = eng.LoadHotspotRules([]hotspot.Rule{{Resource: "POST /order", ParamIndex: 0, Threshold: 2,
		SpecificItems: []hotspot.SpecificItem{{Value: "vip", Threshold: 5}}}})
	for _, user := range []string{"alice", "bob", "vip"} {
		passed := 0
		for i := 0; i < 10; i++ {
			p, err := eng.Entry(context.Background(), "POST /order", sluice.WithArgs(user))
			if err == nil {
				passed++
				p.Exit()
			}
		}
		fmt.Printf("%-5s %d of 10\n", user, passed)
	}
	// Output:
	// alice 2 of 10
	// bob   2 of 10
	// vip   5 of 10
}

// A Concurrency rule caps each tenant's requests in flight; ParamKey picks
// the tenant from the entry's attachments, as middleware would set it from
// a header.
func Example_concurrencyPerTenant() {
	eng := sluice.New()
	_ = eng.LoadHotspotRules([]hotspot.Rule{{Resource: "GET /report", ParamKey: "tenant",
		MetricType: hotspot.Concurrency, Threshold: 1}})
	enter := func(tenant string) (sluice.Permit, error) {
		return eng.Entry(context.Background(), "GET /report", sluice.WithAttachment("tenant", tenant))
	}
	a, _ := enter("acme")
	_, err := enter("acme")
	var be *sluice.BlockError
	fmt.Println("second acme request blocked:", errors.As(err, &be) && be.Type == sluice.BlockTypeHotspot)
	b, err := enter("globex")
	fmt.Println("globex request:", err)
	a.Exit()
	b.Exit()
	c, err := enter("acme")
	fmt.Println("acme after exit:", err)
	c.Exit()
	// Output:
	// second acme request blocked: true
	// globex request: <nil>
	// acme after exit: <nil>
}

// A Throttling rule spaces each value's requests: here one per 100 ms per
// item, waiting up to 300 ms for a turn.
func Example_throttlingPerItem() {
	clk := clock.NewManual(time.Unix(0, 0))
	eng := sluice.New(sluice.WithClock(clk))
	_ = eng.LoadHotspotRules([]hotspot.Rule{{Resource: "restock", ParamIndex: 0, Threshold: 10,
		ControlBehavior: hotspot.Throttling, MaxQueueingTime: 300 * time.Millisecond}})
	p, _ := eng.Entry(context.Background(), "restock", sluice.WithArgs(1001))
	p.Exit()
	done := make(chan time.Duration)
	go func() {
		p, _ := eng.Entry(context.Background(), "restock", sluice.WithArgs(1001))
		p.Exit()
		done <- clk.Now().Sub(time.Unix(0, 0))
	}()
	clk.BlockUntilTimers(1)
	p, err := eng.Entry(context.Background(), "restock", sluice.WithArgs(2002))
	fmt.Println("another item at once:", err)
	p.Exit()
	clk.Advance(100 * time.Millisecond)
	fmt.Println("item 1001 again after", <-done)
	// Output:
	// another item at once: <nil>
	// item 1001 again after 100ms
}
