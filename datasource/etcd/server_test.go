package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdBinary finds the etcd server binary: $ETCD_BIN, else etcd on $PATH.
// The tests need a real server and never skip without one.
func etcdBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ETCD_BIN"); bin != "" {
		return bin
	}
	bin, err := exec.LookPath("etcd")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no etcd binary on PATH in CI (%v): the CI job must install etcd-server", err)
	}
	t.Fatalf("these tests run a real etcd server and found none (%v): "+
		"install it (apt-get install -y etcd-server) or set ETCD_BIN to an etcd binary", err)
	return ""
}

// server is a real single-member etcd cluster on loopback, in a data
// directory of its own, killed when the test ends.
type server struct {
	t         *testing.T
	bin, dir  string
	clientURL string
	peerURL   string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	out    *syncBuffer
}

// startServer starts an etcd on free ports and waits until it serves.
func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{t: t, bin: etcdBinary(t), out: &syncBuffer{}}
	base := t.TempDir() // made before the cleanup below, so removed after it
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("etcd output:\n%s", s.out.String())
		}
	})
	var err error
	for attempt := 0; attempt < 5; attempt++ { // another process may take a port we picked
		s.dir = filepath.Join(base, strconv.Itoa(attempt))
		s.clientURL = "http://" + freeAddr(t)
		s.peerURL = "http://" + freeAddr(t)
		if err = s.start(); err == nil {
			return s
		}
		s.stop()
	}
	t.Fatalf("etcd did not start: %v", err)
	return nil
}

func dials(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// start runs the binary on s's ports and data directory and waits until a
// read succeeds.
func (s *server) start() error {
	cmd := exec.Command(s.bin,
		"--name", "sluice-test",
		"--data-dir", s.dir,
		"--listen-client-urls", s.clientURL,
		"--advertise-client-urls", s.clientURL,
		"--listen-peer-urls", s.peerURL,
		"--initial-advertise-peer-urls", s.peerURL,
		"--initial-cluster", "sluice-test="+s.peerURL,
		"--initial-cluster-state", "new", // ignored on a restart: the data directory says
		"--heartbeat-interval", "25", "--election-timeout", "250", // one member: elect fast
		"--logger", "zap", "--log-level", "warn")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no ETCD_* from the environment
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()

	// Dial until the port is open first: a client that found it closed
	// would wait a second before its next try.
	deadline := time.Now().Add(10 * time.Second)
	for !dials(strings.TrimPrefix(s.clientURL, "http://")) {
		select {
		case <-s.exited:
			return fmt.Errorf("etcd exited: %s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("etcd not listening after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cli := s.client()
	defer cli.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		_, err := cli.Get(ctx, "ready")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("etcd exited: %s", s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not ready after 10 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server's process group and waits for it to exit.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// restart starts the server again on the same ports and data directory.
func (s *server) restart() {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		s.stop()
	}
	s.t.Fatalf("etcd did not restart: %v", err)
}

// client returns a new client of the server; the caller closes it.
func (s *server) client() *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.clientURL},
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		s.t.Fatal(err) // only a malformed configuration fails here
	}
	return cli
}

// testClient returns a client closed when the test ends.
func (s *server) testClient() *clientv3.Client {
	cli := s.client()
	s.t.Cleanup(func() { cli.Close() })
	return cli
}

// syncBuffer is a bytes.Buffer safe for the process's output copiers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
