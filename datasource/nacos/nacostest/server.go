package nacostest

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	nacosgrpc "github.com/nacos-group/nacos-sdk-go/v2/api/grpc"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"google.golang.org/grpc"
)

// DefaultGroup is the group a config is in when none is named.
const DefaultGroup = constant.DEFAULT_GROUP

// Option configures a Server.
type Option func(*Server)

// WithAuth makes the server require a login: /nacos/v1/auth/users/login
// accepts only this username and password, and every config request over
// gRPC or HTTP must carry the access token it hands out (the SDK does this
// when its ClientConfig has Username and Password). Without WithAuth the
// server asks for no credentials and ignores any it is given.
func WithAuth(username, password string) Option {
	return func(s *Server) { s.user, s.pass = username, password }
}

// Server is an in-process Nacos 2.x config server on 127.0.0.1. Its methods
// are safe for concurrent use. The store outlives Stop and Restart; Close
// ends the server for good.
type Server struct {
	user, pass string
	token      string

	mu        sync.Mutex
	store     map[key]entry
	conns     map[string]*conn          // by connection id
	listeners map[key]map[string]string // by key: connection id -> md5 of its latest listen
	dropNext  int                       // changes whose pushes are to be dropped
	pushes    int                       // pushes sent
	dropped   int                       // pushes dropped
	listens   int                       // ConfigBatchListenRequests served
	onQuery   func()                    // called before each ConfigQueryRequest is answered (tests: export_test.go)
	running   bool
	closed    bool
	httpPort  int
	grpcPort  int
	grpcSrv   *grpc.Server
	httpSrv   *http.Server
	wg        sync.WaitGroup // Serve goroutines and stream handlers
}

type key struct{ tenant, group, dataID string }

func (k key) String() string { return k.tenant + "/" + k.group + "/" + k.dataID }

type entry struct {
	content  string
	md5      string
	modified int64 // Unix milliseconds
}

// Start starts a server on two ephemeral ports of 127.0.0.1, one for HTTP
// and one for gRPC.
func Start(opts ...Option) (*Server, error) {
	s := &Server{
		store:     make(map[key]entry),
		conns:     make(map[string]*conn),
		listeners: make(map[key]map[string]string),
	}
	for _, o := range opts {
		o(s)
	}
	if s.user != "" {
		s.token = "nacostest-token-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

// NewServer starts a server for a test and closes it when the test and its
// subtests are done. It fails the test if the server cannot start.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("nacostest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// listen binds the ports (the same ones again after Stop) and serves.
func (s *Server) listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("nacostest: server closed")
	}
	if s.running {
		return nil
	}
	hl, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort)))
	if err != nil {
		return fmt.Errorf("nacostest: http listener: %w", err)
	}
	gl, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.grpcPort)))
	if err != nil {
		hl.Close()
		return fmt.Errorf("nacostest: grpc listener: %w", err)
	}
	s.httpPort = hl.Addr().(*net.TCPAddr).Port
	s.grpcPort = gl.Addr().(*net.TCPAddr).Port

	s.grpcSrv = grpc.NewServer()
	nacosgrpc.RegisterRequestServer(s.grpcSrv, requestService{s: s})
	nacosgrpc.RegisterBiRequestStreamServer(s.grpcSrv, biStreamService{s: s})
	s.httpSrv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
	s.running = true

	gs, hs := s.grpcSrv, s.httpSrv
	s.wg.Add(2)
	go func() { defer s.wg.Done(); _ = gs.Serve(gl) }()
	go func() { defer s.wg.Done(); _ = hs.Serve(hl) }()
	return nil
}

// Addr returns the host and HTTP port ("127.0.0.1:port") to give a Nacos
// client as the server address. The gRPC port is GRPCPort, not the HTTP
// port + 1000 the SDK assumes by default.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.HTTPPort()))
}

// Host returns "127.0.0.1".
func (s *Server) Host() string { return "127.0.0.1" }

// HTTPPort returns the port of the HTTP API.
func (s *Server) HTTPPort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpPort
}

// GRPCPort returns the port of the gRPC services.
func (s *Server) GRPCPort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grpcPort
}

// URL returns the base URL of the HTTP API, "http://127.0.0.1:port".
func (s *Server) URL() string { return "http://" + s.Addr() }

// ServerConfig returns the SDK's description of this server, with both
// ports set.
func (s *Server) ServerConfig() constant.ServerConfig {
	return constant.ServerConfig{
		IpAddr:   s.Host(),
		Port:     uint64(s.HTTPPort()),
		GrpcPort: uint64(s.GRPCPort()),
	}
}

// Publish sets the content of a config in the public namespace (tenant "")
// and pushes the change to the clients listening to it. An empty group is
// DefaultGroup. Empty content is an error: Nacos stores none.
func (s *Server) Publish(dataID, group, content string) error {
	return s.PublishIn("", dataID, group, content)
}

// PublishIn is Publish in the namespace tenant.
func (s *Server) PublishIn(tenant, dataID, group, content string) error {
	k, err := mkKey(tenant, dataID, group)
	if err != nil {
		return err
	}
	if content == "" {
		return errors.New("nacostest: content can not be empty")
	}
	s.put(k, content)
	return nil
}

// Remove deletes a config of the public namespace, if it exists, and pushes
// the change to the clients listening to it.
func (s *Server) Remove(dataID, group string) error { return s.RemoveIn("", dataID, group) }

// RemoveIn is Remove in the namespace tenant.
func (s *Server) RemoveIn(tenant, dataID, group string) error {
	k, err := mkKey(tenant, dataID, group)
	if err != nil {
		return err
	}
	s.remove(k)
	return nil
}

// Get returns the content of a config and whether it exists.
func (s *Server) Get(tenant, dataID, group string) (string, bool) {
	k, err := mkKey(tenant, dataID, group)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.store[k]
	return e.content, ok
}

// DropNextPush makes the server send no push for the next change of any
// config (a publish or a remove, whoever makes it), as if the notification
// were lost. Each call drops one more change. Clients see that change only
// when they read or listen again.
func (s *Server) DropNextPush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext++
}

// Listeners returns how many client connections listen to a config.
func (s *Server) Listeners(tenant, dataID, group string) int {
	k, err := mkKey(tenant, dataID, group)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.listeners[k])
}

// InSync reports whether some client connection listens to a config and
// every one that does reported, in its latest listen round, the md5 the
// config has now (none for a config that does not exist). It tells the
// server has nothing left to tell those clients: the SDK learns of the next
// change only from its push.
func (s *Server) InSync(tenant, dataID, group string) bool {
	k, err := mkKey(tenant, dataID, group)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, md5 := range s.listeners[k] {
		if md5 != s.md5Locked(k) {
			return false
		}
	}
	return len(s.listeners[k]) > 0
}

// Connections returns how many clients hold an open bi-directional stream.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Pushes returns how many change notifications the server has sent, and how
// many it dropped (see DropNextPush).
func (s *Server) Pushes() (sent, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushes, s.dropped
}

// ListenRequests returns how many ConfigBatchListenRequests (the SDK's
// listen rounds) the server has answered. A count that stays put tells a
// client has settled: it listens and waits for pushes.
func (s *Server) ListenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listens
}

// Stop stops serving, as a crashed server would: it closes both listeners
// and every connection and stream, and waits for its goroutines to end. The
// store and the ports are kept for Restart. Stop on a stopped server does
// nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	s.running = false
	gs, hs := s.grpcSrv, s.httpSrv
	s.mu.Unlock()

	_ = hs.Close()
	gs.Stop() // closes connections and cancels the streams
	s.wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns = make(map[string]*conn)
	s.listeners = make(map[key]map[string]string)
}

// Restart serves again on the same ports after Stop, with the same store.
// Clients have to connect and listen again, as they would to a restarted
// Nacos. It fails if a port has been taken meanwhile, or after Close.
func (s *Server) Restart() error { return s.listen() }

// Close stops the server for good (see Stop). It is safe to call more than
// once.
func (s *Server) Close() {
	s.Stop()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func mkKey(tenant, dataID, group string) (key, error) {
	if dataID == "" {
		return key{}, errors.New("nacostest: dataId can not be empty")
	}
	if group == "" {
		group = DefaultGroup
	}
	return key{tenant: tenant, group: group, dataID: dataID}, nil
}

func md5Hex(s string) string {
	if s == "" { // as the SDK's util.Md5: no content has no md5
		return ""
	}
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// put stores content under k and notifies the listeners.
func (s *Server) put(k key, content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putLocked(k, content)
}

// putLocked is put with s.mu held.
func (s *Server) putLocked(k key, content string) {
	s.store[k] = entry{content: content, md5: md5Hex(content), modified: time.Now().UnixMilli()}
	s.notifyLocked(k)
}

// remove deletes k, if it exists, and notifies the listeners.
func (s *Server) remove(k key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.store[k]; !ok {
		return
	}
	delete(s.store, k)
	s.notifyLocked(k)
}

// md5Locked returns the md5 of k's content, "" for a config that does not
// exist.
func (s *Server) md5Locked(k key) string { return s.store[k].md5 }

// notifyLocked pushes a ConfigChangeNotifyRequest for k to every connection
// listening to it, unless the change is to be dropped.
func (s *Server) notifyLocked(k key) {
	drop := s.dropNext > 0
	if drop {
		s.dropNext--
	}
	for id := range s.listeners[k] {
		c, ok := s.conns[id]
		if !ok {
			continue
		}
		if drop {
			s.dropped++
			continue
		}
		if c.push(changeNotify(k)) {
			s.pushes++
		}
	}
}

// loggedIn reports whether a request carrying these headers may go on.
func (s *Server) loggedIn(token string) bool {
	return s.user == "" || token == s.token
}
