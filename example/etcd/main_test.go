package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource/etcd/etcdtest"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestRun(t *testing.T) {
	// Registered first, so run last: after etcd is killed and its waiter
	// has returned. By then the binding, the source's watch and both
	// clients' connections have stopped too.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	endpoint := etcdtest.Start(t).Endpoint()
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
