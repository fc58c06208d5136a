package datasource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sluice-go/sluice"
)

// Config says how a binding reads its payloads and whom it tells.
type Config struct {
	// Kind is what the payloads hold. The zero value, All, is a whole
	// sluice.Rules document.
	Kind Kind
	// Format is how they are written. The zero value, Auto, is the format
	// the source suggests (see FormatSuggester; the file source: YAML for
	// a .yaml or .yml file, JSON for .json), else JSON. An error for a
	// payload that does not read names the format used and why.
	Format Format
	// ClearOnDelete clears the rules of Kind (every family, for All) when
	// the key is deleted after a payload was read from it. By default a
	// deleted key keeps the last rules in force; either way the deletion
	// is logged. A key missing from the start clears nothing.
	ClearOnDelete bool
	// OnError, if set, is called with each error: a *PayloadError for a
	// payload that was not loaded, a *SourceError for trouble in the
	// source. It runs on the binding's goroutine, one call at a time, and
	// must not call the binding's Close or Wait (they wait for that
	// goroutine); to stop the binding from it, cancel Start's context.
	OnError func(error)
	// OnLoad, if set, is called after each payload is loaded (and after
	// rules are cleared on delete) with the update and a snapshot of the
	// engine's rules taken just after the load. It runs as OnError does,
	// under the same restrictions.
	OnLoad func(u Update, inForce sluice.Rules)
	// OnDelete, if set, is called with each delivery saying the key does
	// not exist (missing from the start, or deleted), after the binding
	// has handled it (and after OnLoad, if ClearOnDelete cleared rules).
	// It runs as OnError does, under the same restrictions.
	OnDelete func(u Update)
	// Logger logs loads (Info), a key missing at the first read,
	// deletions and errors (Warn). Nil means slog.Default().
	Logger *slog.Logger
}

// Stats counts what a binding has done.
type Stats struct {
	// Loads counts payloads loaded, and rules cleared on delete.
	Loads uint64
	// Rejected counts payloads not loaded: unreadable or invalid. A
	// payload delivered again unchanged is not counted again.
	Rejected uint64
	// Deletes counts deletions of the key (not a key missing from the
	// start).
	Deletes uint64
	// SourceErrors counts errors the source reported.
	SourceErrors uint64
	// Version is the version of the last delivery, a payload or a
	// deletion (0 if none, or if the store keeps no versions).
	Version int64
	// LastError is the latest error reported, or nil if there was none.
	LastError error
}

// ErrStopped is wrapped by Wait's error when the binding stopped (Close,
// Start's context, a source that gave up) before its first delivery.
var ErrStopped = errors.New("datasource: binding stopped")

// ErrNotFound is wrapped by Wait's error when the key (the file) did not
// exist at the first read. The binding goes on watching and loads the
// rules once the key exists; a key deleted later is not an error.
var ErrNotFound = errors.New("datasource: key not found")

// Binding loads the rules a Source delivers into an Engine, until Close.
type Binding struct {
	eng    *sluice.Engine
	src    Source
	name   string
	cfg    Config
	log    *slog.Logger
	format Format // cfg.Format, or the one chosen for Auto
	why    string // why format was chosen, for errors
	cancel context.CancelFunc
	done   chan struct{} // closed when Watch has returned
	ready  chan struct{} // closed when the first Update has been handled

	mu    sync.Mutex
	stats Stats
	first error // the outcome of the first Update
	// last is the last payload delivered, to skip repeats; seen says
	// whether there is one (it is reset by a deletion).
	last []byte
	seen bool
}

// Start binds src to eng: it runs src.Watch on a goroutine of its own and
// loads each payload, decoded as cfg.Kind in cfg.Format, or for Auto in
// the format src suggests, else JSON (see Decode and FormatSuggester). A
// payload equal to the one delivered just before it is neither loaded nor
// reported again, so a source may re-send its state freely; rules loaded
// into the engine by other means in between are not restored by it. The
// binding runs until Close is called or ctx is done. Start does not wait
// for the first payload; see Wait. It fails only for a nil engine or
// source, or a Kind and Format that do not go together (ErrUnsupported).
func Start(ctx context.Context, eng *sluice.Engine, src Source, cfg Config) (*Binding, error) {
	if eng == nil || src == nil {
		return nil, errors.New("datasource: Start needs an engine and a source")
	}
	format, why := chooseFormat(cfg.Format, src)
	if err := check(cfg.Kind, format); err != nil {
		return nil, fmt.Errorf("%w (%v, %s)", err, format, why)
	}
	b := &Binding{eng: eng, src: src, name: src.String(), cfg: cfg, log: cfg.Logger,
		format: format, why: why, done: make(chan struct{}), ready: make(chan struct{})}
	if b.log == nil {
		b.log = slog.Default()
	}
	ctx, b.cancel = context.WithCancel(ctx)
	go b.run(ctx)
	return b, nil
}

func (b *Binding) run(ctx context.Context) {
	defer close(b.done)
	defer func() { // a panicking source stops the binding, not the process
		if p := recover(); p != nil {
			b.report(&SourceError{Source: b.name, Err: fmt.Errorf("watch panicked: %v", p)})
		}
	}()
	err := b.src.Watch(ctx, handler{b})
	if err != nil && ctx.Err() == nil {
		b.report(&SourceError{Source: b.name, Err: fmt.Errorf("watch ended: %w", err)})
	}
}

// Close stops the binding and waits for its source to stop. The rules
// loaded stay in force. Close is safe to call more than once; it returns
// nil. It must not be called from OnLoad or OnError.
func (b *Binding) Close() error {
	b.cancel()
	<-b.done
	return nil
}

// Ready is closed once the source's first delivery has been handled:
// loaded, rejected or (for a missing key) warned of.
func (b *Binding) Ready() <-chan struct{} { return b.ready }

// Source returns the description of the binding's source (its String:
// "file rules.json", "etcd /sluice/flow"), as its log lines and the
// metrics exporters name it.
func (b *Binding) Source() string { return b.name }

// Wait waits until the first delivery has been handled and returns its
// error: nil if it was loaded, an error wrapping ErrNotFound if the key
// did not exist, else a *PayloadError. If ctx is done first, or the
// binding stops first
// (ErrStopped), Wait returns that error joined with the last error the
// source reported. Once Ready is closed, Wait returns the first
// delivery's error whatever the state of ctx.
func (b *Binding) Wait(ctx context.Context) error {
	select {
	case <-b.ready:
		return b.firstErr()
	default:
	}
	select {
	case <-b.ready:
		return b.firstErr()
	case <-ctx.Done():
		return b.notReady(ctx.Err())
	case <-b.done:
		select {
		case <-b.ready: // handled just before the end
			return b.firstErr()
		default:
		}
		return b.notReady(ErrStopped)
	}
}

func (b *Binding) firstErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.first
}

func (b *Binding) notReady(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Errorf("datasource: %s: no rules read: %w", b.name, errors.Join(err, b.stats.LastError))
}

// Stats returns what the binding has done so far.
func (b *Binding) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// handler is the Binding's side of Source.Watch; it keeps Update and Error
// off the Binding's own method set.
type handler struct{ b *Binding }

func (h handler) Update(u Update) { h.b.update(u) }
func (h handler) Error(err error) {
	h.b.report(&SourceError{Source: h.b.name, Err: err})
}

func (b *Binding) update(u Update) {
	b.mu.Lock()
	b.stats.Version = u.Version
	b.mu.Unlock()
	err := b.apply(u)
	b.mu.Lock()
	if !b.handledFirst() {
		b.first = err
		close(b.ready)
	}
	b.mu.Unlock()
}

func (b *Binding) apply(u Update) (err error) {
	defer func() { // a fault in decoding or loading is reported, not raised
		if p := recover(); p != nil {
			err = &PayloadError{Source: b.name, Version: u.Version, Err: fmt.Errorf("panic: %v", p)}
			b.report(err)
		}
	}()
	if u.Deleted {
		return b.deleted(u)
	}
	b.mu.Lock()
	repeat := b.seen && bytes.Equal(b.last, u.Data)
	b.last, b.seen = bytes.Clone(u.Data), true
	b.mu.Unlock()
	if repeat {
		return nil
	}
	r, err := Decode(b.cfg.Kind, b.format, u.Data)
	if err != nil {
		err = fmt.Errorf("read as %v, %s: %w", b.format, b.why, err)
	} else {
		err = load(b.eng, b.cfg.Kind, r)
	}
	if err != nil {
		perr := &PayloadError{Source: b.name, Version: u.Version, Err: err}
		b.mu.Lock()
		b.stats.Rejected++
		b.mu.Unlock()
		b.report(perr)
		return perr
	}
	b.loaded(u)
	b.log.Info("datasource: rules loaded", "source", b.name, "kind", b.cfg.Kind, "format", b.format, "version", u.Version)
	return nil
}

func (b *Binding) deleted(u Update) error {
	b.mu.Lock()
	seen := b.seen
	if seen {
		b.stats.Deletes++
	}
	b.last, b.seen = nil, false
	b.mu.Unlock()
	var err error
	switch {
	case !b.handledFirst(): // missing from the start
		b.log.Warn("datasource: key missing at the first read; no rules from it until it exists", "source", b.name, "kind", b.cfg.Kind)
		err = fmt.Errorf("datasource: %s did not exist at the first read; its rules load once it does: %w", b.name, ErrNotFound)
	case !seen: // deleted twice: nothing to do
		b.log.Info("datasource: key missing; no rules from it", "source", b.name, "kind", b.cfg.Kind)
	case !b.cfg.ClearOnDelete:
		b.log.Warn("datasource: key deleted; the rules in force stay", "source", b.name, "kind", b.cfg.Kind)
	default:
		if err := load(b.eng, b.cfg.Kind, sluice.Rules{}); err != nil { // clearing cannot be invalid
			return err
		}
		b.loaded(u)
		b.log.Warn("datasource: key deleted; rules cleared", "source", b.name, "kind", b.cfg.Kind)
	}
	if b.cfg.OnDelete != nil {
		b.cfg.OnDelete(u)
	}
	return err
}

// handledFirst says whether the first delivery has been handled. Only
// the Watch goroutine, which closes ready, may ask.
func (b *Binding) handledFirst() bool {
	select {
	case <-b.ready:
		return true
	default:
		return false
	}
}

func (b *Binding) loaded(u Update) {
	b.mu.Lock()
	b.stats.Loads++
	b.mu.Unlock()
	if b.cfg.OnLoad != nil {
		b.cfg.OnLoad(u, b.eng.Rules())
	}
}

func (b *Binding) report(err error) {
	b.mu.Lock()
	if _, ok := err.(*SourceError); ok {
		b.stats.SourceErrors++
	}
	b.stats.LastError = err
	b.mu.Unlock()
	b.log.Warn("datasource: error", "source", b.name, "kind", b.cfg.Kind, "err", err)
	if b.cfg.OnError != nil {
		b.cfg.OnError(err)
	}
}
