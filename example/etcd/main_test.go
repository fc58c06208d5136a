package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestRun(t *testing.T) {
	// Registered first, so run last: after etcd is killed and its waiter
	// has returned. By then the binding, the source's watch and both
	// clients' connections have stopped too.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	endpoint := startEtcd(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const key = "/sluice/rules/flow"
	put := func(val string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := cli.Put(ctx, key, val); err != nil {
			t.Fatal(err)
		}
	}

	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, &out, []string{endpoint}, key) }()
	eventually(t, &out, "does not exist")

	put(`[{"resource":"GET /orders","threshold":100}]`)
	eventually(t, &out, `1 flow rule(s) in force`)
	eventually(t, &out, `{"resource":"GET /orders","threshold":100}`)
	put(`[{"resource":"GET /orders","threshold":-1}]`)
	eventually(t, &out, "error: ")
	put(`[{"resource":"GET /orders","threshold":20,"controlBehavior":"Throttling","maxQueueingTime":"500ms"}]`)
	eventually(t, &out, `"threshold":20,"controlBehavior":"Throttling","maxQueueingTime":"500ms"`)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("run did not return within 2 s of cancel")
	}
	t.Log("\n" + out.String())
}

// eventually waits up to 5 s for out to contain want.
func eventually(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the output has no %q:\n%s", want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startEtcd runs a real single-member etcd on loopback for the test and
// returns its client URL. It is a minimal copy of the helper in
// datasource/etcd's tests (which export nothing): $ETCD_BIN or etcd on
// $PATH, free ports, a temporary data directory, killed at cleanup.
func startEtcd(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("ETCD_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("etcd"); err != nil {
			t.Fatalf("this test runs a real etcd server and found none (%v): "+
				"install it (apt-get install -y etcd-server) or set ETCD_BIN", err)
		}
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ { // another process may take a port we picked
		client, peer := "http://"+freeAddr(t), "http://"+freeAddr(t)
		var out syncBuffer
		cmd := exec.Command(bin, "--name", "example", "--data-dir", t.TempDir(),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "example="+peer,
			"--heartbeat-interval", "25", "--election-timeout", "250",
			"--logger", "zap", "--log-level", "warn")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		kill := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-exited }
		if last = ready(client, exited); last == nil {
			t.Cleanup(kill)
			return client
		}
		kill()
		last = fmt.Errorf("%v\n%s", last, out.String())
	}
	t.Fatalf("etcd did not start: %v", last)
	return ""
}

// ready polls a read until it succeeds, the process exits, or 10 s pass.
func ready(endpoint string, exited <-chan struct{}) error {
	// Dial until the port is open first: a client that found it closed
	// would wait a second before its next try.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(endpoint, "http://"), 100*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("etcd exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not listening after 10 s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		_, err := cli.Get(ctx, "ready")
		cancel()
		select {
		case <-exited:
			return fmt.Errorf("etcd exited: %v", err)
		default:
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not ready after 10 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe to write from one goroutine and read
// from another.
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
