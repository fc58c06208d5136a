package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sluice-go/sluice/datasource/internal/probe"
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
	e := &probe.Error{Errs: []error{err}}
	var found []string
	for _, ep := range eps {
		msg, cause := dialEndpoint(dctx, ep)
		if len(eps) > 1 {
			msg = ep + ": " + msg
		}
		found = append(found, msg)
		if cause != nil {
			e.Errs = append(e.Errs, cause)
		}
	}
	e.Msg = fmt.Sprintf("etcd: read from %s: no answer within %v: %s", where, s.timeout, strings.Join(found, "; "))
	return e
}

// dialEndpoint dials the address of endpoint ep and says what it found,
// returning the dial's error, if any.
func dialEndpoint(ctx context.Context, ep string) (string, error) {
	network, addr := dialAddr(ep)
	return probe.Dial(ctx, network, addr)
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
