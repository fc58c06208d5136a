package etcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// readError says which endpoints a failed read went to and why it failed.
//
// A read that no server answers fails with context.DeadlineExceeded alone,
// whatever the reason: the client waits for a connection until the request
// timeout, and clientv3.ContextError replaces gRPC's error, which said why
// none was made, by the context's. So for that error readError dials each
// endpoint itself, within the request timeout, and says what it found: a
// refused connection, an unknown host, or a port that accepts connections
// but did not answer the read. The error wraps what each dial found and
// err.
func (s *Source) readError(ctx context.Context, err error) error {
	eps := s.client.Endpoints()
	where := strings.Join(eps, ", ")
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return fmt.Errorf("etcd: read from %s: %w", where, err)
	}
	dctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	e := &unreachableError{errs: []error{err}}
	var found []string
	for _, ep := range eps {
		msg, cause := dialEndpoint(dctx, ep)
		if len(eps) > 1 {
			msg = ep + ": " + msg
		}
		found = append(found, msg)
		if cause != nil {
			e.errs = append(e.errs, cause)
		}
	}
	e.msg = fmt.Sprintf("etcd: read from %s: no answer within %v: %s", where, s.timeout, strings.Join(found, "; "))
	return e
}

// unreachableError is a read no server answered: its message says what a
// dial of each endpoint found, and it wraps the read's error and each
// dial's.
type unreachableError struct {
	msg  string
	errs []error
}

func (e *unreachableError) Error() string   { return e.msg }
func (e *unreachableError) Unwrap() []error { return e.errs }

// dialEndpoint dials the address of endpoint ep and closes the connection.
// It says what it found, and returns the dial's error, if any.
func dialEndpoint(ctx context.Context, ep string) (string, error) {
	network, addr := dialAddr(ep)
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil {
		c.Close()
		return "the port accepts connections", nil
	}
	var op *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect: connection refused (nothing listens on that port)", err
	case errors.As(err, &op) && op.Err != nil:
		return op.Err.Error(), err // the error without the address already named
	}
	return err.Error(), err
}

// dialAddr returns the network and address an endpoint is dialled at, as
// the client does: "unix" or "unixs" endpoints ("unix:path",
// "unix://path") at a socket path, others ("host:port", "http://host:port",
// "https://host:port") over TCP.
func dialAddr(ep string) (network, addr string) {
	for _, scheme := range []string{"unixs", "unix"} {
		if rest, ok := strings.CutPrefix(ep, scheme+":"); ok {
			return "unix", strings.TrimPrefix(rest, "//")
		}
	}
	if strings.Contains(ep, "://") {
		if u, err := url.Parse(ep); err == nil {
			return "tcp", u.Host
		}
	}
	return "tcp", ep
}
