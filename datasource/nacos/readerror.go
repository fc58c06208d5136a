package nacos

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-go/sluice/datasource/internal/probe"
)

// sdkReadFailed starts the SDK's error for a read the server did not
// answer, with snapshots turned off (clients/config_client/config_client.go,
// getConfigInner); what went wrong follows it.
const sdkReadFailed = "get config from remote nacos server fail, and is not allowed to read local file, err:"

// sdkNotConnected starts the SDK's error for a read made while it has no
// connection to any server (common/remote/rpc/rpc_client.go, Request). It
// does not say why it has none.
const sdkNotConnected = "client not connected"

// probeTimeout bounds the dial of each server's gRPC port that readError
// makes to say why the SDK is not connected.
const probeTimeout = time.Second

// readError says which servers a failed read went to and what the SDK said,
// without its boilerplate. The source's name (the config) is not repeated:
// the binding names it. When the SDK says only that it is not connected,
// readError dials each server's gRPC port and adds what it found (a refused
// connection, an unknown host, or a port that accepts connections). The
// error wraps err and each dial's error.
func (c *Client) readError(err error) error {
	e := &probe.Error{Errs: []error{err}}
	e.Msg = "nacos: read"
	if len(c.servers) > 0 {
		addrs := make([]string, len(c.servers))
		for i, s := range c.servers {
			addrs[i] = s.Addr
		}
		e.Msg += " from " + strings.Join(addrs, ", ")
	}
	said := strings.TrimPrefix(err.Error(), sdkReadFailed)
	e.Msg += ": " + said
	if !strings.HasPrefix(said, sdkNotConnected) {
		return e
	}
	for _, s := range c.servers {
		host, _, _ := net.SplitHostPort(s.Addr) // checked by NewClient
		e.Msg += "; gRPC port " + strconv.Itoa(s.GRPCPort) + ": "
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		found, derr := probe.Dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(s.GRPCPort)))
		cancel()
		e.Msg += found
		if derr != nil {
			e.Errs = append(e.Errs, derr)
		}
	}
	return e
}
