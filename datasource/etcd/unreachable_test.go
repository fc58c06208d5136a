package etcd

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/etcd/etcdtest"
)

// closedAddr returns a loopback address nobody listens on: a listener's,
// closed.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// silentAddr returns the address of a loopback listener that accepts
// connections and never answers on them, closed with them when the test
// ends.
func silentAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// firstError waits for an error reported to rec that mentions want, and
// returns it.
func firstError(t *testing.T, errs func() []error, want string) error {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("errors reported: %q", errs())
		}
	}()
	var found error
	eventually(t, "an error saying "+want, func() bool {
		for _, err := range errs() {
			if strings.Contains(err.Error(), want) {
				found = err
				return true
			}
		}
		return false
	})
	return found
}

// TestUnreachableSaysWhereAndWhy: a read that no etcd answers is reported
// with the endpoint and what the source found there, not the client's bare
// "context deadline exceeded", and keeps the cause for errors.Is.
func TestUnreachableSaysWhereAndWhy(t *testing.T) {
	t.Parallel()
	refused, silent := closedAddr(t), silentAddr(t)
	for _, tc := range []struct {
		name, endpoint string
		want           string // the error, or for the unknown host its start
		is             error  // what the error wraps
	}{
		{"refused port", refused,
			"etcd: read from " + refused + ": no answer within 300ms: connect: connection refused (nothing listens on that port)",
			syscall.ECONNREFUSED},
		{"unknown host", "sluice-test.invalid:2379",
			"etcd: read from sluice-test.invalid:2379: no answer within 300ms: lookup sluice-test.invalid",
			context.DeadlineExceeded},
		{"port that never answers", silent,
			"etcd: read from " + silent + ": no answer within 300ms: the port accepts connections",
			context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{tc.endpoint}, Logger: zap.NewNop()})
			require.NoError(t, err)
			t.Cleanup(func() { cli.Close() })
			rec := watch(t, New(cli, "/sluice/flow", fast...))
			err = firstError(t, rec.errors, "no answer")
			if tc.name == "unknown host" {
				assert.True(t, strings.HasPrefix(err.Error(), tc.want), "got %q", err)
				var dnsErr *net.DNSError
				require.ErrorAs(t, err, &dnsErr)
				assert.True(t, dnsErr.IsNotFound, "%v", dnsErr)
			} else {
				assert.EqualError(t, err, tc.want)
			}
			assert.ErrorIs(t, err, tc.is)
			assert.ErrorIs(t, err, context.DeadlineExceeded, "the read's own error stays in the chain")
			assert.Empty(t, rec.states())
		})
	}
}

// TestStoppedServerSaysWhereAndWhy stops the server under a binding: the
// binding's SourceError names the key once, the endpoint, and the refused
// connection.
func TestStoppedServerSaysWhereAndWhy(t *testing.T) {
	t.Parallel()
	srv, _, err := stopUnderBinding(t)
	assert.EqualError(t, err, "datasource: etcd /flow: etcd: read from "+srv.Endpoint()+
		": no answer within 300ms: connect: connection refused (nothing listens on that port)")
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED))
}

// stopUnderBinding binds /flow, holding rulesA10, on a new server, and
// stops the server: it returns the server, the binding and the first error
// the binding reports that says the connection is refused, having checked
// that the error is a *datasource.SourceError and that a:10 stays in force.
func stopUnderBinding(t *testing.T) (*etcdtest.Server, *binding, error) {
	t.Helper()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	put(t, cli, "/flow", rulesA10)
	bd := bind(t, New(cli, "/flow", fast...), datasource.Config{})
	bd.waitFlow(t, "a:10")

	srv.Stop()
	err := firstError(t, bd.errors, "connection refused")
	var serr *datasource.SourceError
	require.ErrorAs(t, err, &serr)
	assert.Equal(t, "a:10", bd.flow(), "the rules stay in force while the server is down")
	return srv, bd, err
}
