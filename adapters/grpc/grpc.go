// Package sluicegrpc guards gRPC calls with Sluice: server interceptors
// that admit or refuse each incoming call (as an Inbound entry, so system
// rules protect the server), and client interceptors that guard each call
// to a dependency (as an Outbound entry).
//
// Each call is an entry to a resource named, by default, after the call's
// full method ("/grpc.health.v1.Health/Check"). A refused call fails with
// codes.ResourceExhausted (codes.Unavailable when an open circuit breaker
// refused it), never reaching the handler or the network. A call that ends
// with a failing status code (DefaultCodeIsFailure) counts as an error for
// the resource's statistics and circuit breakers. WithSkip exempts calls,
// such as health checks, from all of this.
//
//	eng := sluice.New()
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(sluicegrpc.UnaryServerInterceptor(sluicegrpc.WithEngine(eng))),
//		grpc.ChainStreamInterceptor(sluicegrpc.StreamServerInterceptor(sluicegrpc.WithEngine(eng))),
//	)
//
// A stream is one entry, from its start to its end.
package sluicegrpc

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/adapters/internal/blockmsg"
	"github.com/sluice-go/sluice/adapters/internal/contain"
	"github.com/sluice-go/sluice/core/base"
)

// Option configures an interceptor.
type Option func(*config)

type attachment struct {
	key      any    // boxed once, here, not at each call
	mdKey    string // for a metadata attachment: the key in lower case, as metadata holds it
	metadata bool   // the value is the first metadata value under mdKey
	value    func(ctx context.Context, fullMethod string, req any) any
}

type config struct {
	engine      *sluice.Engine
	skip        func(ctx context.Context, fullMethod string) bool
	resource    func(ctx context.Context, fullMethod string) string
	args        func(ctx context.Context, fullMethod string, req any) []any
	attachments []attachment
	fallback    func(ctx context.Context, fullMethod string, err *sluice.BlockError) error
	isFailure   func(codes.Code) bool
}

func newConfig(opts []Option) *config {
	c := &config{}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	if c.engine == nil {
		c.engine = sluice.Default()
	}
	if c.isFailure == nil {
		c.isFailure = DefaultCodeIsFailure
	}
	return c
}

// WithEngine sets the engine that checks the calls. The default is
// sluice.Default(). A nil e keeps the default.
func WithEngine(e *sluice.Engine) Option { return func(c *config) { c.engine = e } }

// WithSkip sets f to pick the calls that are not guarded at all: a call f
// reports true for goes straight to the handler (server interceptors) or
// the network (client interceptors), with no entry. Such a call is not
// limited by any rule, nor counted in any statistics (neither its
// resource's nor the system-wide inbound figures that system rules read).
// f sees the call's context (with its incoming metadata on the server, its
// outgoing metadata on the client) and full method. Use it for health
// checks, which must answer while the server sheds load, such as
// fullMethod == "/grpc.health.v1.Health/Check". A later WithSkip replaces
// an earlier one; by default, and with a nil f, no call is skipped.
func WithSkip(f func(ctx context.Context, fullMethod string) bool) Option {
	return func(c *config) { c.skip = f }
}

// skips reports whether the call goes through unguarded (WithSkip).
func (c *config) skips(ctx context.Context, method string) bool {
	return c.skip != nil && c.skip(ctx, method)
}

// WithResourceExtractor names the resource of each call. The default is
// the call's full method name, such as "/grpc.health.v1.Health/Check". A nil
// f keeps the default.
func WithResourceExtractor(f func(ctx context.Context, fullMethod string) string) Option {
	return func(c *config) { c.resource = f }
}

// WithArgs gives each entry arguments that hotspot rules can limit on by
// position (ParamIndex). req is the request message of a unary call, and nil
// for a stream. A nil f gives no arguments.
//
// What f allocates is the call's cost: a slice it builds per call (such as
// []any{req.(*pb.GetRequest).GetUserId()}) is one allocation, and each
// value boxed into it that is not a constant or already an interface
// another; the interceptor adds none for up to two arguments (more are
// copied once, as sluice.WithArgs does).
func WithArgs(f func(ctx context.Context, fullMethod string, req any) []any) Option {
	return func(c *config) { c.args = f }
}

// WithMetadataAttachment attaches to each entry, under key, the first
// metadata value under key (metadata keys are case-insensitive): the
// incoming metadata on the server, the outgoing metadata on the client.
// Hotspot rules with ParamKey key limit on it; a call without the key gets
// no attachment, so they do not limit it.
//
// A call with the key costs one small allocation for the value boxed as the
// attachment (hotspot rules keep the values they count as keys, so the box
// cannot live on the stack), on top of what grpc-go's metadata API costs
// to read it: on the server, a copy of the key's values
// (metadata.ValueFromIncomingContext); on the client, a copy of the whole
// outgoing metadata (metadata.FromOutgoingContext), the only way grpc-go
// offers to read it.
func WithMetadataAttachment(key string) Option {
	return func(c *config) {
		c.attachments = append(c.attachments, attachment{key: key, mdKey: strings.ToLower(key), metadata: true})
	}
}

// WithAttachment attaches to each entry, under key, the value f returns
// for the call, for hotspot rules with ParamKey key. req is the request
// message of a unary call, and nil for a stream. A nil result attaches
// nothing. A value f boxes per call (a string it reads from the request,
// say) is an allocation; the interceptor adds none.
func WithAttachment(key string, f func(ctx context.Context, fullMethod string, req any) any) Option {
	return func(c *config) {
		if f != nil {
			c.attachments = append(c.attachments, attachment{key: key, value: f})
		}
	}
}

// WithBlockFallback sets what a refused call returns: the error f returns.
// A status error (status.Error(codes.Unavailable, ...)) is returned as it
// is; any other error is turned into a status error with BlockStatus(err)'s
// code and that error's message, so that the peer never sees
// codes.Unknown. A nil result, or a nil f, falls back to BlockStatus(err).
func WithBlockFallback(f func(ctx context.Context, fullMethod string, err *sluice.BlockError) error) Option {
	return func(c *config) { c.fallback = f }
}

// WithCodeIsFailure sets which status codes a finished call counts as a
// failure, for error statistics and circuit breakers. The default is
// DefaultCodeIsFailure. The code of an error that is not a status error is
// that of status.FromContextError: codes.Canceled for context.Canceled,
// codes.DeadlineExceeded for context.DeadlineExceeded, codes.Unknown
// otherwise. A failing call's error is then given to Permit.SetError, so
// the engine's own classifier (sluice.WithErrorClassifier) has the last
// word. If f panics, the panic is logged to slog.Default() and goes no
// further: the error counts as no failure, the call's entry exits, and the
// call returns its own error as if f had said false.
func WithCodeIsFailure(f func(codes.Code) bool) Option {
	return func(c *config) { c.isFailure = f }
}

// DefaultCodeIsFailure reports whether c says the server or the network
// failed: Unknown, DeadlineExceeded, Internal, Unavailable, DataLoss and
// ResourceExhausted. Codes about the request (InvalidArgument, NotFound,
// PermissionDenied, ...) and codes.Canceled, a caller that gave up, do not
// count.
func DefaultCodeIsFailure(c codes.Code) bool {
	switch c {
	case codes.Unknown, codes.DeadlineExceeded, codes.Internal, codes.Unavailable,
		codes.DataLoss, codes.ResourceExhausted:
		return true
	}
	return false
}

// BlockStatus returns the status error a refused call fails with by
// default: codes.Unavailable when a circuit breaker refused it, and
// codes.ResourceExhausted for every other rule. When the entry was refused
// because the caller's context ended while it waited in a Throttling queue
// (err.Cause is context.Canceled or context.DeadlineExceeded), the code is
// codes.Canceled or codes.DeadlineExceeded instead, as gRPC itself reports
// an abandoned call.
//
// The message names the kind of rule and nothing of the rule itself (not
// the resource, threshold, reason or a custom check's error, which are for
// the service's own logs, through WithBlockFallback): "sluice: blocked by a
// Flow rule", followed by ": context canceled" (or deadline exceeded) for
// an abandoned wait, and, when err.RetryAfter > 0, by " (retry after 1s)";
// the status then also carries an errdetails.RetryInfo detail with that
// delay. BlockStatus(nil) is nil.
func BlockStatus(err *sluice.BlockError) error {
	if err == nil {
		return nil
	}
	code, msg := codes.ResourceExhausted, blockedBy(err.Type)
	switch {
	case errors.Is(err.Cause, context.Canceled):
		code, msg = codes.Canceled, msg+": "+context.Canceled.Error()
	case errors.Is(err.Cause, context.DeadlineExceeded):
		code, msg = codes.DeadlineExceeded, msg+": "+context.DeadlineExceeded.Error()
	case err.Type == sluice.BlockTypeCircuitBreaker:
		code = codes.Unavailable
	}
	if err.RetryAfter <= 0 {
		return status.Error(code, msg)
	}
	st := status.New(code, retryMessage(msg, err.RetryAfter))
	if d, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(err.RetryAfter)}); derr == nil {
		st = d
	}
	return st.Err()
}

// blockedMsgs holds blockedBy of each known block type, so that refusing
// a call costs no allocation for its message.
var blockedMsgs = func() (m [base.BlockTypeCustom + 1]string) {
	for t := range m {
		m[t] = "sluice: " + blockmsg.BlockedBy(base.BlockType(t))
	}
	return m
}()

// blockedBy returns the message of a call refused by a rule of type t:
// "sluice: blocked by a Flow rule".
func blockedBy(t base.BlockType) string {
	if int(t) < len(blockedMsgs) {
		return blockedMsgs[t]
	}
	return "sluice: " + blockmsg.BlockedBy(t)
}

// retryMessage returns msg + " (retry after " + d rounded to the
// millisecond + ")", built in one allocation: the message string.
func retryMessage(msg string, d time.Duration) string {
	var buf [96]byte
	b := append(buf[:0], msg...)
	b = append(b, " (retry after "...)
	b = append(b, d.Round(time.Millisecond).String()...)
	b = append(b, ')')
	return string(b)
}

// entry asks the engine to admit a call. On refusal it returns the error
// the call fails with.
func (c *config) entry(ctx context.Context, method string, req any, traffic sluice.TrafficType, incoming bool) (sluice.Permit, error) {
	res := method
	if c.resource != nil {
		res = c.resource(ctx, method)
	}
	// The options go into an array on the stack, which Entry does not
	// keep: nothing allocates for up to three options besides the
	// traffic type (arguments and attachments).
	var buf [4]sluice.EntryOption
	opts := append(buf[:0], sluice.WithTrafficType(traffic))
	if c.args != nil {
		if args := c.args(ctx, method, req); len(args) > 0 {
			opts = append(opts, sluice.WithArgs(args...))
		}
	}
	for _, a := range c.attachments {
		var v any
		if a.metadata {
			vs := metadataValues(ctx, a.mdKey, incoming)
			if len(vs) == 0 {
				continue
			}
			v = vs[0]
		} else if v = a.value(ctx, method, req); v == nil {
			continue
		}
		opts = append(opts, sluice.WithAttachment(a.key, v))
	}
	p, err := c.engine.Entry(ctx, res, opts...)
	if err == nil {
		return p, nil
	}
	be, ok := err.(*sluice.BlockError)
	if !ok { // the engine returns only *BlockError; kept total all the same
		be = &sluice.BlockError{Resource: res, Reason: "entry refused", Cause: err}
	}
	if c.fallback != nil {
		if ferr := c.fallback(ctx, method, be); ferr != nil {
			if _, isStatus := status.FromError(ferr); !isStatus {
				// A plain error would reach the peer as codes.Unknown.
				ferr = status.Error(status.Code(BlockStatus(be)), ferr.Error())
			}
			return sluice.Permit{}, ferr
		}
	}
	return sluice.Permit{}, BlockStatus(be)
}

func metadataValues(ctx context.Context, key string, incoming bool) []string {
	if incoming {
		return metadata.ValueFromIncomingContext(ctx, key)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	return md.Get(key)
}

// codeOf returns the status code of a call's error.
func codeOf(err error) codes.Code {
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return status.FromContextError(err).Code()
}

// record gives p the call's error if it is a failure. It never panics:
// the WithCodeIsFailure function (and the error's own GRPCStatus method)
// are the user's code, and a panic in them is logged to slog.Default()
// and counts as no failure, as a panicking error classifier does in the
// engine.
func (c *config) record(p sluice.Permit, err error) {
	if err != nil && c.fails(p, err) {
		p.SetError(err)
	}
}

// fails reports whether err is a failure (WithCodeIsFailure), containing a
// panic (see record and contain.Fails).
func (c *config) fails(p sluice.Permit, err error) bool {
	return contain.Fails("sluicegrpc: the WithCodeIsFailure function panicked; the error counts as no failure",
		c.codeFails, p, "error", err)
}

// codeFails applies WithCodeIsFailure to err's code.
func (c *config) codeFails(err error) bool { return c.isFailure(codeOf(err)) }

// guard runs call under p: its error is recorded if it is a failure, and p
// exits when call returns. A call that panics is recorded as errPanicked,
// p exits, and the panic goes on.
func (c *config) guard(p sluice.Permit, call func() error) error {
	returned := false
	defer func() {
		if !returned {
			p.SetError(errPanicked)
		}
		p.Exit()
	}()
	err := call()
	returned = true
	c.record(p, err)
	return err
}

// errPanicked is recorded for a handler or invoker that panicked.
var errPanicked = status.Error(codes.Internal, "sluicegrpc: the call panicked")
