// Command grpc shows the Sluice gRPC interceptors at work: it serves the
// standard gRPC health service on loopback, guarded by
// sluicegrpc.UnaryServerInterceptor with a flow rule of 20 calls a second
// on its Check method, and drives about 50 Check calls a second at it from
// a built-in client. Once a second it prints how many calls returned OK and
// how many were refused with codes.ResourceExhausted.
//
// The health service stands in for a service of your own, as it needs no
// generated code. In production, exempt the real health check from every
// rule instead: sluicegrpc.WithSkip(func(_ context.Context, m string) bool {
// return m == "/grpc.health.v1.Health/Check" }).
//
// Run it from the repository root:
//
//	go run ./example/grpc [-duration 5s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sluice-go/sluice"
	sluicegrpc "github.com/sluice-go/sluice/adapters/grpc"
	"github.com/sluice-go/sluice/core/flow"
)

const (
	method    = "/grpc.health.v1.Health/Check"
	limit     = 20                     // calls a second the flow rule admits
	callers   = 5                      // client goroutines
	callEvery = 100 * time.Millisecond // per caller: 50 calls a second in all
)

func main() {
	d := flag.Duration("duration", 5*time.Second, "how long to drive traffic")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *d); err != nil {
		fmt.Fprintln(os.Stderr, "grpc example:", err)
		os.Exit(1)
	}
}

// counts are the outcomes of the client's calls.
type counts struct {
	ok, exhausted, other atomic.Int64
}

// run serves the guarded health service, drives Check calls at it for d
// (or until ctx is done) and writes a row a second to out. Everything it
// starts has stopped when it returns.
func run(ctx context.Context, out io.Writer, d time.Duration) error {
	if d <= 0 {
		return errors.New("duration must be positive")
	}
	eng := sluice.New()
	defer eng.Close()
	if err := eng.LoadRules(sluice.Rules{Flow: []flow.Rule{{Resource: method, Threshold: limit}}}); err != nil {
		return err
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(sluicegrpc.WithEngine(eng))),
		grpc.ChainStreamInterceptor(sluicegrpc.StreamServerInterceptor(sluicegrpc.WithEngine(eng))),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() { srv.Stop(); <-served }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	fmt.Fprintf(out, "gRPC health server on %s; %s limited to %d calls/s, offered ~%d calls/s\n",
		lis.Addr(), method, limit, int(callers*time.Second/callEvery))
	fmt.Fprintf(out, "%6s  %6s  %18s  %6s\n", "time", "OK", "ResourceExhausted", "other")

	load, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var (
		wg          sync.WaitGroup
		now, totals counts
		lastErr     atomic.Value
	)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Stagger the callers so the calls arrive evenly.
			t := time.NewTimer(callEvery * time.Duration(i) / callers)
			defer t.Stop()
			for {
				select {
				case <-load.Done():
					return
				case <-t.C:
				}
				t.Reset(callEvery)
				_, err := client.Check(load, &healthpb.HealthCheckRequest{})
				switch status.Code(err) {
				case codes.OK:
					now.ok.Add(1)
				case codes.ResourceExhausted:
					now.exhausted.Add(1)
				default:
					if load.Err() != nil {
						return // cut short by the end of the run
					}
					now.other.Add(1)
					lastErr.Store(err)
				}
			}
		}()
	}

	start := time.Now()
	end := start.Add(d)
	for next := start.Add(time.Second); ; next = next.Add(time.Second) {
		if next.After(end) {
			next = end
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		ok, ex, other := now.ok.Swap(0), now.exhausted.Swap(0), now.other.Swap(0)
		totals.ok.Add(ok)
		totals.exhausted.Add(ex)
		totals.other.Add(other)
		fmt.Fprintf(out, "%6s  %6d  %18d  %6d\n", next.Sub(start).Round(100*time.Millisecond), ok, ex, other)
		if ctx.Err() != nil || !next.Before(end) {
			break
		}
	}
	stopLoad()
	wg.Wait()
	fmt.Fprintf(out, "total  OK %d  ResourceExhausted %d  other %d\n",
		totals.ok.Load(), totals.exhausted.Load(), totals.other.Load())
	if err, _ := lastErr.Load().(error); err != nil {
		fmt.Fprintln(out, "last other error:", err)
	}
	return nil
}
