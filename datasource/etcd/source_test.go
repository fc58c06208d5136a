package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice/datasource/etcd/etcdtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/datasourcetest"
)

// fast makes a source notice trouble and recover within a test's patience.
var fast = []Option{
	WithRequestTimeout(300 * time.Millisecond),
	WithResync(100 * time.Millisecond),
	WithBackoff(10*time.Millisecond, 100*time.Millisecond),
}

// eventually polls cond until it holds, failing the test after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	datasourcetest.Eventually(t, 5*time.Second, what, cond)
}

func put(t *testing.T, cli *clientv3.Client, key, val string) int64 {
	t.Helper()
	rev, err := putErr(cli, key, val)
	require.NoError(t, err)
	return rev
}

// putErr puts val at key and returns the revision of the put. It does not
// touch a testing.T, so it can run off the test's goroutine.
func putErr(cli *clientv3.Client, key, val string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Put(ctx, key, val)
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

func del(t *testing.T, cli *clientv3.Client, key string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Delete(ctx, key)
	require.NoError(t, err)
	require.EqualValues(t, 1, resp.Deleted)
	return resp.Header.Revision
}

// recorder is a datasource.Handler that keeps what it is given.
type recorder struct{ datasourcetest.Recorder }

// states returns each delivery as "data@version" or "<deleted>@version".
func (r *recorder) states() []string {
	updates := r.Updates()
	out := make([]string, len(updates))
	for i, u := range updates {
		d := string(u.Data)
		if u.Deleted {
			d = "<deleted>"
		}
		out[i] = fmt.Sprintf("%s@%d", d, u.Version)
	}
	return out
}

func (r *recorder) errors() []error { return r.Errors() }

// watch runs src.Watch until the test ends (see datasourcetest.Watch).
func watch(t *testing.T, src *Source) *recorder {
	t.Helper()
	rec := &recorder{}
	datasourcetest.Watch(t, src, rec)
	return rec
}

// binding is an engine fed by a Source through datasource.Start.
type binding struct {
	eng   *sluice.Engine
	b     *datasource.Binding
	mu    sync.Mutex
	errs  []error  // what OnError was given
	loads []string // the flow rules in force after each OnLoad
}

// bind starts a binding of src to a new engine, closed when the test ends.
func bind(t *testing.T, src *Source, cfg datasource.Config) *binding {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	bd := &binding{eng: sluice.New(sluice.WithLogger(quiet))}
	t.Cleanup(func() { bd.eng.Close() })
	cfg.Kind, cfg.Logger = datasource.Flow, quiet
	cfg.OnError = func(err error) {
		bd.mu.Lock()
		defer bd.mu.Unlock()
		bd.errs = append(bd.errs, err)
	}
	cfg.OnLoad = func(_ datasource.Update, inForce sluice.Rules) {
		bd.mu.Lock()
		defer bd.mu.Unlock()
		bd.loads = append(bd.loads, flowString(inForce))
	}
	b, err := datasource.Start(context.Background(), bd.eng, src, cfg)
	require.NoError(t, err)
	bd.b = b
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { b.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Second):
			t.Error("Binding.Close did not return within 1 s")
			<-done
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	select {
	case <-b.Ready():
	case <-ctx.Done():
		t.Fatalf("no first delivery within 5 s: %v", b.Wait(ctx))
	}
	return bd
}

func (bd *binding) errors() []error {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	return append([]error(nil), bd.errs...)
}

// flow returns the flow rules in force as "resource:threshold", sorted.
func (bd *binding) flow() string { return flowString(bd.eng.Rules()) }

func flowString(rules sluice.Rules) string {
	var out []string
	for _, r := range rules.Flow {
		out = append(out, fmt.Sprintf("%s:%g", r.Resource, r.Threshold))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// waitFlow waits until the binding's last load (its OnLoad, called once
// Stats count the load) put the flow rules want in force, and checks the
// engine has them.
func (bd *binding) waitFlow(t *testing.T, want string) {
	t.Helper()
	eventually(t, "a load of flow rules "+want, func() bool {
		bd.mu.Lock()
		defer bd.mu.Unlock()
		return len(bd.loads) > 0 && bd.loads[len(bd.loads)-1] == want
	})
	assert.Equal(t, want, bd.flow())
}

const (
	rulesA10 = `[{"resource":"a","threshold":10}]`
	rulesA20 = `[{"resource":"a","threshold":20}]`
	rulesB5  = `[{"resource":"b","threshold":5}]`
)

func TestInitialLoad(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	rev := put(t, cli, "/flow", rulesA10)

	bd := bind(t, New(cli, "/flow"), datasource.Config{})
	require.NoError(t, bd.b.Wait(context.Background()))
	assert.Equal(t, "a:10", bd.flow())
	st := bd.b.Stats()
	assert.EqualValues(t, 1, st.Loads)
	assert.Equal(t, rev, st.Version, "Version is the key's mod revision")
	assert.Empty(t, bd.errors())
}

func TestMissingAtStartThenCreated(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()

	bd := bind(t, New(cli, "/flow"), datasource.Config{})
	require.ErrorIs(t, bd.b.Wait(context.Background()), datasource.ErrNotFound, "a key missing at the first read")
	st := bd.b.Stats()
	assert.EqualValues(t, 0, st.Deletes, "a key missing from the start is not a deletion")
	assert.EqualValues(t, 0, st.Loads)
	assert.Equal(t, "", bd.flow())

	rev := put(t, cli, "/flow", rulesA10)
	bd.waitFlow(t, "a:10")
	assert.Equal(t, rev, bd.b.Stats().Version)
}

func TestUpdatePickedUp(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	put(t, cli, "/flow", rulesA10)
	put(t, cli, "/other", rulesB5) // another key changes nothing

	bd := bind(t, New(cli, "/flow"), datasource.Config{})
	bd.waitFlow(t, "a:10")
	put(t, cli, "/other", rulesA20)
	rev := put(t, cli, "/flow", rulesA20)
	bd.waitFlow(t, "a:20")
	put(t, cli, "/flow", rulesA10+"\n") // a new revision: delivered and loaded again
	bd.waitFlow(t, "a:10")
	st := bd.b.Stats()
	assert.EqualValues(t, 3, st.Loads)
	assert.Greater(t, st.Version, rev)
}

func TestBadPayloadKeepsRules(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	put(t, cli, "/flow", rulesA10)
	bd := bind(t, New(cli, "/flow"), datasource.Config{})
	bd.waitFlow(t, "a:10")

	badRev := put(t, cli, "/flow", `[{"resource":`)
	eventually(t, "first payload rejected", func() bool { return len(bd.errors()) == 1 })
	assert.EqualValues(t, 1, bd.b.Stats().Rejected)
	assert.Equal(t, "a:10", bd.flow(), "invalid JSON keeps the rules in force")
	var perr *datasource.PayloadError
	require.Len(t, bd.errors(), 1)
	require.ErrorAs(t, bd.errors()[0], &perr)
	assert.ErrorIs(t, perr, datasource.ErrBadPayload)
	assert.Equal(t, badRev, perr.Version)
	assert.Equal(t, "etcd /flow", perr.Source)

	put(t, cli, "/flow", `[{"resource":"a","threshold":-1}]`)
	eventually(t, "second payload rejected", func() bool { return len(bd.errors()) == 2 })
	assert.EqualValues(t, 2, bd.b.Stats().Rejected)
	assert.Equal(t, "a:10", bd.flow(), "an invalid rule keeps the rules in force")
	require.Len(t, bd.errors(), 2)
	require.ErrorAs(t, bd.errors()[1], &perr)
	assert.ErrorIs(t, perr, sluice.ErrInvalidRule)

	put(t, cli, "/flow", rulesB5)
	bd.waitFlow(t, "b:5")
	st := bd.b.Stats()
	assert.EqualValues(t, 2, st.Loads)
	assert.EqualValues(t, 2, st.Rejected)
	assert.EqualValues(t, 0, st.SourceErrors)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()

	t.Run("keeps rules by default", func(t *testing.T) {
		put(t, cli, "/keep", rulesA10)
		bd := bind(t, New(cli, "/keep"), datasource.Config{})
		bd.waitFlow(t, "a:10")
		del(t, cli, "/keep")
		eventually(t, "deletion seen", func() bool { return bd.b.Stats().Deletes == 1 })
		assert.Equal(t, "a:10", bd.flow())
		put(t, cli, "/keep", rulesB5) // re-created
		bd.waitFlow(t, "b:5")
	})
	t.Run("ClearOnDelete clears", func(t *testing.T) {
		put(t, cli, "/clear", rulesA10)
		bd := bind(t, New(cli, "/clear"), datasource.Config{ClearOnDelete: true})
		bd.waitFlow(t, "a:10")
		rev := del(t, cli, "/clear")
		bd.waitFlow(t, "")
		st := bd.b.Stats()
		assert.EqualValues(t, 1, st.Deletes)
		assert.Equal(t, rev, st.Version, "a deletion's Version is the revision of the delete")
	})
}

func TestDeliveriesWithRecorder(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	r1 := put(t, cli, "/k", "v1")
	rec := watch(t, New(cli, "/k"))
	eventually(t, "first delivery", func() bool { return len(rec.states()) == 1 })
	r2 := put(t, cli, "/k", "v2")
	r3 := del(t, cli, "/k")
	r4 := put(t, cli, "/k", "v3")
	want := []string{"v1@" + fmt.Sprint(r1), "v2@" + fmt.Sprint(r2), "<deleted>@" + fmt.Sprint(r3), "v3@" + fmt.Sprint(r4)}
	eventually(t, "all four deliveries", func() bool { return len(rec.states()) >= len(want) })
	assert.Equal(t, want, rec.states())
	assert.Empty(t, rec.errors())
}

// TestServerRestart kills the server mid-watch and starts it again on the
// same ports and data directory: the source reports the outage and then
// delivers what is put after the restart.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	srv, bd, _ := stopUnderBinding(t)

	srv.Restart()
	cli := srv.Client() // the binding's own client reconnects by itself
	put(t, cli, "/flow", rulesA20)
	bd.waitFlow(t, "a:20")
	put(t, cli, "/flow", rulesB5)
	bd.waitFlow(t, "b:5")
	assert.EqualValues(t, 0, bd.b.Stats().Rejected)
}

// TestNoRedeliveryAfterReconnect: once the server is back, the source reads
// the key again and finds the revision it already delivered; it delivers
// nothing until the key changes, and a change seen both by the watch and by
// a resync read is delivered once.
func TestNoRedeliveryAfterReconnect(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	r1 := put(t, cli, "/k", "v1")
	src := New(cli, "/k", fast...)
	var reads atomic.Int32 // successful reads; the hook runs after a read's delivery
	src.testAfterRead = func() { reads.Add(1) }
	rec := watch(t, src)
	eventually(t, "first read", func() bool { return reads.Load() >= 1 })

	srv.Stop()
	eventually(t, "an error reported", func() bool { return len(rec.errors()) > 0 })
	srv.Restart()
	n := reads.Load()
	eventually(t, "the key read again after the restart", func() bool { return reads.Load() > n+1 })
	assert.Equal(t, []string{"v1@" + fmt.Sprint(r1)}, rec.states(), "the same revision is not delivered again")

	r2 := put(t, cli, "/k", "v2")
	eventually(t, "v2 delivered", func() bool { return len(rec.states()) >= 2 })
	n = reads.Load()
	eventually(t, "resync reads after v2", func() bool { return reads.Load() > n+1 })
	assert.Equal(t, []string{"v1@" + fmt.Sprint(r1), "v2@" + fmt.Sprint(r2)}, rec.states())
}

// TestCompaction makes the key change and the history be compacted between
// the source's read and the opening of its watch, as happens to a source
// that reconnects late: the watch, asking for a revision compacted away,
// fails with ErrCompacted; the source reports it, reads the key again and
// delivers the latest value, never the one it missed.
func TestCompaction(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	put(t, cli, "/flow", rulesA10)
	src := New(cli, "/flow", WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	var once sync.Once
	hookErr := make(chan error, 1) // what the hook, on Watch's goroutine, did
	// The hook runs after the first read, before the first watch.
	src.testAfterRead = func() {
		once.Do(func() {
			hookErr <- func() error {
				if _, err := putErr(cli, "/flow", rulesB5); err != nil {
					return err
				}
				last, err := putErr(cli, "/flow", rulesA20)
				if err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err = cli.Compact(ctx, last)
				return err
			}()
		})
	}
	bd := bind(t, src, datasource.Config{})
	select {
	case err := <-hookErr:
		require.NoError(t, err, "putting and compacting in the hook")
	case <-time.After(5 * time.Second):
		t.Fatal("the hook did not run within 5 s")
	}
	bd.waitFlow(t, "a:20")
	st := bd.b.Stats()
	assert.EqualValues(t, 2, st.Loads, "a:10 then a:20; b:5 was compacted away unseen")
	require.NotEmpty(t, bd.errors())
	var serr *datasource.SourceError
	require.ErrorAs(t, bd.errors()[0], &serr)
	assert.ErrorIs(t, serr, rpctypes.ErrCompacted)

	put(t, cli, "/flow", rulesA10) // the new watch works
	bd.waitFlow(t, "a:10")
}

func TestWatchReturnsPromptlyOnCancel(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	put(t, cli, "/k", "v1")
	rec := watch(t, New(cli, "/k")) // its cleanup checks the prompt return
	eventually(t, "first delivery", func() bool { return len(rec.states()) == 1 })
}

// TestWatchReturnsPromptlyWhileServerDown cancels a Watch blocked in a read
// of a server that is gone, and in the backoff after it.
func TestWatchReturnsPromptlyWhileServerDown(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	put(t, cli, "/k", "v1")
	srv.Stop()
	for _, tc := range []struct {
		name string
		src  *Source
	}{
		{"in a read", New(cli, "/k", WithRequestTimeout(time.Hour))},
		{"in the backoff", New(cli, "/k", WithRequestTimeout(10*time.Millisecond), WithBackoff(time.Hour, time.Hour))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tc.src.Watch(ctx, rec) }()
			time.AfterFunc(100*time.Millisecond, cancel) // Watch is in its read or its backoff by then
			select {
			case err := <-done:
				assert.True(t, errors.Is(err, context.Canceled), "Watch returned %v", err)
			case <-time.After(1100 * time.Millisecond):
				t.Fatal("Watch did not return within 1 s of cancel")
			}
			assert.Empty(t, rec.states())
		})
	}
}

func TestBindingCloseStopsSource(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.Client()
	put(t, cli, "/flow", rulesA10)
	bd := bind(t, New(cli, "/flow"), datasource.Config{})
	bd.waitFlow(t, "a:10")
	control := watch(t, New(cli, "/flow")) // a source still watching the key
	eventually(t, "the control's first delivery", func() bool { return len(control.states()) == 1 })
	start := time.Now()
	require.NoError(t, bd.b.Close())
	assert.Less(t, time.Since(start), time.Second)
	// Close has waited for Watch to return: nothing runs that could load.
	// By the time the control has the change, a binding still watching
	// would have it too.
	put(t, cli, "/flow", rulesB5)
	eventually(t, "the control's delivery of the change", func() bool { return len(control.states()) == 2 })
	assert.Equal(t, "a:10", bd.flow(), "a closed binding loads nothing more; its rules stay")
	assert.EqualValues(t, 1, bd.b.Stats().Loads)
}

func TestWatchEndsWhenClientClosed(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.NewClient()
	put(t, cli, "/k", "v1")
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- New(cli, "/k", fast...).Watch(context.Background(), rec) }()
	eventually(t, "first delivery", func() bool { return len(rec.states()) == 1 })
	cli.Close()
	select {
	case err := <-done:
		assert.ErrorContains(t, err, "client was closed")
	case <-time.After(2 * time.Second):
		t.Fatal("Watch did not return within 2 s of the client's Close")
	}
}

// TestWatchEndsWhenClientClosedInBackoff closes the client while Watch
// waits out an hour's backoff: Watch returns at once.
func TestWatchEndsWhenClientClosedInBackoff(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	cli := srv.NewClient()
	defer cli.Close()
	srv.Stop()
	rec := &recorder{}
	done := make(chan error, 1)
	src := New(cli, "/k", WithRequestTimeout(10*time.Millisecond), WithBackoff(time.Hour, time.Hour))
	go func() { done <- src.Watch(context.Background(), rec) }()
	eventually(t, "a failed read reported", func() bool { return len(rec.errors()) > 0 }) // Watch is in its backoff
	cli.Close()
	select {
	case err := <-done:
		assert.ErrorContains(t, err, "client was closed")
	case <-time.After(time.Second):
		t.Fatal("Watch did not return within 1 s of the client's Close")
	}
}

// TestStoreWentBack replaces the server, mid-watch, by one with a fresh
// data directory on the same client port, whose revisions start again
// from 1: the source reports it and delivers the new store's state and
// changes, though their revisions are below the ones it delivered before.
func TestStoreWentBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		restart func(*etcdtest.Server)
		why     string // what the error says
	}{
		{"same cluster, revision below", (*etcdtest.Server).Wipe, "below revision"},
		{"another cluster", (*etcdtest.Server).Replace, "no longer from cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := etcdtest.Start(t)
			cli := srv.Client()
			var old int64
			for i := 0; i < 10; i++ {
				old = put(t, cli, "/k", "old")
			}
			rec := watch(t, New(cli, "/k", fast...))
			eventually(t, "the first delivery", func() bool { return len(rec.states()) == 1 })
			require.Equal(t, []string{"old@" + fmt.Sprint(old)}, rec.states())

			tc.restart(srv)
			r1 := put(t, cli, "/k", "new")
			require.Less(t, r1, old, "the new store's revision is lower")
			wantNew := "new@" + fmt.Sprint(r1)
			eventually(t, "the new store's value delivered", func() bool {
				st := rec.states()
				return st[len(st)-1] == wantNew
			})
			var back []error
			for _, err := range rec.errors() {
				if errors.Is(err, ErrRevisionWentBack) {
					back = append(back, err)
				}
			}
			require.Len(t, back, 1, "errors: %v", rec.errors())
			assert.ErrorContains(t, back[0], tc.why)

			r2 := put(t, cli, "/k", "newer") // followed on from there
			eventually(t, "the next change delivered", func() bool {
				st := rec.states()
				return st[len(st)-1] == "newer@"+fmt.Sprint(r2)
			})
		})
	}
}
