// Package file is a datasource.Source that follows one file.
//
// It watches the file's directory, not the file (and, when the path is a
// symlink, its target's directory too), so it follows every way a file is
// replaced: edits in place, an editor's or a tool's atomic rename over it,
// a Kubernetes ConfigMap volume's swap of its ..data symlink, and deletion
// and re-creation; a directory that is itself replaced is watched again.
// An event on the file, its target or a ..name sets off a re-read once
// such events have stopped for the debounce interval (events on other
// files in the directory do not); the source delivers the file only when
// what it reads differs from what it last delivered.
//
// A relative path is resolved once, when New is called. A binding whose
// Config.Format is Auto reads the file in the format its extension names
// (see Source.SuggestFormat).
package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
	path     string // absolute, resolved once by New
	err      error  // why path could not be resolved; Watch returns it
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

// New returns a source that follows the file at path. A relative path is
// resolved against the working directory once, here: a later os.Chdir
// does not move the file followed. If path is empty or cannot be resolved
// (the working directory is gone), Watch returns that error at once.
func New(path string, opts ...Option) *Source {
	s := &Source{path: filepath.Clean(path)}
	if path == "" {
		s.err = errors.New("file: no path given")
	} else if abs, err := filepath.Abs(path); err != nil {
		s.err = fmt.Errorf("file: resolve %s: %w", path, err)
	} else {
		s.path = abs
	}
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

// String returns "file " and the absolute path.
func (s *Source) String() string { return "file " + s.path }

// Watch delivers the file's contents, or Deleted if it does not exist, then
// each change, until ctx is done. A read that fails for another reason than
// the file not existing is reported to h.Error and the last delivery
// stands. Watch fails at once if New could not resolve the path, or if
// the file's directory cannot be watched (it does not exist, or the
// system's inotify limits are reached).
func (s *Source) Watch(ctx context.Context, h datasource.Handler) error {
	if s.err != nil {
		return s.err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	defer w.Close()
	dir := filepath.Dir(s.path)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("file: watch %s: %w", dir, err)
	}

	f := follower{path: s.path, dir: dir, w: w, h: h}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.read()
	debounce := time.NewTimer(s.debounce)
	debounce.Stop() // armed by the first event
	defer debounce.Stop()
	pending := false // debounce is armed and has not fired
	resync := time.NewTicker(s.resync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("file: watcher closed")
			}
			if f.concerns(ev) {
				debounce.Reset(s.debounce) // Go 1.23 timers: no stale fire after Reset
				pending = true
			}
			continue
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("file: watcher closed")
			}
			h.Error(fmt.Errorf("file: %w", err)) // events may be lost: read again
			debounce.Reset(s.debounce)
			pending = true
			continue
		case <-debounce.C:
			pending = false
		case <-resync.C:
			if pending { // a write is under way: the debounce will read it
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		f.read()
	}
}

// follower reads the file and delivers it when it differs from the last
// delivery. It keeps the watch on the file's directory, and on the
// directory of the file a symlink at path points to, in place.
type follower struct {
	path      string
	dir       string
	w         *fsnotify.Watcher
	h         datasource.Handler
	target    string // what path resolves to, if that is another file
	delivered bool   // something has been delivered
	exists    bool   // the last delivery was data, not Deleted
	data      []byte
}

// concerns says whether an event may change what path reads: an event on
// path, on the file it resolves to, on a ..name (a ConfigMap volume's
// ..data swap), or on a watched directory itself. Chmod alone does not.
func (f *follower) concerns(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	switch ev.Name {
	case f.path, f.dir, f.target, filepath.Dir(f.target):
		return true
	}
	return strings.HasPrefix(filepath.Base(ev.Name), "..")
}

func (f *follower) read() {
	f.rewatch()
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

// rewatch watches the file's directory again if it was replaced (which
// drops its watch), and follows a symlink at path to its target's
// directory, so that an edit of the target makes an event.
func (f *follower) rewatch() {
	watched := map[string]bool{}
	for _, d := range f.w.WatchList() {
		watched[d] = true
	}
	if !watched[f.dir] {
		if err := f.w.Add(f.dir); err != nil {
			f.h.Error(fmt.Errorf("file: watch %s again: %w", f.dir, err))
		}
	}
	target, err := filepath.EvalSymlinks(f.path)
	if err != nil || target == f.path {
		target = ""
	}
	if target != f.target {
		if old := filepath.Dir(f.target); f.target != "" && old != f.dir && watched[old] {
			_ = f.w.Remove(old)
		}
		if d := filepath.Dir(target); target != "" && d != f.dir {
			if err := f.w.Add(d); err != nil {
				f.h.Error(fmt.Errorf("file: watch %s: %w", d, err))
			}
		}
		f.target = target
	}
}
