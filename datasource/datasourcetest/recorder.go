// Package datasourcetest helps test a datasource.Source.
package datasourcetest

import (
	"sync"

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
