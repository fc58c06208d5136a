// Package sdkquiet lets a test's TestMain close nacos-sdk-go config clients
// without tripping a data race inside the SDK (v2.3.5).
//
// CloseClient is not safe while another SDK client of the process may start
// a listen round: RpcClient.Shutdown (common/remote/rpc/rpc_client.go:384)
// deletes the closed client from the package-level clientMap without cMux,
// while every listen round of every client reads that map under cMux
// (ConfigClient.executeConfigListen, clients/config_client/config_client.go:438
// -> ConfigProxy.createRpcClient -> rpc.CreateClient, rpc_client.go:156). A
// client starts a round that reaches clientMap whenever its listen cache
// holds a config it is not in sync with, and a client can still hold one
// after every CancelListenConfig:
//
//   - a listen round in progress writes back the cache entries it read
//     before the cancel (executeConfigListen's loop over cacheMap.Items(),
//     config_client.go:470-481, and refreshContentAndCheck ->
//     executeListener, config_client.go:89);
//   - Shutdown's DISCONNECTED event marks every entry as out of sync
//     (ConfigConnectionEventListener.OnDisConnect), and the listen loop
//     (startInternal, config_client.go:408-421) may run one more round after
//     CloseClient: its select picks a pending listenExecute wake-up as
//     readily as ctx.Done().
//
// Quiesce removes that possibility for a client: once it returns, the
// client's listen cache is empty and its listen loop is past every round
// that could refill it, so none of its rounds reaches createRpcClient again.
// It reads two unexported fields of config_client.ConfigClient (cacheMap,
// listenExecute) and ctx: it is test support for the SDK version this module
// pins, and fails loudly if those fields are not there.
package sdkquiet

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"github.com/nacos-group/nacos-sdk-go/v2/clients/cache"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
)

type internals struct {
	cache cache.ConcurrentMap // the listen cache, by config key
	wake  chan struct{}       // listenExecute: a receive starts a listen round
	ctx   context.Context     // done once CloseClient ran
}

// open reaches c's internals. All three fields are set by the constructor,
// before the client's goroutines start, and never written again.
func open(c config_client.IConfigClient) (internals, error) {
	cc, ok := c.(*config_client.ConfigClient)
	if !ok || cc == nil {
		return internals{}, fmt.Errorf("sdkquiet: %T is not the SDK's *config_client.ConfigClient", c)
	}
	v := reflect.ValueOf(cc).Elem()
	field := func(name string, typ reflect.Type) (unsafe.Pointer, error) {
		f := v.FieldByName(name)
		if !f.IsValid() || f.Type() != typ {
			return nil, fmt.Errorf("sdkquiet: config_client.ConfigClient has no field %s %v: not nacos-sdk-go v2.3.5?", name, typ)
		}
		return unsafe.Pointer(f.UnsafeAddr()), nil
	}
	var in internals
	p, err := field("cacheMap", reflect.TypeFor[cache.ConcurrentMap]())
	if err != nil {
		return in, err
	}
	in.cache = *(*cache.ConcurrentMap)(p)
	if p, err = field("listenExecute", reflect.TypeFor[chan struct{}]()); err != nil {
		return in, err
	}
	in.wake = *(*chan struct{})(p)
	if p, err = field("ctx", reflect.TypeFor[context.Context]()); err != nil {
		return in, err
	}
	in.ctx = *(*context.Context)(p)
	return in, nil
}

// Listening returns how many configs c's listen cache holds: those it listens
// to, and those a listen round wrote back after their CancelListenConfig.
func Listening(c config_client.IConfigClient) (int, error) {
	in, err := open(c)
	if err != nil {
		return 0, err
	}
	return in.cache.Count(), nil
}

// Wake makes c's listen loop start a listen round now rather than at its
// next 5 s tick (it waits for the round in progress, if any, to end first).
func Wake(c config_client.IConfigClient, timeout time.Duration) error {
	in, err := open(c)
	if err != nil {
		return err
	}
	select {
	case in.wake <- struct{}{}:
		return nil
	case <-in.ctx.Done():
		return errors.New("sdkquiet: client closed")
	case <-time.After(timeout):
		return fmt.Errorf("sdkquiet: the listen loop did not wake within %v", timeout)
	}
}

// Quiesce empties c's listen cache and waits until c's listen loop has ended
// every round that could write an entry back, so that c starts no listen
// round that reaches rpc.CreateClient until its next ListenConfig. A client
// already closed is left alone. No config c listened to may change while
// Quiesce runs (a push handled meanwhile can write its entry back too:
// ConfigChangeNotifyRequestHandler, config_proxy.go:221-227); it fails if the
// cache does not stay empty within timeout.
func Quiesce(c config_client.IConfigClient, timeout time.Duration) error {
	in, err := open(c)
	if err != nil {
		return err
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		for _, k := range in.cache.Keys() {
			in.cache.Remove(k)
		}
		// The loop receives a wake-up only between rounds: the first is
		// taken once the round in progress, if any, has ended; the second
		// once the round the first one started has ended. Only rounds and
		// ListenConfig add entries, so if the cache is empty after the
		// second, the round that it starts, and every later one, starts
		// with an empty cache and returns before it sends anything.
		for range 2 {
			select {
			case in.wake <- struct{}{}:
			case <-in.ctx.Done():
				return nil
			case <-deadline.C:
				return fmt.Errorf("sdkquiet: the listen loop did not become idle within %v", timeout)
			}
		}
		if in.cache.Count() == 0 {
			return nil
		}
	}
}
