// Package datasourcetest helps test a datasource.Source: a Handler that
// records what it is given, and a Watch that runs a source for a test.
package datasourcetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource"
)

// Recorder is a datasource.Handler that keeps what a source gives it. It
// is safe for use from several goroutines; its zero value is ready.
type Recorder struct {
	mu      sync.Mutex
	updates []datasource.Update
	errs    []error
}

// Update records u.
func (r *Recorder) Update(u datasource.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, u)
}

// Error records err.
func (r *Recorder) Error(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

// Updates returns a copy of the updates recorded so far, in order.
func (r *Recorder) Updates() []datasource.Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]datasource.Update(nil), r.updates...)
}

// Errors returns a copy of the errors recorded so far, in order.
func (r *Recorder) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// Watch runs src.Watch with h on a goroutine of its own until the test
// ends, then cancels it and fails the test unless Watch returns
// context.Canceled within 5 s.
func Watch(t testing.TB, src datasource.Source, h datasource.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Watch returned %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return within 5 s of cancel")
		}
	})
}

// Eventually polls cond every 10 ms until it holds, and fails the test if
// it does not within d. It is for waiting on another goroutine or a
// network peer (a store, a file system), not for asserting timing.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(d, cond) {
		t.Fatalf("not within %v: %s", d, what)
	}
}

// Within polls cond every 10 ms until it holds (true) or d has passed
// (false, after one last try), for a caller that acts on a timeout instead
// of failing.
func Within(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}
