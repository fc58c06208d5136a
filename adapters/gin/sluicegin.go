// Package sluicegin guards gin routes with Sluice: Middleware turns each
// request into an Inbound entry to a resource named after its route
// pattern, answers a blocked request with 429 Too Many Requests (or with a
// fallback of your own), and records the outcome (a failure status, an
// error added with c.Error, a panic) for error statistics and circuit
// breakers. WithSkip exempts requests such as health checks.
//
//	r := gin.New()
//	r.Use(gin.Recovery(), sluicegin.Middleware(
//		sluicegin.WithEngine(eng),
//		sluicegin.WithHeaderAttachment("X-User-ID"), // for hotspot rules with ParamKey "X-User-ID"
//	))
//	r.GET("/users/:id", getUser) // resource "GET /users/:id"
package sluicegin

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/adapters/internal/contain"
	"github.com/sluice-go/sluice/adapters/internal/httpguard"
	"github.com/sluice-go/sluice/adapters/internal/names"
)

// UnmatchedRoute stands for the route pattern in the resource name of a
// request that matched no route (gin's 404 and 405 handling), as in
// "GET (unmatched)": all such requests share one resource per method (a
// method net/http has no constant for counts as "OTHER"), so probing for
// random paths or methods cannot make the engine track one resource each.
const UnmatchedRoute = httpguard.UnmatchedRoute

// Option configures Middleware.
type Option func(*config)

type config struct {
	engine      *sluice.Engine
	skip        func(*gin.Context) bool
	resource    func(*gin.Context) string
	args        func(*gin.Context) []any
	attachments []attachment
	fallback    func(*gin.Context, *sluice.BlockError)
	isFailure   func(int) bool
}

// attachment is one keyed value to attach to every entry; value reports
// false for no attachment.
type attachment struct {
	key   any // boxed once, here, not at each request
	value func(*gin.Context) (any, bool)
}

// WithEngine makes the middleware use e. The default, and what a nil e
// means, is sluice.Default(), as it is when Middleware is called.
func WithEngine(e *sluice.Engine) Option { return func(c *config) { c.engine = e } }

// WithSkip sets f to pick the requests that are not guarded at all: for a
// request f reports true for, the middleware makes no entry and the later
// handlers run as if it were not there. Such a request is not limited by
// any rule, nor counted in any statistics (neither its route's nor the
// system-wide inbound figures that system rules read). Use it for liveness
// and readiness probes, which must answer while the service sheds load,
// and for debug pages. f sees the matched route in c.FullPath() ("" when
// none matched). A later WithSkip replaces an earlier one; by default, and
// with a nil f, no request is skipped.
func WithSkip(f func(*gin.Context) bool) Option { return func(c *config) { c.skip = f } }

// WithResourceExtractor names each request's resource with f instead of
// the default, the method, a space and the route pattern (c.FullPath(),
// such as "GET /users/:id"), or UnmatchedRoute in place of the pattern
// when no route matched. Whatever f returns is used as is. A nil f keeps
// the default.
func WithResourceExtractor(f func(*gin.Context) string) Option {
	return func(c *config) { c.resource = f }
}

// WithArgs gives each entry the arguments f returns, which hotspot rules
// limit on by position (ParamIndex); see sluice.WithArgs. A later WithArgs
// replaces an earlier one; a nil f gives no arguments (the default).
//
// What f allocates is the request's cost: a slice it builds per request
// (such as []any{c.Param("id")}) is one allocation, and each value boxed
// into it that is not a constant or already an interface another; the
// middleware adds none for up to two arguments (more are copied once, as
// sluice.WithArgs does).
func WithArgs(f func(*gin.Context) []any) Option { return func(c *config) { c.args = f } }

// WithAttachment attaches to each entry, under key, the value f returns
// for the request, which hotspot rules with ParamKey key limit on; see
// sluice.WithAttachment. A nil value from f attaches nothing, so the
// request is not limited by those rules. It may be given several times,
// with different keys; for equal keys, the last one given that attaches a
// value wins. A nil f is ignored. A value f boxes per request (a string it
// builds or reads from the request, say) is an allocation; the middleware
// adds none.
func WithAttachment(key string, f func(*gin.Context) any) Option {
	return func(c *config) {
		if f == nil {
			return
		}
		c.attachments = append(c.attachments, attachment{key: key, value: func(gc *gin.Context) (any, bool) {
			v := f(gc)
			return v, v != nil
		}})
	}
}

// WithHeaderAttachment attaches to each entry, under the key header (as
// given, such as "X-User-ID"), the request's value of that header as a
// string (c.GetHeader(header)). A request without the header, or with an
// empty value, gets no attachment, and so is not limited by hotspot rules
// on it. A request with the header costs one small allocation: its value
// boxed as the attachment (hotspot rules keep the values they count as
// keys, so the box cannot live on the stack).
func WithHeaderAttachment(header string) Option {
	return func(c *config) {
		c.attachments = append(c.attachments, attachment{key: header, value: func(gc *gin.Context) (any, bool) {
			v := gc.GetHeader(header)
			return v, v != ""
		}})
	}
}

// WithParamAttachment attaches to each entry, under the key param, the
// request's path parameter of that name as a string (c.Param(param), such
// as "42" for param "id" on the route "/users/:id"). A request whose route
// has no such parameter, or whose value is empty, gets no attachment. A
// request with the parameter costs one small allocation, its value boxed,
// as for WithHeaderAttachment.
func WithParamAttachment(param string) Option {
	return func(c *config) {
		c.attachments = append(c.attachments, attachment{key: param, value: func(gc *gin.Context) (any, bool) {
			v := gc.Param(param)
			return v, v != ""
		}})
	}
}

// WithBlockFallback makes f answer blocked requests instead of the default
// 429. f gets the block error (read it, never modify it: it may be shared)
// and should write the response and abort; if it does not abort, the
// middleware calls c.Abort() after it, so the route's handlers never run
// for a blocked request. A nil f keeps the default: status 429 Too Many
// Requests, a text body that names the kind of rule and nothing of the
// rule itself ("429 Too Many Requests: blocked by a Flow rule\n"), and,
// when err.RetryAfter > 0, a Retry-After header of that many seconds,
// rounded up (at least 1).
func WithBlockFallback(f func(c *gin.Context, err *sluice.BlockError)) Option {
	return func(c *config) { c.fallback = f }
}

// WithStatusIsFailure sets which response statuses, read with
// c.Writer.Status() after the later handlers have run, count as failures
// of the request in the engine's error statistics and circuit breakers.
// The default, and what a nil f means, is status >= 500. The error
// recorded for such a status passes through the engine's error classifier
// (sluice.WithErrorClassifier) like any other. If f panics, the panic is
// logged to slog.Default() and goes no further: the status counts as no
// failure, the entry exits, and the response is not affected.
func WithStatusIsFailure(f func(status int) bool) Option {
	return func(c *config) { c.isFailure = f }
}

func defaultIsFailure(status int) bool { return status >= http.StatusInternalServerError }

// statusFails reports isFailure(status) for p's request, containing a
// panic in the user's function (see contain.Fails).
func statusFails(isFailure func(int) bool, p sluice.Permit, status int) bool {
	return contain.Fails("sluicegin: the WithStatusIsFailure function panicked; the status counts as no failure",
		isFailure, p, "status", status)
}

// Middleware returns a gin middleware that guards every request it sees
// with an entry to the engine (see WithEngine) and runs the later handlers
// only if the entry passes.
//
// The entry is Inbound (sluice.WithTrafficType(sluice.Inbound)), so system
// rules apply to it, and waits (under a Throttling rule) honour the
// request's context, c.Request.Context(): a client that goes away stops
// waiting. Its resource is named as WithResourceExtractor says, by default
// after the route pattern, such as "GET /users/:id". Use the middleware
// with engine.Use (or on a group) so that it sees the route; with
// engine.Use it also sees the requests that match no route.
//
// A request WithSkip picks goes on with no entry. A blocked request is
// answered as WithBlockFallback says, by default with 429, and the later
// handlers do not run. A passed one runs them (c.Next);
// then, if the status is a failure per WithStatusIsFailure (by default
// 5xx), the last error of c.Errors, or an error naming the status if there
// is none, is recorded as the entry's outcome (a client's bad request, such
// as c.Bind's 400, is no failure of the route); and the entry exits. If a
// later handler panics, the panic is recorded as an error (except
// http.ErrAbortHandler, a client that went away), the entry exits, and the
// panic goes on up to gin.Recovery (or net/http). A panic in the
// WithStatusIsFailure function is contained (see there).
//
// A request costs no allocation beyond gin's, the later handlers' and the
// engine's (which allocates nothing for an entry), except what
// WithHeaderAttachment and WithParamAttachment say, and what WithArgs,
// WithAttachment and WithResourceExtractor functions allocate. The default
// names are built once per method and route.
func Middleware(opts ...Option) gin.HandlerFunc {
	cfg := config{}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.engine == nil {
		cfg.engine = sluice.Default()
	}
	if cfg.resource == nil {
		cfg.resource = routeName
	}
	if cfg.isFailure == nil {
		cfg.isFailure = defaultIsFailure
	}
	if cfg.fallback == nil {
		cfg.fallback = tooManyRequests
	}
	eng, name, isFailure, fallback := cfg.engine, cfg.resource, cfg.isFailure, cfg.fallback
	skip, args, attachments := cfg.skip, cfg.args, cfg.attachments
	return func(c *gin.Context) {
		if skip != nil && skip(c) {
			return // gin runs the later handlers
		}
		// The options go into an array on the stack, which Entry does
		// not keep: nothing allocates for up to three options besides
		// the traffic type (arguments and attachments).
		var buf [4]sluice.EntryOption
		entryOpts := append(buf[:0], sluice.WithTrafficType(sluice.Inbound))
		if args != nil || len(attachments) > 0 {
			if args != nil {
				entryOpts = append(entryOpts, sluice.WithArgs(args(c)...))
			}
			for _, a := range attachments {
				if v, ok := a.value(c); ok {
					entryOpts = append(entryOpts, sluice.WithAttachment(a.key, v))
				}
			}
		}
		resource := name(c)
		p, err := eng.Entry(c.Request.Context(), resource, entryOpts...)
		if err != nil {
			fallback(c, blockError(err, resource))
			if !c.IsAborted() {
				c.Abort()
			}
			return
		}
		completed := false
		defer httpguard.Finish(p, &completed)
		c.Next()
		completed = true
		if status := c.Writer.Status(); statusFails(isFailure, p, status) {
			if len(c.Errors) > 0 {
				p.SetError(c.Errors.Last())
			} else {
				p.SetError(httpguard.StatusErr(status))
			}
		}
	}
}

// blockError returns Entry's error as the *sluice.BlockError it is.
func blockError(err error, resource string) *sluice.BlockError {
	if be, ok := err.(*sluice.BlockError); ok { // errors.As would move be to the heap
		return be
	}
	var be *sluice.BlockError
	if errors.As(err, &be) { // Entry returns only *BlockError; just in case
		return be
	}
	return &sluice.BlockError{Resource: resource, Reason: "entry refused", Cause: err}
}

// routeNames caches the default names. Its pairs are bounded: a method
// and a route registered with gin, or a known method (or "OTHER") and
// UnmatchedRoute.
var routeNames names.Cache

// routeName is the default resource name.
func routeName(c *gin.Context) string {
	if route := c.FullPath(); route != "" {
		return routeNames.Get(c.Request.Method, route, joinName)
	}
	return routeNames.Get(httpguard.KnownMethod(c.Request.Method), UnmatchedRoute, joinName)
}

func joinName(method, route string) string { return method + " " + route }

// tooManyRequests is the default answer to a blocked request.
func tooManyRequests(c *gin.Context, err *sluice.BlockError) {
	httpguard.WriteBlocked(c.Writer, err)
	c.Abort()
}
