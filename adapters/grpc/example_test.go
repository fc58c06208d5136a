package sluicegrpc_test

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sluice-go/sluice"
	sluicegrpc "github.com/sluice-go/sluice/adapters/grpc"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/system"
)

// A gRPC server whose health checks are limited to 2 a second: the third
// check within the second fails with codes.ResourceExhausted.
func Example() {
	eng := sluice.New()
	defer eng.Close()
	if err := eng.LoadRules(sluice.Rules{Flow: []flow.Rule{
		{Resource: "/grpc.health.v1.Health/Check", Threshold: 2}, // 2/s
	}}); err != nil {
		panic(err)
	}

	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(sluicegrpc.WithEngine(eng))),
		grpc.ChainStreamInterceptor(sluicegrpc.StreamServerInterceptor(sluicegrpc.WithEngine(eng))),
	)
	client, stop := serveHealth(srv)
	defer stop()
	for i := 0; i < 3; i++ {
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
		fmt.Println(status.Code(err))
	}
	// Output:
	// OK
	// OK
	// ResourceExhausted
}

// WithSkip keeps the health service answering while the server sheds load:
// here a system rule refuses every inbound call (one is already in flight,
// above a Concurrency trigger of 0), yet the health check passes and makes
// no entry, while another method fails with codes.ResourceExhausted.
func ExampleWithSkip() {
	eng := sluice.New()
	defer eng.Close()
	inFlight, _ := eng.Entry(context.Background(), "/orders.Orders/Heavy", sluice.WithTrafficType(sluice.Inbound))
	defer inFlight.Exit()
	_ = eng.LoadSystemRules([]system.Rule{{MetricType: system.Concurrency, TriggerCount: 0}})

	opts := []sluicegrpc.Option{sluicegrpc.WithEngine(eng),
		sluicegrpc.WithSkip(func(_ context.Context, fullMethod string) bool {
			return fullMethod == "/grpc.health.v1.Health/Check"
		})}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(opts...)),
		grpc.ChainStreamInterceptor(sluicegrpc.StreamServerInterceptor(opts...)),
	)
	client, stop := serveHealth(srv)
	defer stop()
	_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println("Check:", status.Code(err))
	_, err = client.List(context.Background(), &healthpb.HealthListRequest{})
	fmt.Println("List:", status.Code(err), status.Convert(err).Message())
	fmt.Println(eng.Resources())
	// Output:
	// Check: OK
	// List: ResourceExhausted sluice: blocked by a System rule
	// [/grpc.health.v1.Health/List /orders.Orders/Heavy]
}

// serveHealth registers the health service on srv, serves it on a loopback
// port and returns a client of it, and a stop that closes both.
func serveHealth(srv *grpc.Server) (healthpb.HealthClient, func()) {
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	return healthpb.NewHealthClient(conn), func() {
		conn.Close()
		srv.Stop()
	}
}
