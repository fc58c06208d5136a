package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-go/sluice/datasource"
)

// DefaultRequestTimeout bounds each read of the key, unless
// WithRequestTimeout says otherwise: a server that does not answer within
// it is reported as an error instead of hanging the source.
const DefaultRequestTimeout = 5 * time.Second

// DefaultResync is how often the key is read again while it is watched,
// unless WithResync says otherwise.
const DefaultResync = 10 * time.Second

// DefaultMinBackoff and DefaultMaxBackoff bound the wait before the key is
// read and watched again after trouble, unless WithBackoff says otherwise:
// the first wait is at most DefaultMinBackoff, and each further one in a
// row at most twice the one before, up to DefaultMaxBackoff.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// Source follows one etcd key. Make it with New. It is a
// datasource.Source; one Source may be watched by several Watch calls at
// once, each following the key on its own.
type Source struct {
	client     *clientv3.Client
	key        string
	timeout    time.Duration
	resync     time.Duration // < 0: no resync
	minBackoff time.Duration
	maxBackoff time.Duration

	// testAfterRead, if set, is called by Watch after each successful read
	// of the key and the delivery it made, if any; after the read that
	// precedes a watch, it is called before the watch is opened.
	testAfterRead func()
}

// Option changes how a Source works.
type Option func(*Source)

// WithRequestTimeout sets how long each read of the key may take before it
// is abandoned and reported as an error. d <= 0 means
// DefaultRequestTimeout.
func WithRequestTimeout(d time.Duration) Option {
	return func(s *Source) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithResync sets how often Watch reads the key again while it watches
// it. A read that fails (the server is unreachable; the client would
// otherwise keep retrying the watch without a word) is reported and the
// key is read and watched anew; a read that finds a newer revision than
// the last delivered delivers it. d == 0 means DefaultResync; d < 0 turns
// the reads off, so that an unreachable server goes unreported while the
// client retries the watch.
func WithResync(d time.Duration) Option {
	return func(s *Source) {
		if d != 0 {
			s.resync = d
		}
	}
}

// WithBackoff sets the bounds of the wait before the key is read and
// watched again after trouble: the first wait in a row is at most min, each
// further one at most twice the one before, up to max; each wait is drawn
// at random from the upper half of its bound. min <= 0 means
// DefaultMinBackoff; max <= 0 means DefaultMaxBackoff, and a max below min
// is raised to min.
func WithBackoff(min, max time.Duration) Option {
	return func(s *Source) {
		if min > 0 {
			s.minBackoff = min
		}
		if max > 0 {
			s.maxBackoff = max
		}
	}
}

// New returns a source that follows key through client. The caller owns
// the client and closes it after the last Watch has returned; the source
// never closes it. A nil client or an empty key makes Watch fail at once.
func New(client *clientv3.Client, key string, opts ...Option) *Source {
	s := &Source{client: client, key: key, timeout: DefaultRequestTimeout, resync: DefaultResync,
		minBackoff: DefaultMinBackoff, maxBackoff: DefaultMaxBackoff}
	for _, o := range opts {
		o(s)
	}
	s.maxBackoff = max(s.maxBackoff, s.minBackoff)
	return s
}

// String returns "etcd " and the key.
func (s *Source) String() string { return "etcd " + s.key }

// Watch delivers the key's state to h, then each change, until ctx is
// done, when it returns ctx.Err(). A key that does not exist is delivered
// as Deleted. Each delivery's Version is a revision newer than the last
// delivered one: the key's mod revision, the revision of its deletion, or,
// for a read that found no key, the store's revision at that read. Trouble
// is reported to h.Error and Watch reads and watches the key again, after a
// backoff (see the package doc); a read that finds the revision already
// delivered delivers nothing. The one exception to newer revisions is a
// store whose revision went back (a read from another cluster, or at a
// revision below the last delivered): Watch reports an error wrapping
// ErrRevisionWentBack to h.Error, delivers what that read found as new,
// and watches from that read's revision on. Watch returns an error of its
// own only for a nil client or an empty key, at once, and for a client
// closed while it runs.
func (s *Source) Watch(ctx context.Context, h datasource.Handler) error {
	if s.client == nil {
		return errors.New("etcd: New was given a nil client")
	}
	if s.key == "" {
		return errors.New("etcd: New was given an empty key")
	}
	// A watcher of Watch's own: closing it waits for the client's watch
	// stream and its goroutines to stop.
	w := clientv3.NewWatcher(s.client)
	defer w.Close()
	f := &follower{s: s, h: h, w: w, bo: backoff{min: s.minBackoff, max: s.maxBackoff}}
	for {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.client.Ctx().Err() != nil {
			return fmt.Errorf("etcd: the client was closed: %w", err)
		}
		h.Error(err)
		if !f.bo.wait(ctx, s.client.Ctx().Done()) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("etcd: the client was closed: %w", err)
		}
	}
}

// follower is one Watch call's state.
type follower struct {
	s    *Source
	h    datasource.Handler
	w    clientv3.Watcher
	bo   backoff
	last tracker
}

// follow reads the key, delivers it if it is news, and watches it from the
// revision after the read, until trouble, which it returns, or ctx is done.
func (f *follower) follow(ctx context.Context) error {
	rev, _, err := f.read(ctx)
	if err != nil {
		return err
	}
	for {
		// A resync read that found the store gone back returns its
		// revision: the watch is opened again after it.
		if rev, err = f.watch(ctx, rev); err != nil {
			return err
		}
	}
}

// watch watches the key from the revision after rev, with resync reads,
// until trouble, which it returns, or ctx is done, or a resync read finds
// that the store's revision went back, when it returns that read's revision.
func (f *follower) watch(ctx context.Context, rev int64) (int64, error) {
	// The watch's own context, cancelled when watch returns, so that the
	// client drops the watch. Opening a watch blocks for as long as the
	// client cannot reach a server, so it is opened on a goroutine of its
	// own, and watch goes on with its resync reads meanwhile; once the
	// context is cancelled, opening returns at once, and watch waits for it.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	opened := make(chan clientv3.WatchChan, 1)
	go func() {
		opened <- f.w.Watch(wctx, f.s.key, clientv3.WithRev(rev+1), clientv3.WithCreatedNotify())
	}()
	var wch clientv3.WatchChan // nil until opened
	defer func() {
		cancel()
		if wch == nil {
			<-opened
		}
	}()
	openc := opened
	var resync <-chan time.Time
	if f.s.resync > 0 {
		t := time.NewTicker(f.s.resync)
		defer t.Stop()
		resync = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case wch = <-openc:
			openc = nil
		case resp, ok := <-wch:
			if !ok {
				return 0, errors.New("etcd: watch channel closed")
			}
			// Err is set for every response that ends the watch: one
			// whose history was compacted, one the server cancelled, one
			// after the stream closed.
			if err := resp.Err(); err != nil {
				switch {
				case resp.CompactRevision != 0:
					return 0, fmt.Errorf("etcd: watch from revision %d: history compacted up to revision %d: %w",
						rev+1, resp.CompactRevision, err)
				case resp.Canceled:
					return 0, fmt.Errorf("etcd: watch cancelled by the server: %w", err)
				}
				return 0, fmt.Errorf("etcd: watch: %w", err)
			}
			if resp.Created {
				f.bo.reset()
			}
			for _, ev := range resp.Events {
				if ev.Type == mvccpb.DELETE {
					f.deliver(ev.Kv.ModRevision, true, nil)
				} else {
					f.deliver(ev.Kv.ModRevision, false, ev.Kv.Value)
				}
			}
		case <-resync:
			rrev, back, err := f.read(ctx)
			if err != nil {
				return 0, err
			}
			if back {
				return rrev, nil
			}
		}
	}
}

// read reads the key, delivers it if it is news, and returns the store's
// revision at the read. If the read shows that the store's revision went
// back (see tracker.check), read reports it to the handler, delivers the
// state it read as new, and says so.
func (f *follower) read(ctx context.Context) (rev int64, back bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, f.s.timeout)
	defer cancel()
	resp, err := f.s.client.Get(rctx, f.s.key)
	if err != nil {
		return 0, false, f.s.readError(ctx, err)
	}
	if err := f.last.check(resp.Header.ClusterId, resp.Header.Revision); err != nil {
		f.h.Error(err)
		back = true
	}
	if len(resp.Kvs) == 0 {
		f.deliver(resp.Header.Revision, true, nil)
	} else {
		kv := resp.Kvs[0]
		f.deliver(kv.ModRevision, false, kv.Value)
	}
	if f.s.testAfterRead != nil {
		f.s.testAfterRead()
	}
	return resp.Header.Revision, back, nil
}

// deliver hands the key's state at rev to the handler if it is news.
func (f *follower) deliver(rev int64, deleted bool, data []byte) {
	if !f.last.next(rev, deleted) {
		return
	}
	if deleted {
		f.h.Update(datasource.Update{Deleted: true, Version: rev})
	} else {
		f.h.Update(datasource.Update{Data: data, Version: rev})
	}
}
