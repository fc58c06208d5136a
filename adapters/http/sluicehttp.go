// Package sluicehttp guards net/http servers and clients with Sluice.
//
// Middleware guards each request a server handles with an Inbound entry
// (so system rules apply to it), answering 429 Too Many Requests when a rule
// blocks it; WithSkip exempts requests such as health checks.
// RoundTripper guards each request a client sends with an
// Outbound entry, returning the *sluice.BlockError when a rule blocks it.
// Both count failures (5xx statuses, panics, transport errors) for circuit
// breakers and error statistics.
//
// Resource names are kept bounded: a server request is named by its method
// and its ServeMux route pattern ("GET /items/{id}"), never its path, and a
// client request by its method and host.
package sluicehttp

import (
	"errors"
	"net/http"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/adapters/internal/contain"
	"github.com/sluice-go/sluice/adapters/internal/httpguard"
	"github.com/sluice-go/sluice/adapters/internal/names"
)

// UnmatchedRoute is the route part of the resource name of a server request
// with no route pattern: one that no ServeMux pattern matches (a 404, a
// 405), or one served by a handler that is not a ServeMux. Such a request
// is named r.Method + " " + UnmatchedRoute, for example "GET (unmatched)".
const UnmatchedRoute = httpguard.UnmatchedRoute

// Option configures Middleware or RoundTripper.
type Option func(*config)

type config struct {
	engine          *sluice.Engine
	skip            func(*http.Request) bool
	extract         func(*http.Request) string
	args            func(*http.Request) []any
	attachments     []attachment
	blockFallback   func(http.ResponseWriter, *http.Request, *sluice.BlockError)
	clientFallback  func(*http.Request, *sluice.BlockError) (*http.Response, error)
	statusIsFailure func(int) bool
	names           names.Cache // RoundTripper's default names
}

type attachment struct {
	key any // boxed once, here, not at each request
	f   func(*http.Request) any
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
	if c.statusIsFailure == nil {
		c.statusIsFailure = defaultStatusIsFailure
	}
	return c
}

// WithEngine sets the engine that checks the entries. The default, and what
// a nil e means, is sluice.Default().
func WithEngine(e *sluice.Engine) Option { return func(c *config) { c.engine = e } }

// WithSkip sets f to pick the requests that are not guarded at all:
// Middleware passes a request f reports true for straight to the handler,
// and RoundTripper to the next transport, with no entry. Such a request is
// not limited by any rule, nor counted in any statistics (neither its
// resource's nor the system-wide inbound figures that system rules read).
// Use it for liveness and readiness probes, which must answer while the
// service sheds load, and for debug pages. Middleware calls f after it has
// asked a wrapped *http.ServeMux for the request's pattern, so r.Pattern is
// set as for WithResourceExtractor. A later WithSkip replaces an earlier
// one; by default, and with a nil f, no request is skipped.
func WithSkip(f func(*http.Request) bool) Option { return func(c *config) { c.skip = f } }

// skips reports whether r goes through unguarded (WithSkip).
func (c *config) skips(r *http.Request) bool { return c.skip != nil && c.skip(r) }

// WithResourceExtractor sets how a request is named as a resource,
// replacing the defaults (DefaultResourceName on the server side,
// r.Method + " " + r.URL.Host on the client side). Keep the number of names
// bounded: never use the raw path or query. When Middleware wraps a
// *http.ServeMux, r.Pattern already holds the pattern that will serve the
// request when f is called (Go 1.23 and later). A nil f restores the default.
func WithResourceExtractor(f func(*http.Request) string) Option {
	return func(c *config) { c.extract = f }
}

// WithArgs sets f to give each request's entry its arguments, which hotspot
// rules limit on by position (ParamIndex), as sluice.WithArgs does. A later
// WithArgs replaces an earlier one; by default, and with a nil f, entries
// have no arguments.
//
// What f allocates is the request's cost: a slice it builds per request
// (such as []any{r.Header.Get("X-User")}) is one allocation, and each
// value boxed into it that is not a constant or already an interface
// another; the middleware adds none for up to two arguments (more are
// copied once, as sluice.WithArgs does).
func WithArgs(f func(*http.Request) []any) Option { return func(c *config) { c.args = f } }

// WithAttachment sets f to give each request's entry an attachment under
// key, which hotspot rules with ParamKey == key limit on, as
// sluice.WithAttachment does. It may be given several times, for several
// keys; a later one with the same key wins. When f returns nil the entry has
// no attachment under key, and rules on key do not limit the request. A nil
// f is ignored. A value f boxes per request (a string it builds or reads
// from the request, say) is an allocation; the middleware adds none.
func WithAttachment(key string, f func(*http.Request) any) Option {
	return func(c *config) {
		if f != nil {
			c.attachments = append(c.attachments, attachment{key, f})
		}
	}
}

// WithHeaderAttachment attaches each request's header value as a string
// under the key header, exactly as given (a hotspot rule with
// ParamKey: "X-User" limits each distinct r.Header.Get("X-User")). A
// request without the header, or with an empty value, has no attachment and
// is not limited by such rules. A request with the header costs one small
// allocation: its value boxed as the attachment (hotspot rules keep the
// values they count as keys, so the box cannot live on the stack).
func WithHeaderAttachment(header string) Option {
	return WithAttachment(header, func(r *http.Request) any {
		if v := r.Header.Get(header); v != "" {
			return v
		}
		return nil
	})
}

// WithBlockFallback sets what Middleware answers to a blocked request,
// replacing the default 429 (see Middleware). The handler is not called. A
// nil f restores the default.
func WithBlockFallback(f func(w http.ResponseWriter, r *http.Request, err *sluice.BlockError)) Option {
	return func(c *config) { c.blockFallback = f }
}

// WithClientBlockFallback sets what RoundTripper returns for a blocked
// request instead of the default nil response and the *sluice.BlockError.
// The request body is already closed when f is called. A result of a nil
// response and a nil error returns the *sluice.BlockError. A nil f restores
// the default.
func WithClientBlockFallback(f func(r *http.Request, err *sluice.BlockError) (*http.Response, error)) Option {
	return func(c *config) { c.clientFallback = f }
}

// WithStatusIsFailure sets which response statuses count as failures, for
// circuit breakers and error statistics (subject to the engine's error
// classifier, which sees an error naming the status). The default, and
// what a nil f means, is status >= 500. If f panics, the panic is logged
// to slog.Default() and the status counts as no failure; the request's
// answer is not affected.
func WithStatusIsFailure(f func(status int) bool) Option {
	return func(c *config) { c.statusIsFailure = f }
}

func defaultStatusIsFailure(status int) bool { return status >= 500 }

// DefaultResourceName is Middleware's default resource name for a request:
// r.Pattern when the pattern names a method ("GET /items/{id}"), else
// r.Method + " " + r.Pattern ("GET /items/{id}" for the pattern
// "/items/{id}"), else, when r.Pattern is empty, r.Method + " " +
// UnmatchedRoute. A method net/http has no constant for (such as "PURGE")
// is written "OTHER", so that clients cannot make up resources. Middleware
// wrapping a *http.ServeMux uses the pattern the mux will match even though
// r.Pattern is only set inside the mux.
func DefaultResourceName(r *http.Request) string {
	return serverName(r.Method, requestPattern(r))
}

// serverNames caches the names serverName builds. Its pairs are bounded:
// a known method (or "OTHER") and a pattern registered with a ServeMux.
var serverNames names.Cache

// serverName names a server request by its method and route pattern. A
// pattern that names its method, with one space after it, is the name;
// other names are built once, and then come from serverNames.
func serverName(method, pattern string) string {
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; c == '/' || c == ' ' || c == '\t' {
			if c == ' ' && i > 0 && i+1 < len(pattern) && pattern[i+1] != ' ' && pattern[i+1] != '\t' {
				return pattern
			}
			break
		}
	}
	return serverNames.Get(httpguard.KnownMethod(method), pattern, joinServerName)
}

// joinServerName builds serverName(method, pattern).
func joinServerName(method, pattern string) string {
	if pattern == "" {
		return httpguard.KnownMethod(method) + " " + UnmatchedRoute
	}
	// A pattern is "[METHOD ][HOST]/[PATH]": a method is followed by
	// spaces or tabs, before any slash.
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '/':
			return httpguard.KnownMethod(method) + " " + pattern
		case ' ', '\t':
			j := i + 1
			for j < len(pattern) && (pattern[j] == ' ' || pattern[j] == '\t') {
				j++
			}
			if pattern[i] == ' ' && j == i+1 {
				return pattern
			}
			return pattern[:i] + " " + pattern[j:]
		}
	}
	return httpguard.KnownMethod(method) + " " + pattern
}

// entryOptions appends the options of r's entry to buf.
func (c *config) entryOptions(buf []sluice.EntryOption, r *http.Request, t sluice.TrafficType) []sluice.EntryOption {
	buf = append(buf, sluice.WithTrafficType(t))
	// Nothing here allocates but what the user's functions do (and
	// WithArgs for more than two arguments): the options go into buf, an
	// array on the caller's stack that Entry does not keep.
	if c.args != nil {
		buf = append(buf, sluice.WithArgs(c.args(r)...))
	}
	for i := range c.attachments {
		if v := c.attachments[i].f(r); v != nil {
			buf = append(buf, sluice.WithAttachment(c.attachments[i].key, v))
		}
	}
	return buf
}

// blockError returns err as a *sluice.BlockError.
func blockError(err error, resource string) *sluice.BlockError {
	if be, ok := err.(*sluice.BlockError); ok { // what Entry returns; errors.As would move be to the heap
		return be
	}
	var be *sluice.BlockError
	if errors.As(err, &be) {
		return be
	}
	return &sluice.BlockError{Resource: resource, Reason: "entry refused", Cause: err}
}

// statusFails reports whether status is a failure of p's request
// (WithStatusIsFailure), containing a panic in the user's function (see
// contain.Fails).
func (c *config) statusFails(p sluice.Permit, status int) bool {
	return contain.Fails("sluicehttp: the WithStatusIsFailure function panicked; the status counts as no failure",
		c.statusIsFailure, p, "status", status)
}
