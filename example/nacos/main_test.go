package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource/datasourcetest"

	"github.com/sluice-go/sluice/datasource/nacos"
	"github.com/sluice-go/sluice/datasource/nacos/nacostest"
)

// syncBuffer is a bytes.Buffer safe for the binding's goroutine and the
// test's.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	datasourcetest.Eventually(t, 15*time.Second, what, cond)
}

func TestRun(t *testing.T) {
	srv := nacostest.NewServer(t)
	require := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	require(srv.Publish("sluice-flow-rules", "", `[{"resource":"a","threshold":10}]`))

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, out, nacos.Server{Addr: srv.Addr(), GRPCPort: srv.GRPCPort()},
			"sluice-flow-rules", nacos.DefaultGroup, 2*time.Second)
	}()
	eventually(t, "initial rules printed", func() bool { return strings.Contains(out.String(), "threshold=10") })

	require(srv.Publish("sluice-flow-rules", "", `[{"resource":"a","threshold":25}]`))
	eventually(t, "published change printed", func() bool { return strings.Contains(out.String(), "threshold=25") })

	require(srv.Remove("sluice-flow-rules", ""))
	eventually(t, "deletion printed", func() bool {
		return strings.Contains(out.String(), "sluice-flow-rules does not exist; the flow rules in force stay")
	})

	cancel()
	select {
	case err := <-done:
		require(err)
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return")
	}
	t.Log(out.String())
}
