package nacos_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource/datasourcetest"

	"github.com/sluice-go/sluice/datasource/nacos"
	"github.com/sluice-go/sluice/datasource/nacos/internal/sdkquiet"
	"github.com/sluice-go/sluice/datasource/nacos/nacostest"
)

var (
	tmpDir    string
	clientsMu sync.Mutex
	clients   []*nacos.Client
	servers   []*nacostest.Server
	seq       atomic.Int64
)

func TestMain(m *testing.M) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "sluice-nacos-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	// Clients are closed here, one after another, when no Watch runs: the
	// SDK's CloseClient is not safe while other SDK clients are busy
	// (common/remote/rpc/rpc_client.go, RpcClient.Shutdown deletes from the
	// package-level clientMap without cMux), so no test closes its client.
	// A client no test uses is still busy if its SDK listen cache holds a
	// config, which it can after the Watch cancelled it (a listen round in
	// progress writes the config back): its listen rounds then read
	// clientMap, during this loop and even after its own Close. So every
	// client's cache is emptied first, and its listen loop let go idle (see
	// internal/sdkquiet, and nacostest's TestCancelMidRound).
	for _, c := range clients {
		if err := sdkquiet.Quiesce(c.SDK(), 30*time.Second); err != nil {
			println("quiesce:", err.Error())
			code = 1
		}
	}
	for _, c := range clients {
		if err := c.Close(); err != nil {
			println("close:", err.Error())
			code = 1
		}
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

// backend is the Nacos the tests talk to: the in-process nacostest server,
// or a real one at NACOS_ADDR.
type backend struct {
	srv      *nacostest.Server // nil for a real server
	addr     string
	grpcPort int
	user     string
	pass     string
}

// newBackend returns a fresh in-process server, or the real server named
// by NACOS_ADDR.
func newBackend(t *testing.T) *backend {
	t.Helper()
	if addr := os.Getenv("NACOS_ADDR"); addr != "" {
		return &backend{addr: addr, user: os.Getenv("NACOS_USERNAME"), pass: os.Getenv("NACOS_PASSWORD")}
	}
	// The server outlives the test: it stops in TestMain, after the
	// clients are closed. A server stopped under a live SDK client makes
	// the client reconnect, and the SDK's reconnect races (see
	// restart_test.go) under -race.
	srv, err := nacostest.Start()
	if err != nil {
		t.Fatal(err)
	}
	clientsMu.Lock()
	servers = append(servers, srv)
	clientsMu.Unlock()
	return &backend{srv: srv, addr: srv.Addr(), grpcPort: srv.GRPCPort()}
}

// fake returns the in-process server, or skips the test against a real one.
func (b *backend) fake(t *testing.T) *nacostest.Server {
	t.Helper()
	if b.srv == nil {
		t.Skip("needs the in-process server's hooks; NACOS_ADDR is set")
	}
	return b.srv
}

// dataID returns a data id no other test uses, and deletes it at the end.
func (b *backend) dataID(t *testing.T) string {
	id := fmt.Sprintf("sluice-test-%d-%d-%s", os.Getpid(), seq.Add(1), strings.ReplaceAll(t.Name(), "/", "-"))
	t.Cleanup(func() { b.remove(t, id) })
	return id
}

// client returns a Client for the backend, closed by TestMain.
func (b *backend) client(t *testing.T) *nacos.Client {
	t.Helper()
	dir, err := os.MkdirTemp(tmpDir, "client-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := nacos.NewClient(nacos.Config{
		Servers:  []nacos.Server{{Addr: b.addr, GRPCPort: b.grpcPort}},
		Username: b.user, Password: b.pass,
		Dir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	clientsMu.Lock()
	clients = append(clients, c)
	clientsMu.Unlock()
	return c
}

// token logs in over HTTP if the backend needs it.
func (b *backend) token(t *testing.T) string {
	if b.user == "" {
		return ""
	}
	resp, err := http.PostForm("http://"+b.addr+"/nacos/v1/auth/users/login",
		url.Values{"username": {b.user}, "password": {b.pass}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r.AccessToken
}

// httpPublish publishes content with the operator's HTTP API.
func (b *backend) httpPublish(t *testing.T, dataID, content string) {
	t.Helper()
	form := url.Values{"dataId": {dataID}, "group": {nacos.DefaultGroup}, "content": {content}}
	if tok := b.token(t); tok != "" {
		form.Set("accessToken", tok)
	}
	resp, err := http.PostForm("http://"+b.addr+"/nacos/v1/cs/configs", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "true" {
		t.Fatalf("publish %s: %s %s", dataID, resp.Status, body)
	}
}

// remove deletes a config with the HTTP API.
func (b *backend) remove(t *testing.T, dataID string) {
	t.Helper()
	q := url.Values{"dataId": {dataID}, "group": {nacos.DefaultGroup}}
	if tok := b.token(t); tok != "" {
		q.Set("accessToken", tok)
	}
	req, err := http.NewRequest(http.MethodDelete, "http://"+b.addr+"/nacos/v1/cs/configs?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("delete %s: %v", dataID, err)
		return
	}
	resp.Body.Close()
}

// eventually polls cond until it holds or 15 s (three of the SDK's 5 s
// listen ticks) have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	datasourcetest.Eventually(t, 15*time.Second, what, cond)
}
