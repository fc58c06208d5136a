// Command coarseclock shows what sluice.WithCoarseClock trades: two engines
// with the same flow rule, one reading the precise clock (the default) and
// one a coarse clock refreshed every millisecond. It times a burst of
// Entry+Exit calls on each, then guards a call that takes 300 µs on each
// and prints the response time each engine recorded for it.
//
// Run it from the repository root:
//
//	go run ./example/coarseclock [-calls 2000000]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/flow"
)

const resource = "GET /orders"

func main() {
	calls := flag.Int("calls", 2_000_000, "Entry+Exit calls timed on each engine")
	flag.Parse()
	if err := run(os.Stdout, *calls); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// result is what one engine showed.
type result struct {
	name     string
	perCall  time.Duration // mean cost of an Entry+Exit
	recorded time.Duration // the response time recorded for a 300 µs call
}

func run(out io.Writer, calls int) error {
	quiet := sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var results []result
	for _, e := range []struct {
		name string
		opts []sluice.Option
	}{
		{"precise clock (default)", []sluice.Option{quiet}},
		{"WithCoarseClock(1ms)", []sluice.Option{quiet, sluice.WithCoarseClock(time.Millisecond)}},
	} {
		r, err := measure(e.name, calls, e.opts...)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	fmt.Fprintf(out, "%d Entry+Exit calls on %q with a flow rule, then one call that takes 300µs:\n", calls, resource)
	for _, r := range results {
		fmt.Fprintf(out, "  %-24s  %6.1f ns a call   300µs call recorded as %v\n",
			r.name, float64(r.perCall.Nanoseconds()), r.recorded)
	}
	fmt.Fprintln(out, "The coarse clock saves the two clock reads of each call; response times it records")
	fmt.Fprintln(out, "are good to about a millisecond (a shorter call may read as 0).")
	return nil
}

// measure times calls Entry+Exit on an engine made with opts, then records
// one 300 µs call on a fresh resource and reads back its response time.
func measure(name string, calls int, opts ...sluice.Option) (result, error) {
	eng := sluice.New(opts...)
	defer eng.Close() // stops the coarse clock's goroutine
	if err := eng.LoadFlowRules([]flow.Rule{{Resource: resource, Threshold: 1e12}}); err != nil {
		return result{}, err
	}
	ctx := context.Background()
	start := time.Now()
	for range calls {
		p, err := eng.Entry(ctx, resource)
		if err != nil {
			return result{}, err
		}
		p.Exit()
	}
	perCall := time.Since(start) / time.Duration(max(calls, 1))

	const slow = "GET /slow"
	p, err := eng.Entry(ctx, slow)
	if err != nil {
		return result{}, err
	}
	spin(300 * time.Microsecond) // the guarded work
	p.Exit()
	st, _ := eng.Stats(slow)
	return result{name: name, perCall: perCall, recorded: st.AvgRT}, nil
}

// spin busy-waits for d: a sleep that short would take the scheduler's
// granularity instead.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}
