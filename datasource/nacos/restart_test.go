//go:build !race

// The SDK cannot reconnect under the race detector: RpcClient.reconnect
// (common/remote/rpc/rpc_client.go) writes currentConnection while the
// event goroutine (notifyConnectionEvent) reads it, unsynchronised. So the
// tests in which it reconnects are built without -race only; make test runs
// them in a pass of their own without it.

package nacos_test

import (
	"sync"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/nacos"
	"github.com/stretchr/testify/require"
)

func TestServerRestart(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	srv := be.fake(t)
	id := be.dataID(t)
	require.NoError(t, srv.Publish(id, "", rules10))
	var mu sync.Mutex
	var srcErrs int
	eng, b := bind(t, be.client(t), id, datasource.Config{OnError: func(error) {
		mu.Lock()
		srcErrs++
		mu.Unlock()
	}}, nacos.WithReconcileInterval(time.Hour))
	require.NoError(t, wait(t, b))
	eventually(t, "listener registered", func() bool { return srv.Listeners("", id, "") == 1 })

	srv.Stop()
	require.NoError(t, srv.Restart())
	require.NoError(t, srv.Publish(id, "", rules(20)))
	// The SDK reconnects, listens again, and its listen round reports the
	// md5 that changed.
	eventually(t, "change after restart", func() bool { return threshold(eng) == 20 })
}
