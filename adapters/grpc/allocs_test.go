package sluicegrpc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluice-go/sluice"
	sluicegrpc "github.com/sluice-go/sluice/adapters/grpc"
	"github.com/sluice-go/sluice/adapters/internal/adaptertest"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
)

// The allocation tests call each interceptor directly, with a handler,
// invoker or streamer func, and the same func without the interceptor (as
// grpc-go calls it when there is none), and check that the interceptor adds
// no allocation of its own. A real network round trip allocates too much,
// and too unevenly, to tell one allocation from another; the real-server
// tests are in grpc_test.go.

const (
	passing = "/svc.S/Pass"
	hot     = "/svc.S/Hot"
	refused = "/svc.S/Refused"
	failing = "/svc.S/Fail"
)

var (
	boxedTenant any   = "tenant-1" // boxed once, as a user's extractor returns values it holds
	userArgs    []any = []any{boxedTenant, 42_000}
	errInternal       = status.Error(codes.Internal, "boom") // a failure, made once
)

// allocEngine returns an engine with flow rules on the methods the tests
// pass, a flow rule of 0 on refused, and hotspot rules on hot.
func allocEngine(t *testing.T) *sluice.Engine {
	t.Helper()
	eng, _ := newEngine(t)
	var rules sluice.Rules
	for _, res := range []string{passing, hot, failing, "named"} {
		rules.Flow = append(rules.Flow, flow.Rule{Resource: res, Threshold: 1e12})
	}
	rules.Flow = append(rules.Flow, flow.Rule{Resource: refused, Threshold: 0})
	rules.Hotspot = []hotspot.Rule{
		{Resource: hot, ParamIndex: 0, Threshold: 1e12, Duration: time.Second},
		{Resource: hot, ParamKey: "tenant", Threshold: 1e12, Duration: time.Second},
		{Resource: hot, ParamKey: "x-user", Threshold: 1e12, Duration: time.Second},
	}
	mustLoad(t, eng, rules)
	return eng
}

// blockedStatus returns a func that makes the status error the
// interceptors fail a call refused by a Flow rule with, from constants,
// through grpc-go's API as a handler would: the baseline of a refused call.
func blockedStatus(t *testing.T, eng *sluice.Engine) func() error {
	t.Helper()
	var be *sluice.BlockError
	if _, err := eng.Entry(context.Background(), refused); !errors.As(err, &be) {
		t.Fatalf("%s: %v, want a block", refused, err)
	}
	if be.RetryAfter != time.Second {
		t.Fatalf("a Flow block with a RetryAfter of %v, want 1s", be.RetryAfter)
	}
	f := func() error {
		// The message, which names the delay, is built per call: one
		// string, the least a handler needs to answer it.
		var buf [96]byte
		msg := string(append(buf[:0], "sluice: blocked by a Flow rule (retry after 1s)"...))
		st := status.New(codes.ResourceExhausted, msg)
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(be.RetryAfter)}); err == nil {
			st = d
		}
		return st.Err()
	}
	got, want := status.Convert(sluicegrpc.BlockStatus(be)), status.Convert(f())
	if !proto.Equal(got.Proto(), want.Proto()) {
		t.Fatalf("BlockStatus: %v, the baseline %v", got.Proto(), want.Proto())
	}
	return f
}

// option cases shared by the interceptors: each with the allocations it
// adds (see the options' documentation).
type optionCase struct {
	name   string
	method string
	md     metadata.MD // incoming or outgoing, as the interceptor reads
	extra  float64
	opts   []sluicegrpc.Option
}

func optionCases() []optionCase {
	return []optionCase{
		{name: "flow rule", method: passing},
		{name: "resource extractor", method: passing,
			opts: []sluicegrpc.Option{sluicegrpc.WithResourceExtractor(func(context.Context, string) string { return "named" })}},
		{name: "skipped", method: passing,
			opts: []sluicegrpc.Option{sluicegrpc.WithSkip(func(context.Context, string) bool { return true })}},
		{name: "args and attachment", method: hot,
			opts: []sluicegrpc.Option{
				sluicegrpc.WithArgs(func(context.Context, string, any) []any { return userArgs }),
				sluicegrpc.WithAttachment("tenant", func(context.Context, string, any) any { return boxedTenant }),
			}},
		{name: "metadata attachment, key absent", method: hot, md: metadata.Pairs("other", "v"),
			opts: []sluicegrpc.Option{sluicegrpc.WithMetadataAttachment("X-User")}},
		{name: "metadata attachment, key present", method: hot, md: metadata.Pairs("x-user", "u-1"),
			extra: 1, // the value boxed as the attachment; grpc-go's copy of the values is measured apart
			opts:  []sluicegrpc.Option{sluicegrpc.WithMetadataAttachment("X-User")}},
	}
}

// metadataAllocs returns what reading key from ctx's metadata costs in
// grpc-go's API (a copy of the values; on the client, of the whole
// outgoing metadata), which WithMetadataAttachment must call.
func metadataAllocs(ctx context.Context, key string, incoming bool) float64 {
	return testing.AllocsPerRun(adaptertest.AllocRuns, func() {
		if incoming {
			metadata.ValueFromIncomingContext(ctx, key)
		} else {
			md, _ := metadata.FromOutgoingContext(ctx)
			md.Get(key)
		}
	})
}

// caseContext returns ctx with tc's metadata, incoming or outgoing, and
// the allocations the adapter may add to the bare call's: tc.extra, and
// what grpc-go's metadata functions allocate to read the value.
func caseContext(ctx context.Context, tc optionCase, incoming bool) (context.Context, float64) {
	extra := tc.extra
	if tc.md != nil {
		if incoming {
			ctx = metadata.NewIncomingContext(ctx, tc.md)
		} else {
			ctx = metadata.NewOutgoingContext(ctx, tc.md)
		}
		extra += metadataAllocs(ctx, "x-user", incoming)
	}
	return ctx, extra
}

func TestUnaryServerInterceptorAllocatesNothing(t *testing.T) {
	eng := allocEngine(t)
	var req, resp any = "request", "response"
	handler := func(context.Context, any) (any, error) { return resp, nil }
	cases := optionCases()
	cases = append(cases,
		optionCase{name: "failure", method: failing},
		optionCase{name: "refused", method: refused})
	blocked := blockedStatus(t, eng)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, extra := caseContext(context.Background(), tc, true)
			h := handler
			switch tc.method {
			case failing:
				h = func(context.Context, any) (any, error) { return nil, errInternal }
			case refused: // the baseline answers what the interceptor does
				h = func(context.Context, any) (any, error) { return nil, blocked() }
			}
			info := &grpc.UnaryServerInfo{FullMethod: tc.method}
			icpt := sluicegrpc.UnaryServerInterceptor(append([]sluicegrpc.Option{sluicegrpc.WithEngine(eng)}, tc.opts...)...)
			adaptertest.WantExtraAllocs(t, extra,
				func() { _, _ = h(ctx, req) },
				func() { _, _ = icpt(ctx, req, info, h) })
		})
	}
}

// serverStream is a grpc.ServerStream with only a context.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

func TestStreamServerInterceptorAllocatesNothing(t *testing.T) {
	eng := allocEngine(t)
	handler := func(any, grpc.ServerStream) error { return nil }
	cases := append(optionCases(), optionCase{name: "refused", method: refused})
	blocked := blockedStatus(t, eng)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, extra := caseContext(context.Background(), tc, true)
			h := handler
			if tc.method == refused {
				h = func(any, grpc.ServerStream) error { return blocked() }
			}
			ss := &serverStream{ctx: ctx}
			info := &grpc.StreamServerInfo{FullMethod: tc.method}
			icpt := sluicegrpc.StreamServerInterceptor(append([]sluicegrpc.Option{sluicegrpc.WithEngine(eng)}, tc.opts...)...)
			adaptertest.WantExtraAllocs(t, extra,
				func() { _ = h(nil, ss) },
				func() { _ = icpt(nil, ss, info, h) })
		})
	}
}

func TestUnaryClientInterceptorAllocatesNothing(t *testing.T) {
	eng := allocEngine(t)
	var req, reply any = "request", "reply"
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	cases := append(optionCases(), optionCase{name: "failure", method: failing}, optionCase{name: "refused", method: refused})
	blocked := blockedStatus(t, eng)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, extra := caseContext(context.Background(), tc, false)
			inv := invoker
			switch tc.method {
			case failing:
				inv = func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
					return errInternal
				}
			case refused:
				inv = func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return blocked() }
			}
			icpt := sluicegrpc.UnaryClientInterceptor(append([]sluicegrpc.Option{sluicegrpc.WithEngine(eng)}, tc.opts...)...)
			adaptertest.WantExtraAllocs(t, extra,
				func() { _ = inv(ctx, tc.method, req, reply, nil) },
				func() { _ = icpt(ctx, tc.method, req, reply, nil, inv) })
		})
	}
}

// clientStream is a grpc.ClientStream that has ended: RecvMsg says io.EOF.
type clientStream struct{ grpc.ClientStream }

func (clientStream) RecvMsg(any) error { return io.EOF }

func TestStreamClientInterceptorAllocations(t *testing.T) {
	eng := allocEngine(t)
	var cs grpc.ClientStream = clientStream{}
	streamer := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
		return cs, nil
	}
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	cases := append(optionCases(), optionCase{name: "refused", method: refused})
	cases = append(cases, optionCase{name: "cancelable context", method: passing,
		// The context watcher: its channel, and its goroutine's closure
		// (see StreamClientInterceptor).
		extra: 2})
	// Each run yields once, in the baseline too, so that the watcher of
	// the last stream, told to stop, does: the goroutine it ran on is then
	// free for the next one (else, as AllocsPerRun runs on one thread, each
	// watcher would need a new goroutine, an allocation of the runtime's).
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.name == "cancelable context" {
				ctx = cancelable
			}
			ctx, extra := caseContext(ctx, tc, false)
			if tc.method != refused && !(len(tc.opts) > 0 && tc.name == "skipped") {
				extra++ // the stream's wrapper, which the caller holds as long as it likes
			}
			icpt := sluicegrpc.StreamClientInterceptor(append([]sluicegrpc.Option{sluicegrpc.WithEngine(eng)}, tc.opts...)...)
			open := func(open func() (grpc.ClientStream, error)) func() {
				return func() {
					if s, err := open(); err == nil {
						_ = s.RecvMsg(nil)
					}
					runtime.Gosched()
				}
			}
			baseline := open(func() (grpc.ClientStream, error) { return streamer(ctx, desc, nil, tc.method) })
			if tc.method == refused {
				blocked := blockedStatus(t, eng)
				baseline = open(func() (grpc.ClientStream, error) { return nil, blocked() })
			}
			adaptertest.WantExtraAllocs(t, extra, baseline,
				open(func() (grpc.ClientStream, error) { return icpt(ctx, desc, nil, tc.method, streamer) }))
		})
	}
}

// TestStreamClientWatcherEndsForAnUntrackedEntry: a stream whose entry
// passed unchecked (a resource past the engine's bound: the zero Permit)
// still stops its context watcher when it ends, on a context that stays
// live.
func TestStreamClientWatcherEndsForAnUntrackedEntry(t *testing.T) {
	before := goleak.IgnoreCurrent()
	eng := sluice.New(sluice.WithMaxResources(1), sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer eng.Close()
	if p, err := eng.Entry(context.Background(), "the one tracked"); err == nil {
		p.Exit()
	}
	var cs grpc.ClientStream = clientStream{}
	streamer := func(context.Context, *grpc.StreamDesc, *grpc.ClientConn, string, ...grpc.CallOption) (grpc.ClientStream, error) {
		return cs, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	icpt := sluicegrpc.StreamClientInterceptor(sluicegrpc.WithEngine(eng))
	for i := range 50 {
		s, err := icpt(ctx, &grpc.StreamDesc{ServerStreams: true}, nil, fmt.Sprintf("/untracked/%d", i), streamer)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RecvMsg(nil); err != io.EOF {
			t.Fatal(err)
		}
	}
	if err := goleak.Find(before); err != nil {
		t.Fatal(err)
	}
}
