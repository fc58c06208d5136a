package sluicehttp

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/adapters/internal/httpguard"
)

// RoundTripper returns a transport that guards each request sent through
// next (nil means http.DefaultTransport) with an Outbound entry, on
// r.Context(). The resource is named by WithResourceExtractor, by default
// r.Method + " " + r.URL.Host ("GET api.example.com:8080"). A request
// WithSkip picks goes to next with no entry.
//
// A blocked request is not sent: its body is closed and RoundTrip returns
// WithClientBlockFallback's result, by default a nil response and the
// *sluice.BlockError (an http.Client wraps it in a *url.Error; errors.As and
// errors.Is(err, sluice.ErrBlocked) see through it). A sent request's entry
// exits at once when next returns an error, recorded as a failure (the
// engine's error classifier decides: sluice.DefaultIsFailure ignores
// context.Canceled). Otherwise it exits when the response body is read to
// its end, fails, or is closed (at once for a response with no body or a
// 101 Switching Protocols), with a failure recorded when the status counts
// as one (WithStatusIsFailure) or the body fails. Close every response
// body, as net/http requires, or the entry stays in flight.
//
// A panic in next's RoundTrip or in its response body's Read, the user's
// own transport, exits the entry at once, recorded as a failure, and goes
// on to the caller. A panic in the WithStatusIsFailure function is
// contained: it is logged (to slog.Default()), the status counts as no
// failure, and the response is returned as if the function had said
// false. A next that returns a nil response with a nil error (which breaks
// the http.RoundTripper contract) has that passed on to the caller and
// counted as a failure.
//
// A request costs one allocation beyond next's and the engine's (which
// allocates nothing for an entry): the wrapper of a response body, which
// exits the entry when the body is done (the caller may hold the body,
// and Close it again, for as long as it likes, so the wrapper cannot be
// reused). A response without a body (http.NoBody) costs none, nor does a
// blocked request. WithHeaderAttachment, WithArgs and WithAttachment cost
// what they say. The default names are built once per method and host.
func RoundTripper(next http.RoundTripper, opts ...Option) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{c: newConfig(opts), next: next}
}

type transport struct {
	c    *config
	next http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	c := t.c
	if c.skips(r) {
		return t.next.RoundTrip(r)
	}
	var name string
	if c.extract != nil {
		name = c.extract(r)
	} else {
		name = c.names.Get(r.Method, r.URL.Host, joinClientName)
	}
	var buf [4]sluice.EntryOption
	p, err := c.engine.Entry(r.Context(), name, c.entryOptions(buf[:0], r, sluice.Outbound)...)
	if err != nil {
		// A RoundTripper must close the request body, even on error.
		if r.Body != nil {
			r.Body.Close()
		}
		be := blockError(err, name)
		if c.clientFallback != nil {
			if res, ferr := c.clientFallback(r, be); res != nil || ferr != nil {
				return res, ferr
			}
		}
		return nil, be
	}
	// Until the entry is handed on to the body or has exited, a panic (or
	// runtime.Goexit) in next exits it here, recorded as a failure; the
	// panic goes on to the caller.
	handedOn, returned := false, false
	defer func() {
		if !handedOn {
			if !returned {
				p.SetError(httpguard.ErrPanicked)
			}
			p.Exit()
		}
	}()
	res, err := t.next.RoundTrip(r)
	returned = true
	if err != nil {
		p.SetError(err)
		return res, err
	}
	if res == nil {
		// next broke the RoundTripper contract; pass it on as it came (an
		// http.Client reports it) and count it as a failure.
		p.SetError(errNoResponse)
		return nil, nil
	}
	if c.statusFails(p, res.StatusCode) {
		p.SetError(httpguard.StatusErr(res.StatusCode))
	}
	if res.Body == nil || res.Body == http.NoBody || res.StatusCode == http.StatusSwitchingProtocols {
		return res, nil
	}
	res.Body = &body{rc: res.Body, p: p}
	handedOn = true
	return res, nil
}

// joinClientName builds the default name of a client request, which
// RoundTripper caches for each method and host (up to names.MaxCached).
func joinClientName(method, host string) string { return method + " " + host }

// errNoResponse is recorded for a next transport that returned neither a
// response nor an error.
var errNoResponse = errors.New("sluicehttp: the transport returned a nil response and a nil error")

// body exits its entry when it is read to its end, fails or is closed.
type body struct {
	rc   io.ReadCloser
	p    sluice.Permit
	done atomic.Bool // the entry has exited; Close may race with Read
}

func (b *body) Read(buf []byte) (n int, err error) {
	returned := false
	defer func() {
		if !returned { // the transport's body panicked: a failure; the panic goes on
			b.exit(httpguard.ErrPanicked)
		}
	}()
	n, err = b.rc.Read(buf)
	returned = true
	if err != nil {
		b.exit(err)
	}
	return n, err
}

func (b *body) Close() error {
	b.exit(nil) // first, so a Read failing because of Close is no failure
	return b.rc.Close()
}

func (b *body) exit(err error) {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	if err != io.EOF {
		b.p.SetError(err)
	}
	b.p.Exit()
}
