//go:build !race

// The SDK cannot reconnect under the race detector: RpcClient.reconnect
// (common/remote/rpc/rpc_client.go) writes currentConnection while the
// event goroutine (notifyConnectionEvent) reads it, unsynchronised. So the
// tests in which it reconnects are built without -race only; make test runs
// them in a pass of their own without it.

package nacostest_test

import (
	"testing"

	"github.com/sluice-go/sluice/datasource/nacos/nacostest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStopRestart(t *testing.T) {
	t.Parallel()
	srv := nacostest.NewServer(t)
	c := newSDK(t, srv, "")
	latest := listen(t, c, "restart", "G")
	eventually(t, "listener registered", func() bool { return srv.Listeners("", "restart", "G") == 1 })
	httpPort, grpcPort := srv.HTTPPort(), srv.GRPCPort()

	srv.Stop()
	assert.Equal(t, 0, srv.Connections())
	require.NoError(t, srv.Publish("restart", "G", "while down"))
	require.NoError(t, srv.Restart())
	assert.Equal(t, httpPort, srv.HTTPPort())
	assert.Equal(t, grpcPort, srv.GRPCPort())
	eventually(t, "the SDK reconnects and sees the change", func() bool { s, _ := latest(); return s == "while down" })
	eventually(t, "listener registered again", func() bool { return srv.Listeners("", "restart", "G") == 1 })
	settled(t, srv, "restart", "G")
	publishUntil(t, "pushed after restart", func() error { return srv.Publish("restart", "G", "after restart") },
		func() bool { s, _ := latest(); return s == "after restart" })
}
