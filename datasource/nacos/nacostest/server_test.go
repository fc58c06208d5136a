package nacostest_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource/datasourcetest"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/logger"
	"github.com/nacos-group/nacos-sdk-go/v2/util"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluice-go/sluice/datasource/nacos/internal/sdkquiet"
	"github.com/sluice-go/sluice/datasource/nacos/nacostest"
)

var (
	tmpDir     string
	sdkMu      sync.Mutex
	sdkClients []config_client.IConfigClient
	servers    []*nacostest.Server
)

func TestMain(m *testing.M) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "nacostest-"); err != nil {
		panic(err)
	}
	// util.LocalIP (util/common.go) fills a package-level variable on first
	// use without synchronisation; SDK clients connecting at the same time
	// race on it. Fill it once, first.
	// It logs, and the SDK's first log line sets up its process-wide logger
	// (common/logger/logger.go), to stdout at debug level unless a client
	// has set it up already: set it up first, quietly.
	_ = logger.InitLogger(logger.BuildLoggerConfig(constant.ClientConfig{LogLevel: "warn", LogDir: tmpDir + "/log"}))
	util.LocalIP()
	code := m.Run()
	// The SDK clients are closed here, one after another, once no test
	// uses them: CloseClient is not safe while other SDK clients are busy
	// (common/remote/rpc/rpc_client.go, RpcClient.Shutdown deletes from the
	// package-level clientMap without cMux). A client no test uses is still
	// busy if its listen cache holds a config, which it can after every
	// CancelListenConfig: its listen rounds then read clientMap, during
	// this loop and even after its own CloseClient. So every client's
	// cache is emptied first, and its listen loop let go idle (see
	// internal/sdkquiet and TestCancelMidRound).
	for _, c := range sdkClients {
		if err := sdkquiet.Quiesce(c, 30*time.Second); err != nil {
			println("quiesce:", err.Error())
			code = 1
		}
	}
	for _, c := range sdkClients {
		c.CloseClient()
	}
	for _, s := range servers {
		s.Close()
	}
	os.RemoveAll(tmpDir)
	if code == 0 {
		err := nacostest.FindLeaks()
		if err != nil {
			println("goleak:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

// newSDK builds a real SDK config client for srv, kept until TestMain ends.
func newSDK(t *testing.T, srv *nacostest.Server, namespace string) config_client.IConfigClient {
	t.Helper()
	dir, err := os.MkdirTemp(tmpDir, "client-")
	require.NoError(t, err)
	cc := constant.ClientConfig{
		NamespaceId: namespace, TimeoutMs: 3000, NotLoadCacheAtStart: true, DisableUseSnapShot: true,
		CacheDir: dir + "/cache", LogDir: dir + "/log", LogLevel: "warn",
	}
	c, err := clients.NewConfigClient(vo.NacosClientParam{ClientConfig: &cc,
		ServerConfigs: []constant.ServerConfig{srv.ServerConfig()}})
	require.NoError(t, err)
	sdkMu.Lock()
	sdkClients = append(sdkClients, c)
	sdkMu.Unlock()
	return c
}

// eventually polls cond until it holds or 15 s (three of the SDK's 5 s
// listen ticks) have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	datasourcetest.Eventually(t, 15*time.Second, what, cond)
}

// publishUntil publishes, then polls cond; it publishes again every second
// until cond holds or 15 s have passed. Publishing again works around the
// SDK losing a push that arrives while a listen round of its is in progress
// (clients/config_client/config_client.go, executeConfigListen: once the
// server has answered, it marks every config it was not told of as in sync,
// overwriting isSyncWithServer=false set meanwhile by the push handler, and
// then sends no round for it until its 5-minute full sync). Such a round
// follows every change the SDK sees, and its first one races the server
// registering the listener.
func publishUntil(t *testing.T, what string, publish func() error, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		require.NoError(t, publish())
		if datasourcetest.Within(time.Second, cond) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
	}
}

// settled waits until the SDK has caught up with a config: the server has
// answered a listen round in which the client reported the config's current
// md5. The SDK then sends no round for it (until its 5-minute full sync), so
// it can learn of the next change only from the server's push.
func settled(t *testing.T, srv *nacostest.Server, dataID, group string) {
	t.Helper()
	eventually(t, "the SDK caught up with "+dataID, func() bool { return srv.InSync("", dataID, group) })
}

// removeUntil removes a config the SDK has caught up with, checks the server
// pushed the removal to every listener, and waits a second for latest to
// report it gone. If the SDK lost the push (see publishUntil), it publishes
// the config again and retries, until 15 s have passed. As each removal
// follows a round that told the SDK nothing changed, only a push tells it.
func removeUntil(t *testing.T, srv *nacostest.Server, dataID, group string, remove func() error, latest func() (string, int)) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for i := 1; ; i++ {
		settled(t, srv, dataID, group)
		listeners := srv.Listeners("", dataID, group)
		before, _ := srv.Pushes()
		require.NoError(t, remove())
		after, _ := srv.Pushes()
		require.Equal(t, before+listeners, after, "the removal of %s is pushed to its %d listener(s)", dataID, listeners)
		if datasourcetest.Within(time.Second, func() bool { s, _ := latest(); return s == "" }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: the SDK sees %s removed", dataID)
		}
		again := "again " + strconv.Itoa(i)
		publishUntil(t, "published "+dataID+" again", func() error { return srv.Publish(dataID, group, again) },
			func() bool { s, _ := latest(); return s == again })
	}
}

func TestSDKGetPublishDelete(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newSDK(t, srv, "")
	p := vo.ConfigParam{DataId: "get-publish", Group: "G"}

	got, err := c.GetConfig(p)
	require.NoError(t, err)
	assert.Equal(t, "", got, "a config that does not exist reads as empty")

	p.Content = "v1"
	okay, err := c.PublishConfig(p)
	require.NoError(t, err)
	require.True(t, okay)
	content, found := srv.Get("", "get-publish", "G")
	assert.True(t, found)
	assert.Equal(t, "v1", content)

	got, err = c.GetConfig(vo.ConfigParam{DataId: "get-publish", Group: "G"})
	require.NoError(t, err)
	assert.Equal(t, "v1", got)

	require.NoError(t, srv.Publish("get-publish", "G", "v2"))
	got, err = c.GetConfig(vo.ConfigParam{DataId: "get-publish", Group: "G"})
	require.NoError(t, err)
	assert.Equal(t, "v2", got)

	okay, err = c.DeleteConfig(vo.ConfigParam{DataId: "get-publish", Group: "G"})
	require.NoError(t, err)
	require.True(t, okay)
	_, found = srv.Get("", "get-publish", "G")
	assert.False(t, found)
	got, err = c.GetConfig(vo.ConfigParam{DataId: "get-publish", Group: "G"})
	require.NoError(t, err)
	assert.Equal(t, "", got)
}

func TestSDKCasPublish(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newSDK(t, srv, "")
	require.NoError(t, srv.Publish("cas", "", "v1"))
	_, err := c.PublishConfig(vo.ConfigParam{DataId: "cas", Group: nacostest.DefaultGroup, Content: "v2", CasMd5: "wrong"})
	assert.Error(t, err)
	content, _ := srv.Get("", "cas", "")
	assert.Equal(t, "v1", content)
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	dev := newSDK(t, srv, "dev")
	pub := newSDK(t, srv, "")
	require.NoError(t, srv.PublishIn("dev", "ns", "G", "in dev"))
	require.NoError(t, srv.Publish("ns", "G", "in public"))
	got, err := dev.GetConfig(vo.ConfigParam{DataId: "ns", Group: "G"})
	require.NoError(t, err)
	assert.Equal(t, "in dev", got)
	got, err = pub.GetConfig(vo.ConfigParam{DataId: "ns", Group: "G"})
	require.NoError(t, err)
	assert.Equal(t, "in public", got)
}

// listen starts an SDK listener and returns the latest content it got.
func listen(t *testing.T, c config_client.IConfigClient, dataID, group string) func() (string, int) {
	var mu sync.Mutex
	var last string
	var n int
	p := vo.ConfigParam{DataId: dataID, Group: group, OnChange: func(_, _, _, data string) {
		mu.Lock()
		defer mu.Unlock()
		last = data
		n++
	}}
	require.NoError(t, c.ListenConfig(p))
	t.Cleanup(func() { _ = c.CancelListenConfig(vo.ConfigParam{DataId: dataID, Group: group}) })
	return func() (string, int) {
		mu.Lock()
		defer mu.Unlock()
		return last, n
	}
}

func TestSDKListenPush(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newSDK(t, srv, "")
	latest := listen(t, c, "listen", "G")
	eventually(t, "listener registered", func() bool { return srv.Listeners("", "listen", "G") == 1 })

	publishUntil(t, "v1 pushed", func() error { return srv.Publish("listen", "G", "v1") },
		func() bool { s, _ := latest(); return s == "v1" })
	sent, _ := srv.Pushes()
	assert.GreaterOrEqual(t, sent, 1)

	settled(t, srv, "listen", "G")
	publishUntil(t, "v2 pushed", func() error {
		_, err := c.PublishConfig(vo.ConfigParam{DataId: "listen", Group: "G", Content: "v2"})
		return err
	}, func() bool { s, _ := latest(); return s == "v2" })

	removeUntil(t, srv, "listen", "G", func() error { return srv.Remove("listen", "G") }, latest)
}

func TestSDKListenSeesChangeBeforeRegistration(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newSDK(t, srv, "")
	require.NoError(t, srv.Publish("early", "G", "v1"))
	latest := listen(t, c, "early", "G")
	// The first listen round reports the md5 mismatch; no push needed.
	eventually(t, "v1 seen", func() bool { s, _ := latest(); return s == "v1" })
}

// TestCancelMidRound shows why TestMain quiesces the SDK clients before it
// closes them: a config cancelled while a listen round of the SDK is in
// progress is written back into the SDK's listen cache by that round
// (clients/config_client/config_client.go, refreshContentAndCheck ->
// executeListener), so the client keeps listening to it, and its listen
// rounds keep reading the SDK's package-level clientMap, which CloseClient
// writes without a lock. The server holds the round's ConfigQueryRequest
// until the config is cancelled; sdkquiet.Quiesce empties the cache for good.
func TestCancelMidRound(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newSDK(t, srv, "")
	require.NoError(t, srv.Publish("midround", "G", "v1"))
	queried, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv.OnQuery(func() { once.Do(func() { close(queried); <-release }) })
	seen := make(chan string, 1)
	p := vo.ConfigParam{DataId: "midround", Group: "G", OnChange: func(_, _, _, data string) {
		select {
		case seen <- data:
		default:
		}
	}}
	require.NoError(t, c.ListenConfig(p))
	listening := func() int {
		n, err := sdkquiet.Listening(c)
		require.NoError(t, err)
		return n
	}
	assert.Equal(t, 1, listening())

	// A listen round (started now, not at the SDK's 5 s tick) finds the
	// md5 changed and asks for the content; while the server holds that
	// request, the config is cancelled.
	require.NoError(t, sdkquiet.Wake(c, 15*time.Second))
	select {
	case <-queried:
	case <-time.After(15 * time.Second):
		t.Fatal("no listen round asked for the content")
	}
	require.NoError(t, c.CancelListenConfig(vo.ConfigParam{DataId: "midround", Group: "G"}))
	assert.Equal(t, 0, listening(), "cancelled")
	close(release)
	select {
	case got := <-seen:
		assert.Equal(t, "v1", got)
	case <-time.After(15 * time.Second):
		t.Fatal("the listener was not called")
	}
	// executeListener stores the entry before it starts the listener's
	// goroutine: the cancelled config is back.
	assert.Equal(t, 1, listening(), "the round wrote the cancelled config back")

	require.NoError(t, sdkquiet.Quiesce(c, 30*time.Second))
	assert.Equal(t, 0, listening(), "quiesced")
}

func TestDropNextPush(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newSDK(t, srv, "")
	latest := listen(t, c, "drop", "G")
	eventually(t, "listener registered", func() bool { return srv.Listeners("", "drop", "G") == 1 })
	srv.DropNextPush()
	require.NoError(t, srv.Publish("drop", "G", "lost"))
	_, dropped := srv.Pushes()
	assert.Equal(t, 1, dropped)
	publishUntil(t, "v2 pushed", func() error { return srv.Publish("drop", "G", "v2") },
		func() bool { s, _ := latest(); return s == "v2" })
}

func httpDo(t *testing.T, method, u string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestHTTPAPI(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := newSDK(t, srv, "")
	latest := listen(t, c, "http", "G")
	eventually(t, "listener registered", func() bool { return srv.Listeners("", "http", "G") == 1 })
	cfgURL := srv.URL() + "/nacos/v1/cs/configs"
	q := "?dataId=http&group=G"

	code, _ := httpDo(t, http.MethodGet, cfgURL+q, nil)
	assert.Equal(t, http.StatusNotFound, code)

	publishUntil(t, "SDK listener sees the HTTP publish", func() error {
		code, body := httpDo(t, http.MethodPost, cfgURL, url.Values{"dataId": {"http"}, "group": {"G"}, "content": {"from http"}})
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "true", body)
		return nil
	}, func() bool { s, _ := latest(); return s == "from http" })

	code, body := httpDo(t, http.MethodGet, cfgURL+q, nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "from http", body)

	code, _ = httpDo(t, http.MethodPost, cfgURL, url.Values{"dataId": {"http"}, "group": {"G"}})
	assert.Equal(t, http.StatusBadRequest, code, "empty content")

	// A tenant is a different config.
	code, _ = httpDo(t, http.MethodPost, cfgURL, url.Values{"dataId": {"http"}, "group": {"G"}, "tenant": {"dev"}, "content": {"dev"}})
	assert.Equal(t, http.StatusOK, code)
	code, body = httpDo(t, http.MethodGet, cfgURL+q+"&tenant=dev", nil)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "dev", body)

	removeUntil(t, srv, "http", "G", func() error {
		code, body := httpDo(t, http.MethodDelete, cfgURL+q, nil)
		assert.Equal(t, http.StatusOK, code)
		assert.Equal(t, "true", body)
		return nil
	}, latest)
	code, _ = httpDo(t, http.MethodGet, cfgURL+q, nil)
	assert.Equal(t, http.StatusNotFound, code)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nacostest.WithAuth("nacos", "secret"))
	require.NoError(t, srv.Publish("auth", "G", "v1"))

	dir, err := os.MkdirTemp(tmpDir, "client-")
	require.NoError(t, err)
	mk := func(pass string) config_client.IConfigClient {
		cc := constant.ClientConfig{TimeoutMs: 3000, NotLoadCacheAtStart: true, DisableUseSnapShot: true,
			CacheDir: dir + "/" + pass, LogDir: dir + "/log", LogLevel: "warn", Username: "nacos", Password: pass}
		c, err := clients.NewConfigClient(vo.NacosClientParam{ClientConfig: &cc,
			ServerConfigs: []constant.ServerConfig{srv.ServerConfig()}})
		require.NoError(t, err)
		sdkMu.Lock()
		sdkClients = append(sdkClients, c)
		sdkMu.Unlock()
		return c
	}
	got, err := mk("secret").GetConfig(vo.ConfigParam{DataId: "auth", Group: "G"})
	require.NoError(t, err)
	assert.Equal(t, "v1", got)
	_, err = mk("wrong").GetConfig(vo.ConfigParam{DataId: "auth", Group: "G"})
	assert.Error(t, err)

	code, _ := httpDo(t, http.MethodGet, srv.URL()+"/nacos/v1/cs/configs?dataId=auth&group=G", nil)
	assert.Equal(t, http.StatusForbidden, code)
}

func TestCloseStopsServer(t *testing.T) {
	t.Parallel()
	srv, err := nacostest.Start()
	require.NoError(t, err)
	addr := srv.Addr()
	srv.Close()
	srv.Close()
	_, err = http.Get("http://" + addr + "/nacos/v1/cs/configs?dataId=x")
	assert.Error(t, err)
	assert.Error(t, srv.Restart())
}

// newServer starts a server that outlives the test: it stops in TestMain,
// after the SDK clients are closed. A server stopped under a live SDK client
// makes the client reconnect, and the SDK's reconnect races under -race (see
// restart_test.go).
func newServer(t *testing.T, opts ...nacostest.Option) *nacostest.Server {
	t.Helper()
	srv, err := nacostest.Start(opts...)
	if err != nil {
		t.Fatal(err)
	}
	sdkMu.Lock()
	servers = append(servers, srv)
	sdkMu.Unlock()
	return srv
}
