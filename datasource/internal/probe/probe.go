// Package probe says why a server does not answer, for the error messages
// of the rule sources (datasource/etcd, datasource/nacos).
package probe

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// Dial dials addr on network within ctx, closes the connection, and says
// what it found: "the port accepts connections", "connect: connection
// refused (nothing listens on that port)", or the dial's error without the
// address (which the caller's message already names), such as "lookup
// x.invalid: no such host". It returns the dial's error, or nil.
func Dial(ctx context.Context, network, addr string) (found string, err error) {
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
		return op.Err.Error(), err
	}
	return err.Error(), err
}

// Error is a read that failed, with what the probes found: Msg is its
// message, and it wraps each of Errs (the read's error, then each dial's).
type Error struct {
	Msg  string
	Errs []error
}

// Error returns Msg.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns Errs.
func (e *Error) Unwrap() []error { return e.Errs }
