package probe

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	if found, err := Dial(ctx, "tcp", open); err != nil || found != "the port accepts connections" {
		t.Fatalf("a listening port: %q, %v", found, err)
	}
	ln.Close() // nothing listens there now
	found, err := Dial(ctx, "tcp", open)
	if !errors.Is(err, syscall.ECONNREFUSED) || found != "connect: connection refused (nothing listens on that port)" {
		t.Fatalf("a closed port: %q, %v", found, err)
	}
	if found, err := Dial(ctx, "unix", "/nonexistent/sluice.sock"); err == nil || strings.Contains(found, "/nonexistent") {
		t.Fatalf("a missing socket: %q, %v (the message must not repeat the address)", found, err)
	}
	e := &Error{Msg: "m", Errs: []error{errors.New("read"), err}}
	if e.Error() != "m" || !errors.Is(e, err) {
		t.Fatalf("Error: %v", e)
	}
}
