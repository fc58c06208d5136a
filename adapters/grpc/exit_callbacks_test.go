package sluicegrpc_test

import (
	"context"
	"github.com/sluice-go/sluice/adapters/internal/adaptertest"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/sluice-go/sluice"
	sluicegrpc "github.com/sluice-go/sluice/adapters/grpc"
	"github.com/sluice-go/sluice/core/isolation"
)

// The user's code that runs while a call holds its entry (the
// WithCodeIsFailure function, the next invoker, streamer or stream) must
// not keep the entry in flight, nor crash the process, when it panics:
// under an isolation rule of 1, one leaked entry blocks the method for the
// life of the process.

// panicsOnce is a WithCodeIsFailure function that panics on its first
// call and is DefaultCodeIsFailure after.
func panicsOnce() (sluicegrpc.Option, *atomic.Int64) {
	var calls atomic.Int64
	return sluicegrpc.WithCodeIsFailure(func(c codes.Code) bool {
		if calls.Add(1) == 1 {
			panic("classifier bug")
		}
		return sluicegrpc.DefaultCodeIsFailure(c)
	}), &calls
}

// isolationOf1 lets one call of resource in flight at a time.
func isolationOf1(t *testing.T, eng *sluice.Engine, resource string) {
	t.Helper()
	mustLoad(t, eng, sluice.Rules{Isolation: []isolation.Rule{{Resource: resource, Threshold: 1}}})
}

// wantContained fails t unless the classifier was called and its panic
// was logged with the resource, the entry released, and the error counted
// as no failure.
func wantContained(t *testing.T, eng *sluice.Engine, res string, calls *atomic.Int64, logs *adaptertest.LogBuffer) {
	t.Helper()
	if calls.Load() != 1 {
		t.Fatalf("the classifier ran %d times, want 1", calls.Load())
	}
	if st := stats(t, eng, res); st.Concurrency != 0 || st.CompleteQPS != 1 || st.ErrorQPS != 0 {
		t.Fatalf("stats %+v, want the entry released with no failure", st)
	}
	if l := logs.String(); !strings.Contains(l, "WithCodeIsFailure function panicked") ||
		!strings.Contains(l, "classifier bug") || !strings.Contains(l, res) {
		t.Fatalf("the panic was not logged with the resource: %q", l)
	}
}

// catch runs f and returns what it panicked with.
func catch(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func TestUnaryClientPanickingClassifierIsContained(t *testing.T) {
	logs := adaptertest.CaptureDefaultLog(t)
	eng, _ := newEngine(t)
	isolationOf1(t, eng, unaryCall)
	var n atomic.Int64
	svc := &testService{unary: func(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
		if n.Add(1) == 1 {
			return nil, status.Error(codes.DataLoss, "lost")
		}
		return &testpb.SimpleResponse{}, nil
	}}
	classifier, calls := panicsOnce()
	e := guardedClient(t, svc, sluicegrpc.WithEngine(eng), classifier)

	var err error
	if v := catch(func() { _, err = e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{}) }); v != nil {
		t.Fatalf("the classifier's panic reached the caller: %v", v)
	}
	wantCode(t, err, codes.DataLoss, "lost")
	wantContained(t, eng, unaryCall, calls, logs)
	if _, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("next call under an isolation rule of 1: %v", err)
	}
}

// recoverers return server interceptors that turn a panic that got past
// the ones after them into codes.Aborted, and record it.
func recoverers(reached *atomic.Value) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	catchTo := func(err *error) {
		if v := recover(); v != nil {
			reached.Store(v)
			*err = status.Error(codes.Aborted, "recovered")
		}
	}
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
			defer catchTo(&err)
			return h(ctx, req)
		}, func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
			defer catchTo(&err)
			return h(srv, ss)
		}
}

// On the server, a panicking classifier went on up from the interceptor:
// without a recovering interceptor (grpc-go has none), it crashed the
// server.
func TestServerPanickingClassifierIsContained(t *testing.T) {
	for _, kind := range []string{"unary", "stream"} {
		t.Run(kind, func(t *testing.T) {
			logs := adaptertest.CaptureDefaultLog(t)
			eng, _ := newEngine(t)
			var n atomic.Int64
			fail := func() error {
				if n.Add(1) == 1 {
					return status.Error(codes.DataLoss, "lost")
				}
				return nil
			}
			svc := &testService{
				unary: func(context.Context, *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
					if err := fail(); err != nil {
						return nil, err
					}
					return &testpb.SimpleResponse{}, nil
				},
				duplex: func(testpb.TestService_FullDuplexCallServer) error { return fail() },
			}
			var reached atomic.Value
			ru, rs := recoverers(&reached)
			classifier, calls := panicsOnce()
			opts := []sluicegrpc.Option{sluicegrpc.WithEngine(eng), classifier}
			e := start(t, svc, []grpc.ServerOption{
				grpc.ChainUnaryInterceptor(ru, sluicegrpc.UnaryServerInterceptor(opts...)),
				grpc.ChainStreamInterceptor(rs, sluicegrpc.StreamServerInterceptor(opts...)),
			})
			res, call := unaryCall, func() error {
				_, err := e.test.UnaryCall(context.Background(), &testpb.SimpleRequest{})
				return err
			}
			if kind == "stream" {
				res, call = fullDuplex, func() error {
					s, err := e.test.FullDuplexCall(context.Background())
					if err != nil {
						return err
					}
					_, err = s.Recv()
					if err == io.EOF {
						err = nil
					}
					return err
				}
			}
			isolationOf1(t, eng, res)

			err := call()
			if v := reached.Load(); v != nil {
				t.Fatalf("the classifier's panic got past the interceptor: %v (%v)", v, err)
			}
			wantCode(t, err, codes.DataLoss, "lost")
			wantContained(t, eng, res, calls, logs)
			if err := call(); err != nil {
				t.Fatalf("next call under an isolation rule of 1: %v", err)
			}
		})
	}
}

// A stream that fails to open: the classifier ran after the guard had
// stopped watching for panics, so its panic left the entry in flight.
func TestClientStreamOpenFailureWithPanickingClassifier(t *testing.T) {
	logs := adaptertest.CaptureDefaultLog(t)
	eng, _ := newEngine(t)
	isolationOf1(t, eng, fullDuplex)
	classifier, calls := panicsOnce()
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng), classifier)

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the stream fails to open, with codes.Canceled
	var err error
	if v := catch(func() { _, err = e.test.FullDuplexCall(ctx) }); v != nil {
		t.Fatalf("the classifier's panic reached the caller: %v", v)
	}
	wantCode(t, err, codes.Canceled, "")
	wantContained(t, eng, fullDuplex, calls, logs)
	openAndClose(t, e)
}

// openAndClose opens a FullDuplexCall stream (which must be admitted) and
// ends it cleanly.
func openAndClose(t *testing.T, e *env) {
	t.Helper()
	s, err := e.test.FullDuplexCall(context.Background())
	if err != nil {
		t.Fatalf("next stream under an isolation rule of 1: %v", err)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("Recv = %v, want EOF", err)
	}
}

// A stream that ends with an error RecvMsg returns: the classifier's
// panic went on out of RecvMsg with the entry still held.
func TestClientStreamRecvErrorWithPanickingClassifier(t *testing.T) {
	logs := adaptertest.CaptureDefaultLog(t)
	eng, _ := newEngine(t)
	isolationOf1(t, eng, fullDuplex)
	var n atomic.Int64
	svc := &testService{duplex: func(s testpb.TestService_FullDuplexCallServer) error {
		if n.Add(1) == 1 {
			return status.Error(codes.Internal, "broken")
		}
		_, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		return err
	}}
	classifier, calls := panicsOnce()
	e := guardedClient(t, svc, sluicegrpc.WithEngine(eng), classifier)

	s, err := e.test.FullDuplexCall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v := catch(func() { _, err = s.Recv() }); v != nil {
		t.Fatalf("the classifier's panic reached the caller: %v", v)
	}
	wantCode(t, err, codes.Internal, "broken")
	wantContained(t, eng, fullDuplex, calls, logs)
	openAndClose(t, e)
}

// A stream whose context ends: the watcher goroutine exits the entry, and
// a panic in the classifier there crashed the process (on the old code,
// this test takes the test binary down).
func TestClientStreamCancelWithPanickingClassifier(t *testing.T) {
	logs := adaptertest.CaptureDefaultLog(t)
	eng, _ := newEngine(t)
	isolationOf1(t, eng, fullDuplex)
	classifier, calls := panicsOnce()
	e := guardedClient(t, nil, sluicegrpc.WithEngine(eng), classifier)

	ctx, cancel := context.WithCancel(context.Background())
	s, err := e.test.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&testpb.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	cancel() // never call Recv: the watcher ends the entry
	eventually(t, "the stream's entry to exit", func() bool { return stats(t, eng, fullDuplex).Concurrency == 0 })
	wantContained(t, eng, fullDuplex, calls, logs)
	if _, err := s.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancel: %v", err)
	}
	openAndClose(t, e)
}

// panickingStream is a client stream whose RecvMsg or SendMsg panics once.
type panickingStream struct {
	grpc.ClientStream
	recv, send *atomic.Bool // panic on the next call when set
}

func (s *panickingStream) RecvMsg(m any) error {
	if s.recv.CompareAndSwap(true, false) {
		panic("stream bug")
	}
	return s.ClientStream.RecvMsg(m)
}

func (s *panickingStream) SendMsg(m any) error {
	if s.send.CompareAndSwap(true, false) {
		panic("stream bug")
	}
	return s.ClientStream.SendMsg(m)
}

// The streamer and the stream after the interceptor are the user's own
// code (another interceptor): a panic in them goes on to the caller, and
// the entry exits at once, recorded as a failure. Before, a panicking
// RecvMsg or SendMsg kept the entry until the call's context ended, for
// ever with context.Background().
func TestClientStreamPanicBelowReleasesEntry(t *testing.T) {
	for _, where := range []string{"open", "RecvMsg", "SendMsg"} {
		t.Run(where, func(t *testing.T) {
			eng, _ := newEngine(t)
			var open, recv, send atomic.Bool
			switch where {
			case "open":
				open.Store(true)
			case "RecvMsg":
				recv.Store(true)
			case "SendMsg":
				send.Store(true)
			}
			inner := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				if open.CompareAndSwap(true, false) {
					panic("stream bug")
				}
				cs, err := streamer(ctx, desc, cc, method, opts...)
				if err != nil {
					return nil, err
				}
				return &panickingStream{ClientStream: cs, recv: &recv, send: &send}, nil
			}
			e := start(t, nil, nil, grpc.WithChainStreamInterceptor(
				sluicegrpc.StreamClientInterceptor(sluicegrpc.WithEngine(eng)), inner))
			isolationOf1(t, eng, fullDuplex)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			v := catch(func() {
				s, err := e.test.FullDuplexCall(ctx)
				if err != nil {
					t.Errorf("FullDuplexCall: %v", err)
					return
				}
				_ = s.Send(&testpb.StreamingOutputCallRequest{})
				_, _ = s.Recv()
			})
			if v != "stream bug" {
				t.Fatalf("panicked with %v, want the stream's panic to go on", v)
			}
			if st := stats(t, eng, fullDuplex); st.Concurrency != 0 || st.CompleteQPS != 1 || st.ErrorQPS != 1 {
				t.Fatalf("stats %+v, want the entry released and the panic counted", st)
			}
			cancel()
			openAndClose(t, e)
		})
	}
}
