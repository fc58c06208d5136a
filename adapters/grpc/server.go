package sluicegrpc

import (
	"context"

	"google.golang.org/grpc"

	"github.com/sluice-go/sluice"
)

// UnaryServerInterceptor returns an interceptor that guards every unary
// call the server handles with an Inbound entry, so that system rules
// apply to it. A call WithSkip picks goes to the handler with no entry. A
// refused call fails with BlockStatus (or the WithBlockFallback
// error) and the handler is not called. An admitted call's entry exits when
// the handler returns; its error counts as a failure if WithCodeIsFailure
// says so. A handler that panics is recorded as a failure, its entry exits,
// and the panic goes on.
//
// The interceptors (server and client, unary and stream, except as
// StreamClientInterceptor says) allocate nothing for a call beyond the
// handler's or invoker's and the engine's (which allocates nothing for an
// entry), except what WithMetadataAttachment says and what WithArgs,
// WithAttachment, WithResourceExtractor and WithBlockFallback functions
// allocate. A refused call costs its status error, as grpc-go builds it
// (with its RetryInfo detail when the block has a RetryAfter), and, for
// such a block, one string: the message, which names the delay.
func UnaryServerInterceptor(opts ...Option) grpc.UnaryServerInterceptor {
	c := newConfig(opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if c.skips(ctx, info.FullMethod) {
			return handler(ctx, req)
		}
		p, err := c.entry(ctx, info.FullMethod, req, sluice.Inbound, true)
		if err != nil {
			return nil, err
		}
		var resp any
		err = c.guard(p, func() (err error) {
			resp, err = handler(ctx, req)
			return err
		})
		return resp, err
	}
}

// StreamServerInterceptor returns an interceptor that guards every stream
// the server handles with one Inbound entry, which lasts from the stream's
// start until its handler returns. Otherwise it behaves as
// UnaryServerInterceptor, with a nil request for WithArgs and WithAttachment.
func StreamServerInterceptor(opts ...Option) grpc.StreamServerInterceptor {
	c := newConfig(opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if c.skips(ss.Context(), info.FullMethod) {
			return handler(srv, ss)
		}
		p, err := c.entry(ss.Context(), info.FullMethod, nil, sluice.Inbound, true)
		if err != nil {
			return err
		}
		return c.guard(p, func() error { return handler(srv, ss) })
	}
}
