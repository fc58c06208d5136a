package nacos

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/logger"
	"github.com/nacos-group/nacos-sdk-go/v2/util"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// ErrClosed is returned by Watch when the Client is closed, or closes while
// the Watch runs.
var ErrClosed = errors.New("nacos: client closed")

// ErrWatched is returned by Watch when the same config is already being
// watched through the same Client: the SDK keeps one listener per config
// and client.
var ErrWatched = errors.New("nacos: config already watched through this client")

// Server is one Nacos server.
type Server struct {
	// Addr is the server's host and HTTP port, "host:port" (Nacos's HTTP
	// port is 8848 unless configured otherwise). Required.
	Addr string
	// GRPCPort is the port of the server's gRPC services. Zero means the
	// HTTP port + 1000, Nacos's own rule.
	GRPCPort int
}

// Config says how NewClient builds its SDK config client.
type Config struct {
	// Servers are the Nacos servers of one cluster; the SDK talks to one
	// at a time and moves to another when it fails. At least one is
	// required.
	Servers []Server
	// Namespace is the namespace id the configs are in. The zero value is
	// the public namespace.
	Namespace string
	// Username and Password, if Username is set, log in to a server with
	// authentication enabled; the SDK renews the token by itself.
	Username, Password string
	// Timeout bounds each request to the server. Zero means 3 s.
	Timeout time.Duration
	// Dir is the directory under which the client keeps the SDK's config
	// snapshots (Dir/cache) and log file (Dir/log). The zero value is a
	// fresh directory made with os.MkdirTemp for this client and removed,
	// with all in it, by Close. (Without it, the SDK would share
	// $PWD/cache and $PWD/log between every client of the process.)
	//
	// The SDK's logger is process-wide and set up once, by the first
	// client created in the process: later clients log to the first one's
	// log file, and once that one's temporary Dir is removed, to nowhere.
	Dir string
	// LogLevel is the SDK's log level: "debug", "info", "warn" or "error".
	// The zero value is "warn". See Dir about the SDK's logger being
	// process-wide.
	LogLevel string
}

// Client holds the SDK config client the Sources read through. Its methods
// are safe for concurrent use.
type Client struct {
	sdk       config_client.IConfigClient
	servers   []Server // NewClient's, each with its gRPC port; nil for Wrap
	own       bool     // built by NewClient: Close closes it
	dir       string   // removed by Close, if not ""
	namespace string

	mu      sync.Mutex
	watches map[string]*watch // the Watch running per config key
	active  sync.WaitGroup    // Watches running
	closing chan struct{}     // closed by Close
	closed  bool
}

// NewClient builds an SDK config client from cfg. The client talks gRPC to
// the servers; it connects on first use, not here. It keeps its snapshots
// and log under cfg.Dir (see Config.Dir), does not load snapshots at start
// (NotLoadCacheAtStart), and never serves a read from a snapshot when the
// server can not be reached (DisableUseSnapShot): a failed read is an error,
// not stale content. Close releases it.
func NewClient(cfg Config) (*Client, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("nacos: Config.Servers is empty")
	}
	servers := make([]constant.ServerConfig, 0, len(cfg.Servers))
	named := make([]Server, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		host, p, err := net.SplitHostPort(s.Addr)
		if err != nil {
			return nil, fmt.Errorf("nacos: server address %q: %w", s.Addr, err)
		}
		port, err := strconv.ParseUint(p, 10, 16)
		if err != nil || port == 0 || host == "" {
			return nil, fmt.Errorf("nacos: server address %q: want host:port", s.Addr)
		}
		if s.GRPCPort < 0 || s.GRPCPort > 65535 {
			return nil, fmt.Errorf("nacos: server %q: gRPC port %d out of range", s.Addr, s.GRPCPort)
		}
		servers = append(servers, constant.ServerConfig{IpAddr: host, Port: port, GrpcPort: uint64(s.GRPCPort)})
		if s.GRPCPort == 0 {
			s.GRPCPort = int(port) + 1000
		}
		named = append(named, s)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	level := cfg.LogLevel
	if level == "" {
		level = "warn"
	}
	dir, tmp := cfg.Dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "sluice-nacos-")
		if err != nil {
			return nil, fmt.Errorf("nacos: %w", err)
		}
		dir, tmp = d, true
	}
	cc := constant.ClientConfig{
		NamespaceId:         cfg.Namespace,
		TimeoutMs:           uint64(timeout / time.Millisecond),
		Username:            cfg.Username,
		Password:            cfg.Password,
		CacheDir:            filepath.Join(dir, "cache"),
		LogDir:              filepath.Join(dir, "log"),
		LogLevel:            level,
		NotLoadCacheAtStart: true,
		DisableUseSnapShot:  true,
	}
	sdkInit(cc)
	sdk, err := clients.NewConfigClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: servers})
	if err != nil {
		if tmp {
			_ = os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("nacos: %w", err)
	}
	c := newClient(sdk, cfg.Namespace)
	c.own, c.servers = true, named
	if tmp {
		c.dir = dir
	}
	return c, nil
}

var localIPOnce sync.Once

// sdkInit works around two of the SDK's process-wide lazy initialisations.
// util.LocalIP (util/common.go) caches the host's address in a package-level
// variable without synchronisation, so clients that connect for the first
// time together race on it: it is filled once here, before any client of
// this package connects. It logs, and the SDK's first log line sets up its
// process-wide logger (common/logger/logger.go GetLogger) to stdout at debug
// level if no client has set it up yet: so the logger is set up first, as
// NewConfigClient itself would (a no-op if it is set up already).
func sdkInit(cc constant.ClientConfig) {
	_ = logger.InitLogger(logger.BuildLoggerConfig(cc))
	localIPOnce.Do(func() { util.LocalIP() })
}

// Wrap returns a Client that reads through sdk, an SDK config client the
// caller built and keeps: Close does not close it. Whatever sdk is
// configured with holds (namespace, snapshots: an SDK client that may fall
// back to a snapshot delivers the snapshot's content when the server is
// unreachable). The caller must not listen through sdk to a config a Source
// of this Client watches: the SDK keeps one listener per config.
func Wrap(sdk config_client.IConfigClient) *Client {
	ns := ""
	if g, ok := sdk.(interface {
		GetClientConfig() (constant.ClientConfig, error)
	}); ok {
		if cc, err := g.GetClientConfig(); err == nil {
			ns = cc.NamespaceId
		}
	}
	return newClient(sdk, ns)
}

func newClient(sdk config_client.IConfigClient, ns string) *Client {
	return &Client{sdk: sdk, namespace: ns, watches: make(map[string]*watch), closing: make(chan struct{})}
}

// SDK returns the SDK config client, to publish or delete configs with.
func (c *Client) SDK() config_client.IConfigClient { return c.sdk }

// Namespace returns the namespace id the client's configs are in ("" for
// the public namespace), as far as it is known (Wrap of a client that does
// not tell gives "").
func (c *Client) Namespace() string { return c.namespace }

// Close makes every running Watch on the client return ErrClosed and waits
// for them (a Watch in the middle of a read returns when the read does,
// within Config.Timeout and the dials of a failed read: see Source.Watch).
// Then, for a client built by NewClient, it closes the SDK client and
// removes the temporary Dir. Close is safe to call more
// than once; later calls return nil. Because it waits for the Watches, it
// must not be called from a Handler, or from a datasource.Binding's OnLoad
// or OnError, of a Watch on the client: it would wait for the Watch that
// is calling it.
//
// The SDK does not stop all its goroutines in CloseClient: some, started
// by asyncNotifyListenConfig (clients/config_client/config_client.go) to
// wake its listen loop, stay blocked once that loop has ended. A process
// should therefore not create and close clients over and over; keep one
// client for the life of the process.
//
// The SDK's CloseClient is not safe while other SDK clients of the process
// are busy: RpcClient.Shutdown (common/remote/rpc/rpc_client.go) deletes
// the client from a package-level map without the lock every other client
// takes to read it, so the race detector (or, rarely, the Go runtime) flags
// a concurrent map access. Close clients when the process winds down, or
// one client per process.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	c.mu.Unlock()
	c.active.Wait()
	if c.own {
		c.sdk.CloseClient()
	}
	if c.dir != "" {
		if err := os.RemoveAll(c.dir); err != nil {
			return fmt.Errorf("nacos: %w", err)
		}
	}
	return nil
}

// watch is the state a running Watch shares with the SDK's listener.
type watch struct {
	hint chan struct{} // capacity 1: the listener reported a change
}

// register makes w the watch of key, or fails if there is one already.
func (c *Client) register(key string) (*watch, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if _, ok := c.watches[key]; ok {
		return nil, ErrWatched
	}
	w := &watch{hint: make(chan struct{}, 1)}
	c.watches[key] = w
	c.active.Add(1)
	return w, nil
}

func (c *Client) unregister(key string, w *watch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watches[key] == w {
		delete(c.watches, key)
	}
	c.active.Done()
}

// listener returns the SDK listener for key. It tells the Watch of key
// running at that moment, if any, that the config changed (not the content
// the SDK reports, which may be older than what the Watch has delivered:
// the SDK calls each listener on a goroutine of its own), and never blocks, so
// the SDK's goroutine that calls it ends at once. It goes by key, not by
// Watch, because the SDK may keep a listener registered after
// CancelListenConfig (a listen round in progress writes back the entries it
// read) and then reuse it for the next ListenConfig of the same config.
func (c *Client) listener(key string) func(namespace, group, dataID, data string) {
	return func(_, _, _, _ string) {
		c.mu.Lock()
		w := c.watches[key]
		c.mu.Unlock()
		if w == nil {
			return
		}
		select {
		case w.hint <- struct{}{}:
		default:
		}
	}
}
