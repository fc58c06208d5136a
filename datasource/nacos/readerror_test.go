//go:build !race

// The SDK reconnects once the server stops, and its reconnect races under
// the race detector (see restart_test.go): make test runs this test in the
// pass without -race.

package nacos_test

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluice-go/sluice/datasource"
)

// TestUnreachableSaysWhereAndWhy reads through a client whose server is
// down: the binding's error names the config once, the server, what the
// SDK said without its boilerplate, and what a dial of the server's gRPC
// port found.
func TestUnreachableSaysWhereAndWhy(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	srv := be.fake(t)
	srv.Stop()
	const id = "sluice-unreachable" // not be.dataID: its cleanup deletes through the server
	var (
		mu   sync.Mutex
		errs []error
	)
	_, b := bind(t, be.client(t), id, datasource.Config{OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}}, quick)
	eventually(t, "an error reported", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) > 0 })
	mu.Lock()
	err := errs[0]
	mu.Unlock()

	msg := err.Error()
	assert.Equal(t, 1, strings.Count(msg, id), "the config is named once: %s", msg)
	assert.True(t, strings.HasPrefix(msg, "datasource: nacos public/DEFAULT_GROUP/"+id+
		": nacos: read from "+srv.Addr()+": client not connected"), "%s", msg)
	assert.NotContains(t, msg, "get config from remote nacos server fail")
	assert.True(t, strings.HasSuffix(msg, "; gRPC port "+strconv.Itoa(srv.GRPCPort())+
		": connect: connection refused (nothing listens on that port)"), "%s", msg)
	var serr *datasource.SourceError
	require.ErrorAs(t, err, &serr)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED))
	require.NoError(t, b.Close())
}
