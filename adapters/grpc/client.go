package sluicegrpc

import (
	"context"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/sluice-go/sluice"
)

// UnaryClientInterceptor returns an interceptor that guards every unary
// call the client makes with an Outbound entry. A call WithSkip picks goes
// to the network with no entry. A refused call fails with
// BlockStatus (or the WithBlockFallback error) without reaching the
// network. An admitted call's entry exits when the call returns; its error,
// transport errors included (codes.Unavailable when the server is gone),
// counts as a failure if WithCodeIsFailure says so. An invoker that
// panics (an interceptor after this one) is recorded as a failure, its
// entry exits, and the panic goes on.
func UnaryClientInterceptor(opts ...Option) grpc.UnaryClientInterceptor {
	c := newConfig(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		if c.skips(ctx, method) {
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}
		p, err := c.entry(ctx, method, req, sluice.Outbound, false)
		if err != nil {
			return err
		}
		return c.guard(p, func() error { return invoker(ctx, method, req, reply, cc, callOpts...) })
	}
}

// StreamClientInterceptor returns an interceptor that guards every stream
// the client opens with one Outbound entry, which lasts for the whole
// stream. A stream WithSkip picks opens with no entry (and no watcher). A
// refused stream fails to open, with BlockStatus (or the
// WithBlockFallback error), without reaching the network. The entry exits
// once, at the first of:
//
//   - the stream fails to open;
//   - RecvMsg returns an error: io.EOF is a success, any other error is
//     classified as in UnaryClientInterceptor;
//   - RecvMsg returns the response of a stream whose server sends only one
//     (client-streaming; a success);
//   - SendMsg returns an error other than io.EOF;
//   - the call's context is done (codes.Canceled, not a failure by default,
//     or codes.DeadlineExceeded, a failure by default);
//   - the streamer, or RecvMsg or SendMsg of the stream it returned (the
//     interceptors after this one), panics: the panic is recorded as a
//     failure and goes on to the caller.
//
// These are the ways gRPC itself ends a client stream, so a stream that is
// used as grpc-go requires (read until RecvMsg fails, or cancel the
// context) always exits its entry. A stream left unfinished keeps its
// entry, and its concurrency, until its context is done.
//
// A stream costs one allocation beyond the streamer's and the engine's
// (which allocates nothing for an entry): the wrapper of the stream the
// caller gets, which it may use for as long as it likes (Header, Trailer
// after the end), so it cannot be reused. On a context that can be done
// (ctx.Done() is not nil) the watcher that exits the entry then costs two
// more: its channel and its goroutine's closure. A refused stream costs
// nothing beyond its status error. WithArgs, WithAttachment and
// WithMetadataAttachment cost what they say.
func StreamClientInterceptor(opts ...Option) grpc.StreamClientInterceptor {
	c := newConfig(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		if c.skips(ctx, method) {
			return streamer(ctx, desc, cc, method, callOpts...)
		}
		p, err := c.entry(ctx, method, nil, sluice.Outbound, false)
		if err != nil {
			return nil, err
		}
		// Until the stream holds the entry, it exits here: a panic (or
		// runtime.Goexit) in streamer is recorded as errPanicked, and the
		// panic goes on.
		handedOn, returned := false, false
		defer func() {
			if !handedOn {
				if !returned {
					p.SetError(errPanicked)
				}
				p.Exit()
			}
		}()
		cs, err := streamer(ctx, desc, cc, method, callOpts...)
		returned = true
		if err != nil {
			c.record(p, err)
			return nil, err
		}
		s := &clientStream{ClientStream: cs, c: c, serverStreams: desc.ServerStreams, p: p}
		if done := ctx.Done(); done != nil {
			s.exited = make(chan struct{})
			go s.watch(ctx, done)
		}
		handedOn = true
		return s, nil
	}
}

// clientStream is a client stream whose entry exits when the stream ends.
type clientStream struct {
	grpc.ClientStream
	c             *config
	serverStreams bool

	mu     sync.Mutex
	p      sluice.Permit
	ended  bool          // the entry has exited (p may be the zero Permit from the start)
	exited chan struct{} // closed on exit; nil when no watcher runs
}

// watch exits the entry when the call's context is done, and returns when
// the entry exits.
func (s *clientStream) watch(ctx context.Context, done <-chan struct{}) {
	select {
	case <-done:
		s.exit(status.FromContextError(ctx.Err()).Err())
	case <-s.exited:
	}
}

// exit ends the entry, once, with the stream's outcome (nil for success).
// The entry is taken from s (and the watcher stopped) before the outcome is
// recorded, and Exit is deferred, so that nothing the user's code does
// while recording keeps the entry held.
func (s *clientStream) exit(err error) {
	s.mu.Lock()
	p := s.p
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.p, s.ended = sluice.Permit{}, true
	if s.exited != nil {
		close(s.exited)
	}
	s.mu.Unlock()
	defer p.Exit()
	s.c.record(p, err)
}

// exitIfPanicked, deferred by a method that sets *returned once the
// stream below has returned, exits the entry with errPanicked if it did
// not (it panicked, or called runtime.Goexit); the panic goes on.
func (s *clientStream) exitIfPanicked(returned *bool) {
	if !*returned {
		s.exit(errPanicked)
	}
}

// RecvMsg receives a message, and exits the entry when the stream ends.
func (s *clientStream) RecvMsg(m any) error {
	returned := false
	defer s.exitIfPanicked(&returned)
	err := s.ClientStream.RecvMsg(m)
	returned = true
	switch {
	case err == io.EOF:
		s.exit(nil)
	case err != nil:
		s.exit(err)
	case !s.serverStreams:
		s.exit(nil) // the one response: the stream is over
	}
	return err
}

// SendMsg sends a message, and exits the entry if the stream fails (io.EOF
// only says that the stream ended; RecvMsg tells how).
func (s *clientStream) SendMsg(m any) error {
	returned := false
	defer s.exitIfPanicked(&returned)
	err := s.ClientStream.SendMsg(m)
	returned = true
	if err != nil && err != io.EOF {
		s.exit(err)
	}
	return err
}
