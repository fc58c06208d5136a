package sluicegrpc_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/sluice-go/sluice"
	sluicegrpc "github.com/sluice-go/sluice/adapters/grpc"
	"github.com/sluice-go/sluice/adapters/internal/adaptertest"
	"github.com/sluice-go/sluice/core/flow"
)

// skipHealth skips every call to the health service.
var skipHealth = sluicegrpc.WithSkip(func(_ context.Context, m string) bool {
	return strings.HasPrefix(m, "/grpc.health.v1.Health/")
})

// Under a system rule that refuses every inbound call (one is held in
// flight, above a Concurrency trigger of 0), skipped health calls, unary
// and stream, still answer and make no entry at all.
func TestSkipExemptsHealthFromSystemRule(t *testing.T) {
	eng, _ := newEngine(t)
	adaptertest.ShedAllInbound(t, eng)
	e := guarded(t, nil, sluicegrpc.WithEngine(eng), skipHealth)

	if err := healthCheck(e, context.Background()); err != nil {
		t.Fatalf("health check: %v", err)
	}
	watchServing(t, e)
	_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.ResourceExhausted, "sluice: blocked by a System rule")
	s, err := e.test.FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv()
	wantCode(t, err, codes.ResourceExhausted, "sluice: blocked by a System rule")

	if n := e.svc.calls.Load(); n != 0 {
		t.Fatalf("test service handlers called %d times, want 0", n)
	}
	adaptertest.WantRefusedOnly(t, eng, unaryCall, fullDuplex)
}

// The client interceptors skip calls too: a skipped call reaches the
// server under a rule that refuses the others, and is not counted. The
// predicate sees the outgoing metadata.
func TestSkipOnClientInterceptors(t *testing.T) {
	eng, _ := newEngine(t)
	probe := sluicegrpc.WithSkip(func(ctx context.Context, _ string) bool {
		md, _ := metadata.FromOutgoingContext(ctx)
		return len(md.Get("x-probe")) > 0
	})
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng), probe)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{
		{Resource: unaryCall, Threshold: 0}, {Resource: fullDuplex, Threshold: 0}}})
	probing := metadata.AppendToOutgoingContext(context.Background(), "x-probe", "1")

	if _, err := e.test.UnaryCall(probing, &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("skipped unary call: %v", err)
	}
	s, err := e.test.FullDuplexCall(probing)
	if err != nil {
		t.Fatalf("skipped stream: %v", err)
	}
	if err := s.Send(&testpb.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatalf("skipped stream: %v", err)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("skipped stream's end: %v, want EOF", err)
	}
	_, err = e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
	wantCode(t, err, codes.ResourceExhausted, "sluice: blocked by a Flow rule")
	_, err = e.test.FullDuplexCall(context.Background())
	wantCode(t, err, codes.ResourceExhausted, "sluice: blocked by a Flow rule")

	if n := e.svc.calls.Load(); n != 2 {
		t.Fatalf("server saw %d calls, want 2 (the skipped ones)", n)
	}
	for _, res := range []string{unaryCall, fullDuplex} {
		if st := stats(t, eng, res); st.PassQPS != 0 || st.BlockQPS != 1 {
			t.Fatalf("%s: stats %+v, want only the refused call", res, st)
		}
	}
}

// A later WithSkip(nil) skips nothing.
func TestSkipNilSkipsNothing(t *testing.T) {
	eng, _ := newEngine(t)
	e := guarded(t, nil, sluicegrpc.WithEngine(eng), skipHealth, sluicegrpc.WithSkip(nil))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: check, Threshold: 0}}})
	wantCode(t, healthCheck(e, context.Background()), codes.ResourceExhausted, "sluice: blocked by a Flow rule")
}
