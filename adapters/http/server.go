package sluicehttp

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/adapters/internal/httpguard"
)

// Middleware returns middleware that guards each request with an Inbound
// entry (so system rules apply), on r.Context(): a Throttling wait ends when
// the client goes away. The resource is named by WithResourceExtractor, by
// default DefaultResourceName; when the wrapped handler is a
// *http.ServeMux, the middleware first asks it (ServeMux.Handler) for the
// pattern that will serve the request. A nil handler means
// http.DefaultServeMux.
//
// A request WithSkip picks goes to the handler with no entry. A blocked
// request is answered by WithBlockFallback, by default with 429 Too Many
// Requests, a text body that names the kind of rule and nothing of the
// rule itself ("429 Too Many Requests: blocked by a Flow rule\n") and,
// when the block error's RetryAfter is positive, a Retry-After header of
// that many seconds rounded up; the handler is not called. A passed request's entry exits when the
// handler returns, with a failure recorded when its status counts as one
// (WithStatusIsFailure; a handler that writes nothing sends 200) or when it
// panics (the panic goes on to net/http); a panic with http.ErrAbortHandler,
// a client that went away, is no failure. A panic in the WithStatusIsFailure
// function is contained: it is logged (to slog.Default()), the status
// counts as no failure, and the answer the handler wrote goes out.
//
// A passed request costs no allocation beyond the handler's and the
// engine's (which allocates nothing for an entry), except: a request with
// a WithHeaderAttachment header (see there) or with what WithArgs and
// WithAttachment functions allocate; and, when the middleware wraps a
// *http.ServeMux, the mux's own routing allocations for a pattern with
// wildcards ("/items/{id}"), which the middleware's ServeMux.Handler call
// makes once more before the mux makes them (ServeMux has no other way to
// tell the pattern before it runs the handler). Wrapping each route's
// handler inside the mux instead, mux.Handle("GET /items/{id}",
// mw(getItem)), reads the pattern the mux has set and routes once.
//
// The http.ResponseWriter the handler gets, which records the status, is
// reused for a later request once the handler has returned (not after a
// panic or a Hijack): as net/http requires, a handler must not use it after
// it returns.
func Middleware(opts ...Option) func(http.Handler) http.Handler {
	c := newConfig(opts)
	return func(next http.Handler) http.Handler {
		if next == nil {
			next = http.DefaultServeMux
		}
		mux, _ := next.(*http.ServeMux)
		return &handler{c: c, next: next, mux: mux}
	}
}

type handler struct {
	c    *config
	next http.Handler
	mux  *http.ServeMux // next, if it is a ServeMux
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.c
	next := h.next
	pattern := requestPattern(r)
	if pattern == "" && h.mux != nil {
		var mh http.Handler
		mh, pattern = h.mux.Handler(r)
		if isSlashRedirect(pattern, r.URL.Path) {
			// ServeMux's redirect to the path with a slash, which it
			// reports as the pattern: a concrete path, not a route.
			pattern = ""
		}
		if pattern == "" && r.RequestURI != "*" {
			// No route: mh is the mux's 404, 405 or redirect handler,
			// which ServeMux.ServeHTTP would find again and call with
			// r as it is (no pattern, no path values). Calling it here
			// spares routing r twice, which for these answers allocates.
			next = mh
		}
		setRequestPattern(r, pattern)
	}
	if c.skips(r) {
		next.ServeHTTP(w, r)
		return
	}
	var name string
	if c.extract != nil {
		name = c.extract(r)
	} else {
		name = serverName(r.Method, pattern)
	}
	var buf [4]sluice.EntryOption
	p, err := c.engine.Entry(r.Context(), name, c.entryOptions(buf[:0], r, sluice.Inbound)...)
	if err != nil {
		be := blockError(err, name)
		if c.blockFallback != nil {
			c.blockFallback(w, r, be)
		} else {
			httpguard.WriteBlocked(w, be)
		}
		return
	}
	rw := writers.Get().(*responseWriter)
	rw.w = w
	returned := false
	defer httpguard.Finish(p, &returned)
	next.ServeHTTP(rw, r)
	returned = true
	status, hijacked := rw.status, rw.hijacked
	if !hijacked {
		// The handler is done with rw (net/http's contract); after a
		// Hijack it may still hold it, with the connection, so it is
		// left to the garbage collector, as it is after a panic.
		*rw = responseWriter{}
		writers.Put(rw)
		if status == 0 {
			status = http.StatusOK
		}
		if c.statusFails(p, status) {
			p.SetError(httpguard.StatusErr(status))
		}
	}
}

// isSlashRedirect reports whether pattern is path with a slash added,
// which ServeMux.Handler reports for its redirect from /tree to /tree/.
func isSlashRedirect(pattern, path string) bool {
	return len(pattern) == len(path)+1 && pattern[len(path)] == '/' && pattern[:len(path)] == path
}

// writers holds the responseWriters of finished requests, for reuse.
var writers = sync.Pool{New: func() any { return new(responseWriter) }}

// responseWriter records the status a handler sends.
type responseWriter struct {
	w        http.ResponseWriter
	status   int // 0 until a final status is sent
	hijacked bool
}

func (rw *responseWriter) Header() http.Header { return rw.w.Header() }

func (rw *responseWriter) WriteHeader(code int) {
	// 1xx statuses other than 101 are informational, not the answer.
	if rw.status == 0 && (code < 100 || code >= 200 || code == http.StatusSwitchingProtocols) {
		rw.status = code
	}
	rw.w.WriteHeader(code)
}

func (rw *responseWriter) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.w.Write(b)
}

// ReadFrom keeps the underlying writer's io.ReaderFrom (sendfile) path.
func (rw *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if rf, ok := rw.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{rw.w}, src)
}

// Flush implements http.Flusher; it does nothing if the underlying writer
// cannot flush.
func (rw *responseWriter) Flush() {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if f, ok := rw.w.(http.Flusher); ok {
		f.Flush()
		return
	}
	_ = http.NewResponseController(rw.w).Flush()
}

// Hijack implements http.Hijacker; it returns http.ErrNotSupported if the
// underlying writer cannot hijack (HTTP/2).
func (rw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(rw.w).Hijack()
	if err == nil {
		rw.hijacked = true
	}
	return conn, brw, err
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (rw *responseWriter) Unwrap() http.ResponseWriter { return rw.w }

type writerOnly struct{ io.Writer }
