// Package httpguard holds what Sluice's HTTP adapters (net/http and gin)
// share: resource naming for unmatched requests, the default answer to a
// blocked request, the errors they record, and the end of a guarded handler.
package httpguard

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/adapters/internal/blockmsg"
)

// UnmatchedRoute is the route part of the resource name of a request that
// matched no route.
const UnmatchedRoute = "(unmatched)"

// KnownMethod returns m if net/http has a constant for it, else "OTHER":
// made-up methods must not mint resources.
func KnownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// setRetryAfter sets h's Retry-After to d in whole seconds, rounded up (so
// at least 1), when d > 0. Rounding never overflows: the longest duration,
// math.MaxInt64 nanoseconds, says 9223372037.
func setRetryAfter(h http.Header, d time.Duration) {
	if d > 0 {
		s := int64(d / time.Second)
		if d%time.Second != 0 {
			s++
		}
		h.Set("Retry-After", strconv.FormatInt(s, 10))
	}
}

// WriteBlocked writes the default answer to a request be blocked: status
// 429 Too Many Requests, a Retry-After header when be.RetryAfter > 0 (see
// setRetryAfter), and a text body naming only the kind of rule, such as
// "429 Too Many Requests: blocked by a Flow rule\n".
func WriteBlocked(w http.ResponseWriter, be *sluice.BlockError) {
	h := w.Header()
	setRetryAfter(h, be.RetryAfter)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = io.WriteString(w, "429 Too Many Requests: ")
	_, _ = io.WriteString(w, blockmsg.BlockedBy(be.Type))
	_, _ = io.WriteString(w, "\n")
}

// StatusError is recorded for a response whose status counts as a failure.
type StatusError int

func (e StatusError) Error() string {
	return "sluice: response status " + strconv.Itoa(int(e)) + " " + http.StatusText(int(e))
}

// statuses holds each status net/http lets a handler send (100 to 999),
// so that StatusErr can point at one instead of boxing a new value.
var statuses = func() (s [1000]StatusError) {
	for i := range s {
		s[i] = StatusError(i)
	}
	return s
}()

// StatusErr returns the error recorded for a failing status: a
// StatusError, behind a pointer to a shared value for the statuses
// net/http allows, so that recording it allocates nothing.
func StatusErr(status int) error {
	if status >= 0 && status < len(statuses) {
		return &statuses[status]
	}
	return StatusError(status)
}

// ErrPanicked is recorded for a handler that panicked.
var ErrPanicked = errors.New("sluice: handler panicked")

// Finish ends p after a guarded handler. Defer it directly, and set
// *returned once the handler has returned:
//
//	returned := false
//	defer httpguard.Finish(p, &returned)
//	next.ServeHTTP(w, r)
//	returned = true
//
// If the handler panicked (or called runtime.Goexit), the panic is
// recorded as ErrPanicked, except http.ErrAbortHandler (a client that went
// away), p exits, and the panic goes on.
func Finish(p sluice.Permit, returned *bool) {
	if *returned {
		p.Exit()
		return
	}
	v := recover()
	if v != http.ErrAbortHandler {
		p.SetError(ErrPanicked)
	}
	p.Exit()
	if v != nil {
		panic(v)
	}
}
