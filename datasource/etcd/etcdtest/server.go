// Package etcdtest runs a real etcd server for tests: a single member on
// loopback ports, in a data directory of its own, killed when the test
// ends. It runs the etcd binary named by $ETCD_BIN, else etcd on $PATH
// (Debian's etcd-server package provides it), and fails the test, never
// skips it, when there is none.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdBinary finds the etcd server binary: $ETCD_BIN, else etcd on $PATH.
func etcdBinary(t testing.TB) string {
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

// Server is a real single-member etcd cluster on loopback.
type Server struct {
	t         testing.TB
	bin, dir  string
	base      string // the test's directory, holding data directories and the log
	token     string // the initial cluster token: the cluster ID follows from it
	fresh     int    // data directories made by Wipe and Replace so far
	clientURL string
	peerURL   string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	out    *os.File      // the process's output; an *os.File takes concurrent writes
}

// Start starts an etcd on free loopback ports and waits until it serves
// reads (up to 10 s). It is stopped when the test ends, and its output is
// logged if the test failed.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: etcdBinary(t), token: "sluice-test"}
	base := t.TempDir() // made before the cleanup below, so removed after it
	out, err := os.Create(filepath.Join(base, "etcd.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.out, s.base = out, base
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("etcd output:\n%s", s.output())
		}
		s.out.Close()
	})
	for attempt := 0; attempt < 5; attempt++ { // another process may take a port we picked
		s.dir = filepath.Join(base, "data-"+strconv.Itoa(attempt))
		s.clientURL = "http://" + freeAddr(t)
		s.peerURL = "http://" + freeAddr(t)
		if err = s.start(); err == nil {
			return s
		}
		s.Stop()
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

func freeAddr(t testing.TB) string {
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
func (s *Server) start() error {
	cmd := exec.Command(s.bin,
		"--name", "sluice-test",
		"--data-dir", s.dir,
		"--listen-client-urls", s.clientURL,
		"--advertise-client-urls", s.clientURL,
		"--listen-peer-urls", s.peerURL,
		"--initial-advertise-peer-urls", s.peerURL,
		"--initial-cluster", "sluice-test="+s.peerURL,
		"--initial-cluster-state", "new", // ignored on a restart: the data directory says
		"--initial-cluster-token", s.token, // ignored on a restart too
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
			return fmt.Errorf("etcd exited: %s", s.output())
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("etcd not listening after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cli := s.NewClient()
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
			return fmt.Errorf("etcd exited: %s", s.output())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not ready after 10 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Endpoint returns the server's client URL, such as "http://127.0.0.1:40123".
func (s *Server) Endpoint() string { return s.clientURL }

// Stop kills the server's process group and waits for it to exit. It does
// nothing if the server is not running.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Restart starts the stopped server again on the same ports and data
// directory, with the data it had, and waits until it serves.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		s.Stop()
	}
	s.t.Fatalf("etcd did not restart: %v", err)
}

// Wipe stops the server and starts it again on the same ports with a
// fresh, empty data directory, as a cluster restored from an empty
// snapshot without --bump-revision: the cluster ID is the same as before,
// and the store's revision starts again from 1. It waits until the server
// serves. Clients of the server reconnect to it.
func (s *Server) Wipe() {
	s.t.Helper()
	s.fresh++
	s.dir = filepath.Join(s.base, "wiped-"+strconv.Itoa(s.fresh))
	s.Stop()
	s.Restart()
}

// Replace stops the server and starts a new cluster in its place: on the
// same ports, with a fresh, empty data directory and another cluster token,
// so that its cluster ID differs and its revision starts again from 1. It
// waits until the server serves. Clients of the server reconnect to it.
func (s *Server) Replace() {
	s.t.Helper()
	s.fresh++
	s.token = "sluice-test-" + strconv.Itoa(s.fresh)
	s.Wipe()
}

// NewClient returns a new client of the server, with a 2 s dial timeout
// and no logging; the caller closes it.
func (s *Server) NewClient() *clientv3.Client {
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

// Client returns a new client of the server, closed when the test ends.
func (s *Server) Client() *clientv3.Client {
	cli := s.NewClient()
	s.t.Cleanup(func() { cli.Close() })
	return cli
}

// output returns what the process has written so far.
func (s *Server) output() string {
	b, err := os.ReadFile(s.out.Name())
	if err != nil {
		return err.Error()
	}
	return string(b)
}
