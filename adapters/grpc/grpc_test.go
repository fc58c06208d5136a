package sluicegrpc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluice-go/sluice"
	sluicegrpc "github.com/sluice-go/sluice/adapters/grpc"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	check      = "/grpc.health.v1.Health/Check"
	watch      = "/grpc.health.v1.Health/Watch"
	unaryCall  = "/grpc.testing.TestService/UnaryCall"
	fullDuplex = "/grpc.testing.TestService/FullDuplexCall"
	input      = "/grpc.testing.TestService/StreamingInputCall"
)

var t0 = time.Unix(1_700_000_000, 0)

func newEngine(t *testing.T, opts ...sluice.Option) (*sluice.Engine, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(t0)
	eng := sluice.New(append([]sluice.Option{sluice.WithClock(clk),
		sluice.WithLogger(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))}, opts...)...)
	t.Cleanup(func() { eng.Close() })
	return eng, clk
}

func mustLoad(t *testing.T, eng *sluice.Engine, r sluice.Rules) {
	t.Helper()
	if err := eng.LoadRules(r); err != nil {
		t.Fatal(err)
	}
}

// testService is a grpc.testing.TestService whose handlers the test sets.
type testService struct {
	testpb.UnimplementedTestServiceServer
	calls  atomic.Int64 // handler invocations, of every method
	unary  func(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error)
	duplex func(stream testpb.TestService_FullDuplexCallServer) error
}

func (s *testService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.calls.Add(1)
	if s.unary != nil {
		return s.unary(ctx, req)
	}
	return &testpb.SimpleResponse{}, nil
}

func (s *testService) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	s.calls.Add(1)
	if s.duplex != nil {
		return s.duplex(stream)
	}
	for { // echo until the client closes
		if _, err := stream.Recv(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
}

func (s *testService) StreamingInputCall(stream testpb.TestService_StreamingInputCallServer) error {
	s.calls.Add(1)
	n := int32(0)
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: n})
		}
		if err != nil {
			return err
		}
		n += int32(len(req.GetPayload().GetBody()))
	}
}

type env struct {
	srv    *grpc.Server
	svc    *testService
	conn   *grpc.ClientConn
	health healthpb.HealthClient
	test   testpb.TestServiceClient
}

// start serves the health and test services on loopback and dials them;
// both are stopped when the test ends.
func start(t *testing.T, svc *testService, srvOpts []grpc.ServerOption, dialOpts ...grpc.DialOption) *env {
	t.Helper()
	if svc == nil {
		svc = &testService{}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(srvOpts...)
	healthpb.RegisterHealthServer(s, health.NewServer())
	testpb.RegisterTestServiceServer(s, svc)
	served := make(chan struct{})
	go func() { defer close(served); s.Serve(lis) }()
	t.Cleanup(func() { s.Stop(); <-served })
	conn, err := grpc.NewClient(lis.Addr().String(),
		append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &env{srv: s, svc: svc, conn: conn, health: healthpb.NewHealthClient(conn), test: testpb.NewTestServiceClient(conn)}
}

// guarded starts a server guarded by the server interceptors.
func guarded(t *testing.T, svc *testService, opts ...sluicegrpc.Option) *env {
	return start(t, svc, []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(opts...)),
		grpc.ChainStreamInterceptor(sluicegrpc.StreamServerInterceptor(opts...)),
	})
}

// guardedClient starts a plain server and a client guarded by the client
// interceptors.
func guardedClient(t *testing.T, svc *testService, opts ...sluicegrpc.Option) *env {
	return start(t, svc, nil,
		grpc.WithChainUnaryInterceptor(sluicegrpc.UnaryClientInterceptor(opts...)),
		grpc.WithChainStreamInterceptor(sluicegrpc.StreamClientInterceptor(opts...)))
}

func healthCheck(e *env, ctx context.Context) error {
	_, err := e.health.Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

// watchServing opens a health Watch on e and waits for its first answer,
// which must be SERVING; the returned cancel, called at the latest when t
// ends, ends the stream.
func watchServing(t *testing.T, e *env) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := e.health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := w.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health watch: %v, %v", resp, err)
	}
	return cancel
}

func wantCode(t *testing.T, err error, want codes.Code, contains string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != want {
		t.Fatalf("err = %v, want code %v", err, want)
	}
	if !strings.Contains(st.Message(), contains) {
		t.Fatalf("message %q does not contain %q", st.Message(), contains)
	}
}

func stats(t *testing.T, eng *sluice.Engine, res string) sluice.ResourceStats {
	t.Helper()
	st, ok := eng.Stats(res)
	if !ok {
		t.Fatalf("resource %q not tracked; tracked: %v", res, eng.Resources())
	}
	return st
}

// eventually waits up to 5 s of real time for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestUnaryServerPassNamesResourceByFullMethod(t *testing.T) {
	eng, _ := newEngine(t)
	e := guarded(t, nil, sluicegrpc.WithEngine(eng))
	resp, err := e.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check = %v, %v", resp, err)
	}
	st := stats(t, eng, check)
	if st.PassQPS != 1 || st.CompleteQPS != 1 || st.ErrorQPS != 0 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := eng.Resources(); len(got) != 1 || got[0] != check {
		t.Fatalf("resources %v, want [%s]", got, check)
	}
}

func TestResourceExtractor(t *testing.T) {
	eng, _ := newEngine(t)
	e := guarded(t, nil, sluicegrpc.WithEngine(eng),
		sluicegrpc.WithResourceExtractor(func(_ context.Context, m string) string { return "svc:" + m[strings.LastIndex(m, "/")+1:] }))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "svc:Check", Threshold: 1}}})
	if err := healthCheck(e, context.Background()); err != nil {
		t.Fatal(err)
	}
	wantCode(t, healthCheck(e, context.Background()), codes.ResourceExhausted, "sluice: blocked by a Flow rule")
}

func TestUnaryServerFlowBlock(t *testing.T) {
	eng, _ := newEngine(t)
	e := guarded(t, nil, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: check, Threshold: 0}}})
	err := healthCheck(e, context.Background())
	wantCode(t, err, codes.ResourceExhausted, "sluice: blocked by a Flow rule (retry after 1s)")
	// A Reject rule says when to retry: in the message and as RetryInfo.
	st := status.Convert(err)
	if !strings.Contains(st.Message(), "retry after 1s") {
		t.Errorf("message %q has no retry hint", st.Message())
	}
	var ri *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			ri = r
		}
	}
	if ri == nil || ri.GetRetryDelay().AsDuration() != time.Second {
		t.Errorf("details %v, want RetryInfo of 1s", st.Details())
	}
	if st := stats(t, eng, check); st.BlockQPS != 1 || st.PassQPS != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUnaryServerIsolationBlock(t *testing.T) {
	eng, _ := newEngine(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	svc := &testService{unary: func(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		entered <- struct{}{}
		<-release
		return &testpb.SimpleResponse{}, nil
	}}
	e := guarded(t, svc, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{Isolation: []isolation.Rule{{Resource: unaryCall, Threshold: 1}}})
	first := make(chan error, 1)
	go func() {
		_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
		first <- err
	}()
	<-entered
	_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.ResourceExhausted, "sluice: blocked by an Isolation rule")
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := svc.calls.Load(); n != 1 {
		t.Fatalf("handler called %d times, want 1", n)
	}
}

func errorCountBreaker(res string) circuitbreaker.Rule {
	return circuitbreaker.Rule{Resource: res, Strategy: circuitbreaker.ErrorCount, Threshold: 3,
		MinRequestAmount: 3, RetryTimeout: 5 * time.Second}
}

func TestBreakerOpensOnInternalErrors(t *testing.T) {
	eng, _ := newEngine(t)
	svc := &testService{unary: func(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		return nil, status.Error(codes.Internal, "boom")
	}}
	e := guarded(t, svc, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{errorCountBreaker(unaryCall)}})
	for i := 0; i < 3; i++ {
		_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
		wantCode(t, err, codes.Internal, "boom")
	}
	_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.Unavailable, "sluice: blocked by a CircuitBreaker rule")
	if !strings.Contains(status.Convert(err).Message(), "retry after 5s") {
		t.Errorf("message %q has no retry hint", status.Convert(err).Message())
	}
	if n := svc.calls.Load(); n != 3 {
		t.Fatalf("handler called %d times, want 3", n)
	}
	if st := stats(t, eng, unaryCall); st.CircuitBreakers[0].State != circuitbreaker.Open || st.ErrorQPS != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCallerErrorsDoNotCount(t *testing.T) {
	var seen []error
	var mu sync.Mutex
	eng, _ := newEngine(t, sluice.WithErrorClassifier(func(err error) bool {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, err)
		return true
	}))
	var n atomic.Int64
	results := []error{
		status.Error(codes.NotFound, "no such thing"),
		status.Error(codes.InvalidArgument, "bad"),
		status.Error(codes.Canceled, "gave up"),
		context.Canceled,
		status.Error(codes.PermissionDenied, "no"),
	}
	svc := &testService{unary: func(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		return nil, results[int(n.Add(1)-1)%len(results)]
	}}
	e := guarded(t, svc, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{errorCountBreaker(unaryCall)}})
	for i := 0; i < 10; i++ {
		_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
		if c := status.Code(err); c == codes.Unavailable || c == codes.OK {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if svc.calls.Load() != 10 {
		t.Fatalf("handler called %d times, want 10: the breaker opened", svc.calls.Load())
	}
	if st := stats(t, eng, unaryCall); st.ErrorQPS != 0 || st.CircuitBreakers[0].State != circuitbreaker.Closed {
		t.Fatalf("stats %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Fatalf("the engine's classifier saw %v; no caller error should reach SetError", seen)
	}
}

func TestWithCodeIsFailure(t *testing.T) {
	eng, _ := newEngine(t)
	svc := &testService{unary: func(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		return nil, status.Error(codes.NotFound, "gone")
	}}
	e := guarded(t, svc, sluicegrpc.WithEngine(eng),
		sluicegrpc.WithCodeIsFailure(func(c codes.Code) bool { return c == codes.NotFound }))
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{errorCountBreaker(unaryCall)}})
	for i := 0; i < 3; i++ {
		e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	}
	_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.Unavailable, "CircuitBreaker")
}

func TestSystemRuleGuardsInboundOnly(t *testing.T) {
	eng, _ := newEngine(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	svc := &testService{unary: func(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		entered <- struct{}{}
		<-release
		return &testpb.SimpleResponse{}, nil
	}}
	e := guarded(t, svc, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{System: []system.Rule{{MetricType: system.Concurrency, TriggerCount: 1}}})
	first := make(chan error, 1)
	go func() {
		_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
		first <- err
	}()
	select {
	case <-entered:
	case err := <-first:
		t.Fatalf("first call: %v, want it in flight", err)
	}
	if got := eng.SystemStats().Concurrency; got != 1 {
		t.Fatalf("inbound concurrency %d, want 1", got)
	}
	wantCode(t, healthCheck(e, context.Background()), codes.ResourceExhausted, "sluice: blocked by a System rule")
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := healthCheck(e, context.Background()); err != nil {
		t.Fatalf("after the first call ended: %v", err)
	}

	// The same rule on a client's engine does not apply: client entries are
	// Outbound.
	ceng, _ := newEngine(t)
	mustLoad(t, ceng, sluice.Rules{System: []system.Rule{{MetricType: system.Concurrency, TriggerCount: 0}}})
	release2 := make(chan struct{})
	c := guardedClient(t, &testService{unary: func(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		entered <- struct{}{}
		<-release2
		return &testpb.SimpleResponse{}, nil
	}}, sluicegrpc.WithEngine(ceng))
	second := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := c.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
			second <- err
		}()
	}
	<-entered
	<-entered // both in flight at once, both passed the client's checks
	if got := stats(t, ceng, unaryCall).Concurrency; got != 2 {
		t.Fatalf("client concurrency %d, want 2", got)
	}
	close(release2)
	for i := 0; i < 2; i++ {
		if err := <-second; err != nil {
			t.Fatal(err)
		}
	}
}

func TestHotspotPerMetadataValue(t *testing.T) {
	eng, _ := newEngine(t)
	e := guarded(t, nil, sluicegrpc.WithEngine(eng), sluicegrpc.WithMetadataAttachment("user"))
	mustLoad(t, eng, sluice.Rules{Hotspot: []hotspot.Rule{{Resource: check, ParamKey: "user", Threshold: 1}}})
	as := func(user string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "user", user)
	}
	if err := healthCheck(e, as("alice")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, healthCheck(e, as("alice")), codes.ResourceExhausted, "sluice: blocked by a Hotspot rule")
	if err := healthCheck(e, as("bob")); err != nil {
		t.Fatalf("bob: %v", err)
	}
	for i := 0; i < 3; i++ { // no user: not limited
		if err := healthCheck(e, context.Background()); err != nil {
			t.Fatalf("anonymous: %v", err)
		}
	}
}

func TestHotspotOnRequestArgsAndAttachment(t *testing.T) {
	eng, _ := newEngine(t)
	service := func(_ context.Context, _ string, req any) any {
		if r, ok := req.(*healthpb.HealthCheckRequest); ok && r.GetService() != "" {
			return r.GetService()
		}
		return nil
	}
	e := guarded(t, nil, sluicegrpc.WithEngine(eng),
		sluicegrpc.WithAttachment("service", service),
		sluicegrpc.WithArgs(func(ctx context.Context, m string, req any) []any { return []any{m} }))
	mustLoad(t, eng, sluice.Rules{Hotspot: []hotspot.Rule{
		{Resource: check, ParamKey: "service", Threshold: 1},
		{Resource: watch, ParamIndex: 0, Threshold: 0}, // blocks by the method argument
	}})
	ask := func(svc string) error {
		_, err := e.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		return err
	}
	if err := ask(""); err != nil {
		t.Fatal(err)
	}
	if err := ask(""); err != nil { // a nil attachment is no attachment
		t.Fatal(err)
	}
	if err := ask("unknown"); status.Code(err) != codes.NotFound { // health's answer for an unknown service
		t.Fatal(err)
	}
	wantCode(t, ask("unknown"), codes.ResourceExhausted, "Hotspot")
	w, err := e.health.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Recv()
	wantCode(t, err, codes.ResourceExhausted, "Hotspot")
}

func TestBlockFallback(t *testing.T) {
	eng, _ := newEngine(t)
	var got *sluice.BlockError
	var gotMethod string
	e := guarded(t, nil, sluicegrpc.WithEngine(eng),
		sluicegrpc.WithBlockFallback(func(_ context.Context, m string, err *sluice.BlockError) error {
			got, gotMethod = err, m
			if err.Type == sluice.BlockTypeFlow {
				return status.Error(codes.Unavailable, "busy, come back later")
			}
			return errors.New("plain refusal") // not a status: gets the block's code, never Unknown
		}))
	mustLoad(t, eng, sluice.Rules{
		Flow:      []flow.Rule{{Resource: check, Threshold: 0}},
		Isolation: []isolation.Rule{{Resource: unaryCall, Threshold: 0}},
	})
	wantCode(t, healthCheck(e, context.Background()), codes.Unavailable, "busy, come back later")
	if got == nil || got.Resource != check || gotMethod != check {
		t.Fatalf("fallback got %v for %q", got, gotMethod)
	}
	_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.ResourceExhausted, "plain refusal")
}

func TestServerPanicIsRecordedAndRepanics(t *testing.T) {
	eng, _ := newEngine(t)
	svc := &testService{unary: func(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		panic("handler bug")
	}}
	var recovered atomic.Value
	recoverer := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if v := recover(); v != nil {
				recovered.Store(v)
				err = status.Error(codes.Internal, "panic")
			}
		}()
		return h(ctx, req)
	}
	e := start(t, svc, []grpc.ServerOption{grpc.ChainUnaryInterceptor(recoverer,
		sluicegrpc.UnaryServerInterceptor(sluicegrpc.WithEngine(eng)))})
	_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.Internal, "panic")
	if recovered.Load() != "handler bug" {
		t.Fatalf("recovered %v, want the handler's panic", recovered.Load())
	}
	if st := stats(t, eng, unaryCall); st.Concurrency != 0 || st.CompleteQPS != 1 || st.ErrorQPS != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerStreamEntryLastsTheWholeStream(t *testing.T) {
	eng, _ := newEngine(t)
	e := guarded(t, nil, sluicegrpc.WithEngine(eng))
	cancel := watchServing(t, e)
	if st := stats(t, eng, watch); st.Concurrency != 1 || st.PassQPS != 1 || st.CompleteQPS != 0 {
		t.Fatalf("while open: %+v", st)
	}
	if got := eng.SystemStats().Concurrency; got != 1 {
		t.Fatalf("inbound concurrency %d, want 1 (streams are Inbound)", got)
	}
	cancel()
	eventually(t, "the Watch entry to exit", func() bool { return stats(t, eng, watch).Concurrency == 0 })
	st := stats(t, eng, watch)
	if st.CompleteQPS != 1 || st.ErrorQPS != 0 { // the client gave up: no failure
		t.Fatalf("after: %+v", st)
	}
}

func TestServerStreamBreaker(t *testing.T) {
	eng, _ := newEngine(t)
	svc := &testService{duplex: func(testpb.TestService_FullDuplexCallServer) error {
		return status.Error(codes.DataLoss, "lost")
	}}
	e := guarded(t, svc, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{errorCountBreaker(fullDuplex)}})
	for i := 0; i < 4; i++ {
		s, err := e.test.FullDuplexCall(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Recv()
		if i < 3 {
			wantCode(t, err, codes.DataLoss, "lost")
		} else {
			wantCode(t, err, codes.Unavailable, "CircuitBreaker")
		}
	}
	if svc.calls.Load() != 3 {
		t.Fatalf("handler called %d times, want 3", svc.calls.Load())
	}
}

func TestClientUnaryBlockMakesNoNetworkCall(t *testing.T) {
	eng, _ := newEngine(t)
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: unaryCall, Threshold: 1}}})
	if _, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.ResourceExhausted, "sluice: blocked by a Flow rule")
	if n := e.svc.calls.Load(); n != 1 {
		t.Fatalf("server saw %d calls, want 1", n)
	}
	st := stats(t, eng, unaryCall)
	if st.PassQPS != 1 || st.BlockQPS != 1 || st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := eng.SystemStats().PassQPS; got != 0 {
		t.Fatalf("inbound PassQPS %v, want 0: client entries are Outbound", got)
	}
}

func TestClientMetadataAttachment(t *testing.T) {
	eng, _ := newEngine(t)
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng), sluicegrpc.WithMetadataAttachment("tenant"))
	mustLoad(t, eng, sluice.Rules{Hotspot: []hotspot.Rule{{Resource: check, ParamKey: "tenant", Threshold: 1}}})
	ctx := metadata.AppendToOutgoingContext(context.Background(), "Tenant", "acme")
	if err := healthCheck(e, ctx); err != nil {
		t.Fatal(err)
	}
	wantCode(t, healthCheck(e, ctx), codes.ResourceExhausted, "Hotspot")
	if err := healthCheck(e, context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestClientBreakerOpensOnTransportErrors(t *testing.T) {
	eng, _ := newEngine(t)
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{errorCountBreaker(check)}})
	if err := healthCheck(e, context.Background()); err != nil {
		t.Fatal(err)
	}
	e.srv.Stop()
	for i := 0; i < 3; i++ {
		err := healthCheck(e, context.Background())
		if status.Code(err) != codes.Unavailable || strings.Contains(err.Error(), "sluice") {
			t.Fatalf("call %d to a stopped server: %v, want a transport error", i, err)
		}
	}
	wantCode(t, healthCheck(e, context.Background()), codes.Unavailable, "sluice: blocked by a CircuitBreaker rule")
	if st := stats(t, eng, check); st.CircuitBreakers[0].State != circuitbreaker.Open {
		t.Fatalf("stats %+v", st)
	}

	// Opening a stream to the stopped server fails too: the entry exits.
	s, err := e.health.Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Watch on a stopped server: %v", err)
	}
	if st := stats(t, eng, watch); st.Concurrency != 0 || st.ErrorQPS != 1 {
		t.Fatalf("watch stats %+v", st)
	}
}

func TestClientStreamExitsOnEOF(t *testing.T) {
	eng, _ := newEngine(t)
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng))
	s, err := e.test.FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Send(&testpb.StreamingOutputCallRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if st := stats(t, eng, fullDuplex); st.Concurrency != 1 {
		t.Fatalf("while open: %+v", st)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, eng, fullDuplex); st.Concurrency != 1 {
		t.Fatalf("after CloseSend, before EOF: %+v", st)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv = %v, want EOF", err)
	}
	if st := stats(t, eng, fullDuplex); st.Concurrency != 0 || st.CompleteQPS != 1 || st.ErrorQPS != 0 {
		t.Fatalf("after EOF: %+v", st)
	}
	s.Recv() // later calls change nothing
	if st := stats(t, eng, fullDuplex); st.CompleteQPS != 1 {
		t.Fatalf("exited twice: %+v", st)
	}
}

func TestClientStreamExitsOnError(t *testing.T) {
	eng, _ := newEngine(t)
	svc := &testService{duplex: func(testpb.TestService_FullDuplexCallServer) error {
		return status.Error(codes.Internal, "broken")
	}}
	e := guardedClient(t, svc, sluicegrpc.WithEngine(eng))
	s, err := e.test.FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv()
	wantCode(t, err, codes.Internal, "broken")
	if st := stats(t, eng, fullDuplex); st.Concurrency != 0 || st.CompleteQPS != 1 || st.ErrorQPS != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClientStreamExitsOnCancel(t *testing.T) {
	eng, _ := newEngine(t)
	// The server reads and never answers: grpc-go's client returns the
	// messages it has already received before the context's error, so an
	// echo that arrived before cancel would be what Recv returns.
	svc := &testService{duplex: func(s testpb.TestService_FullDuplexCallServer) error {
		for {
			if _, err := s.Recv(); err != nil {
				return err
			}
		}
	}}
	e := guardedClient(t, svc, sluicegrpc.WithEngine(eng))
	ctx, cancel := context.WithCancel(context.Background())
	s, err := e.test.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&testpb.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, eng, fullDuplex); st.Concurrency != 1 {
		t.Fatalf("while open: %+v", st)
	}
	cancel() // and never call Recv: the watcher ends the entry
	eventually(t, "the stream's entry to exit", func() bool { return stats(t, eng, fullDuplex).Concurrency == 0 })
	if st := stats(t, eng, fullDuplex); st.CompleteQPS != 1 || st.ErrorQPS != 0 {
		t.Fatalf("a cancelled stream counted as a failure: %+v", st)
	}
	if _, err := s.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancel: %v", err)
	}
	if st := stats(t, eng, fullDuplex); st.CompleteQPS != 1 {
		t.Fatalf("exited twice: %+v", st)
	}
}

func TestClientStreamDeadlineCounts(t *testing.T) {
	eng, _ := newEngine(t)
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s, err := e.test.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv() // the server echoes only what it gets: this waits out the deadline
	wantCode(t, err, codes.DeadlineExceeded, "")
	eventually(t, "the stream's entry to exit", func() bool { return stats(t, eng, fullDuplex).Concurrency == 0 })
	if st := stats(t, eng, fullDuplex); st.CompleteQPS != 1 || st.ErrorQPS != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClientStreamingExitsOnResponse(t *testing.T) {
	eng, _ := newEngine(t)
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng))
	s, err := e.test.StreamingInputCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"ab", "cde"} {
		if err := s.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: []byte(b)}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := s.CloseAndRecv()
	if err != nil || resp.GetAggregatedPayloadSize() != 5 {
		t.Fatalf("CloseAndRecv = %v, %v", resp, err)
	}
	if st := stats(t, eng, input); st.Concurrency != 0 || st.CompleteQPS != 1 || st.ErrorQPS != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClientStreamBlocked(t *testing.T) {
	eng, _ := newEngine(t)
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: fullDuplex, Threshold: 0}}})
	_, err := e.test.FullDuplexCall(context.Background())
	wantCode(t, err, codes.ResourceExhausted, "sluice: blocked by a Flow rule")
	if n := e.svc.calls.Load(); n != 0 {
		t.Fatalf("server saw %d streams", n)
	}
}

func throttled(res string) sluice.Rules {
	return sluice.Rules{Flow: []flow.Rule{{Resource: res, Threshold: 1,
		ControlBehavior: flow.Throttling, MaxQueueingTime: time.Minute}}}
}

func TestClientCancelWhileQueued(t *testing.T) {
	eng, clk := newEngine(t)
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, throttled(check))
	if err := healthCheck(e, context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- healthCheck(e, ctx) }()
	clk.BlockUntilTimers(1) // queued for its turn, a second away on the manual clock
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		wantCode(t, err, codes.Canceled, "sluice: blocked by a Flow rule: context canceled")
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("returned after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled call kept waiting")
	}
	if st := stats(t, eng, check); st.Concurrency != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestServerCancelWhileQueued(t *testing.T) {
	eng, clk := newEngine(t)
	e := guarded(t, nil, sluicegrpc.WithEngine(eng))
	mustLoad(t, eng, throttled(check))
	if err := healthCheck(e, context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- healthCheck(e, ctx) }()
	clk.BlockUntilTimers(1)
	if st := stats(t, eng, check); st.Concurrency != 1 {
		t.Fatalf("queued: %+v", st)
	}
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("err = %v, want Canceled", err)
	}
	eventually(t, "the queued server entry to give up", func() bool {
		st := stats(t, eng, check)
		return st.Concurrency == 0 && st.BlockQPS == 1
	})
}

// BlockStatus names the kind of rule, and nothing of the rule: not the
// resource, the reason, or a custom check's error.
func TestBlockStatus(t *testing.T) {
	cases := []struct {
		err  *sluice.BlockError
		code codes.Code
		msg  string
	}{
		{&sluice.BlockError{Resource: "r", Type: sluice.BlockTypeFlow, Reason: "100 per 1s reached"},
			codes.ResourceExhausted, "sluice: blocked by a Flow rule"},
		{&sluice.BlockError{Resource: "r", Type: sluice.BlockTypeIsolation}, codes.ResourceExhausted, "sluice: blocked by an Isolation rule"},
		{&sluice.BlockError{Resource: "r", Type: sluice.BlockTypeSystem}, codes.ResourceExhausted, "sluice: blocked by a System rule"},
		{&sluice.BlockError{Resource: "r", Type: sluice.BlockTypeHotspot}, codes.ResourceExhausted, "sluice: blocked by a Hotspot rule"},
		{&sluice.BlockError{Resource: "r", Type: sluice.BlockTypeCustom, Cause: errors.New("mine")},
			codes.ResourceExhausted, "sluice: blocked by a Custom rule"},
		{&sluice.BlockError{Resource: "r", Type: sluice.BlockTypeCircuitBreaker, RetryAfter: time.Second},
			codes.Unavailable, "sluice: blocked by a CircuitBreaker rule (retry after 1s)"},
		{&sluice.BlockError{Resource: "r", Type: sluice.BlockTypeFlow, Reason: "queueing wait cut short", Cause: context.Canceled},
			codes.Canceled, "sluice: blocked by a Flow rule: context canceled"},
		{&sluice.BlockError{Resource: "r", Type: sluice.BlockTypeFlow, Cause: context.DeadlineExceeded},
			codes.DeadlineExceeded, "sluice: blocked by a Flow rule: context deadline exceeded"},
	}
	for _, tc := range cases {
		err := sluicegrpc.BlockStatus(tc.err)
		st, ok := status.FromError(err)
		if !ok || st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("BlockStatus(%v) = %v, want code %v, message %q", tc.err, err, tc.code, tc.msg)
		}
		if errors.Is(err, sluice.ErrBlocked) {
			t.Errorf("BlockStatus(%v) leaks the BlockError", tc.err)
		}
	}
	if sluicegrpc.BlockStatus(nil) != nil {
		t.Error("BlockStatus(nil) != nil")
	}
}

func TestDefaultCodeIsFailure(t *testing.T) {
	failing := map[codes.Code]bool{codes.Unknown: true, codes.DeadlineExceeded: true, codes.Internal: true,
		codes.Unavailable: true, codes.DataLoss: true, codes.ResourceExhausted: true}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if got := sluicegrpc.DefaultCodeIsFailure(c); got != failing[c] {
			t.Errorf("DefaultCodeIsFailure(%v) = %v", c, got)
		}
	}
}

func TestDefaultEngine(t *testing.T) {
	res := fmt.Sprintf("default-%d", time.Now().UnixNano())
	e := guarded(t, nil, sluicegrpc.WithResourceExtractor(func(context.Context, string) string { return res }))
	if err := healthCheck(e, context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := sluice.Default().Stats(res); !ok {
		t.Fatal("the call did not reach sluice.Default()")
	}
}
