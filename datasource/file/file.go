// Package file is a datasource.Source that follows one file.
//
// It watches the file's directory, not the file, so it follows every way a
// file is replaced: edits in place, an editor's or a tool's atomic rename
// over it, a Kubernetes ConfigMap volume's swap of its ..data symlink, and
// deletion and re-creation. Any change in the directory sets off a re-read
// once the directory has been quiet for the debounce interval; the source
// delivers the file only when what it reads differs from what it last
// delivered.
package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/sluice-go/sluice/datasource"
)

// DefaultDebounce is how long the directory must be quiet before the file
// is read again, unless WithDebounce says otherwise.
const DefaultDebounce = 100 * time.Millisecond

// DefaultResync is how often the file is read again even without an event
// from the file system, unless WithResync says otherwise: it bounds how late
// a change is seen where events are lost (a network file system, a
// directory that was itself replaced).
const DefaultResync = 30 * time.Second

// Source follows one file. Make it with New.
type Source struct {
	path     string
	debounce time.Duration
	resync   time.Duration
}

// Option changes how a Source works.
type Option func(*Source)

// WithDebounce sets how long the directory must be quiet before the file is
// read again (DefaultDebounce if d <= 0).
func WithDebounce(d time.Duration) Option { return func(s *Source) { s.debounce = d } }

// WithResync sets how often the file is read again without an event
// (DefaultResync if d <= 0).
func WithResync(d time.Duration) Option { return func(s *Source) { s.resync = d } }

// New returns a source that follows the file at path.
func New(path string, opts ...Option) *Source {
	s := &Source{path: filepath.Clean(path)}
	for _, o := range opts {
		o(s)
	}
	if s.debounce <= 0 {
		s.debounce = DefaultDebounce
	}
	if s.resync <= 0 {
		s.resync = DefaultResync
	}
	return s
}

// String returns "file " and the path.
func (s *Source) String() string { return "file " + s.path }

// Watch delivers the file's contents, or Deleted if it does not exist, then
// each change, until ctx is done. A read that fails for another reason than
// the file not existing is reported to h.Error and the last delivery
// stands. Watch fails at once if the file's directory cannot be watched
// (it does not exist, or the system's inotify limits are reached).
func (s *Source) Watch(ctx context.Context, h datasource.Handler) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(s.path)); err != nil {
		return fmt.Errorf("file: watch %s: %w", filepath.Dir(s.path), err)
	}

	f := follower{path: s.path, h: h}
	f.read()
	debounce := time.NewTimer(0)
	<-debounce.C
	defer debounce.Stop()
	resync := time.NewTicker(s.resync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-w.Events:
			if !ok {
				return errors.New("file: watcher closed")
			}
			debounce.Reset(s.debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("file: watcher closed")
			}
			h.Error(fmt.Errorf("file: %w", err)) // events may be lost: read again
			debounce.Reset(s.debounce)
		case <-debounce.C:
			f.read()
		case <-resync.C:
			f.read()
		}
	}
}

// follower reads the file and delivers it when it differs from the last
// delivery.
type follower struct {
	path      string
	h         datasource.Handler
	delivered bool // something has been delivered
	exists    bool // the last delivery was data, not Deleted
	data      []byte
}

func (f *follower) read() {
	data, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if !f.delivered || f.exists {
			f.delivered, f.exists, f.data = true, false, nil
			f.h.Update(datasource.Update{Deleted: true})
		}
	case err != nil:
		f.h.Error(fmt.Errorf("file: %w", err))
	default:
		if !f.delivered || !f.exists || !bytes.Equal(data, f.data) {
			f.delivered, f.exists, f.data = true, true, data
			f.h.Update(datasource.Update{Data: data})
		}
	}
}
