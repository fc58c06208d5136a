package nacos_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/datasourcetest"
	"github.com/sluice-go/sluice/datasource/nacos"
	"github.com/sluice-go/sluice/datasource/nacos/nacostest"
)

const rules10 = `[{"resource":"a","threshold":10}]`

func rules(n int) string {
	return `[{"resource":"a","threshold":` + strconv.Itoa(n) + `}]`
}

// threshold returns the threshold of the flow rule for "a" in force, or -1.
func threshold(eng *sluice.Engine) float64 {
	for _, r := range eng.Rules().Flow {
		if r.Resource == "a" {
			return float64(r.Threshold)
		}
	}
	return -1
}

// bind starts a binding of Flow rules from dataID, closed at the end.
func bind(t *testing.T, c *nacos.Client, dataID string, cfg datasource.Config, opts ...nacos.Option) (*sluice.Engine, *datasource.Binding) {
	t.Helper()
	src, err := nacos.NewSource(c, dataID, "", opts...)
	require.NoError(t, err)
	eng := sluice.New()
	cfg.Kind = datasource.Flow
	b, err := datasource.Start(context.Background(), eng, src, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close(); eng.Close() })
	return eng, b
}

func wait(t *testing.T, b *datasource.Binding) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return b.Wait(ctx)
}

// quick is the reconcile interval of tests that do not test listening: the
// SDK may lose a push (see the package doc), and the reconcile read is what
// bounds that.
var quick = nacos.WithReconcileInterval(2 * time.Second)

func TestInitialLoad(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	id := be.dataID(t)
	be.httpPublish(t, id, rules10)
	eng, b := bind(t, be.client(t), id, datasource.Config{}, quick)
	require.NoError(t, wait(t, b))
	// A real Nacos may serve a read that lags the publish: the first read
	// may find nothing, and the reconcile read the rules.
	eventually(t, "rules loaded", func() bool { return threshold(eng) == 10 })
	assert.Equal(t, uint64(1), b.Stats().Loads)
}

func TestMissingThenPublished(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	id := be.dataID(t)
	eng, b := bind(t, be.client(t), id, datasource.Config{}, quick)
	require.ErrorIs(t, wait(t, b), datasource.ErrNotFound, "a config missing at the first read")
	assert.Equal(t, -1.0, threshold(eng))
	be.httpPublish(t, id, rules10)
	eventually(t, "rules loaded", func() bool { return threshold(eng) == 10 })
}

func TestUpdates(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	id := be.dataID(t)
	be.httpPublish(t, id, rules10)
	c := be.client(t)
	eng, b := bind(t, c, id, datasource.Config{}, quick)
	require.NoError(t, wait(t, b))

	be.httpPublish(t, id, rules(20))
	eventually(t, "HTTP update", func() bool { return threshold(eng) == 20 })

	okay, err := c.SDK().PublishConfig(vo.ConfigParam{DataId: id, Group: nacos.DefaultGroup, Content: rules(30)})
	require.NoError(t, err)
	require.True(t, okay)
	eventually(t, "SDK update", func() bool { return threshold(eng) == 30 })
}

func TestBadPayloadThenGood(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	id := be.dataID(t)
	be.httpPublish(t, id, rules10)
	var mu sync.Mutex
	var perr *datasource.PayloadError
	eng, b := bind(t, be.client(t), id, datasource.Config{OnError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errors.As(err, &perr)
	}}, quick)
	require.NoError(t, wait(t, b))

	be.httpPublish(t, id, `{not json`)
	eventually(t, "bad payload rejected", func() bool { return b.Stats().Rejected == 1 })
	assert.Equal(t, 10.0, threshold(eng), "the rules in force stay")
	mu.Lock()
	require.NotNil(t, perr)
	assert.ErrorIs(t, perr, datasource.ErrBadPayload)
	mu.Unlock()

	be.httpPublish(t, id, rules(15))
	eventually(t, "good payload loaded", func() bool { return threshold(eng) == 15 })
}

func TestDelete(t *testing.T) {
	t.Parallel()
	for _, clear := range []bool{false, true} {
		t.Run(map[bool]string{false: "kept", true: "cleared"}[clear], func(t *testing.T) {
			t.Parallel()
			be := newBackend(t)
			id := be.dataID(t)
			be.httpPublish(t, id, rules10)
			eng, b := bind(t, be.client(t), id, datasource.Config{ClearOnDelete: clear}, quick)
			require.NoError(t, wait(t, b))
			be.remove(t, id)
			eventually(t, "deletion seen", func() bool { return b.Stats().Deletes == 1 })
			if clear {
				assert.Equal(t, -1.0, threshold(eng))
			} else {
				assert.Equal(t, 10.0, threshold(eng))
			}
			// Still watching: publishing again loads again.
			be.httpPublish(t, id, rules(12))
			eventually(t, "republished", func() bool { return threshold(eng) == 12 })
			assert.Equal(t, uint64(1), b.Stats().Deletes, "a deletion is delivered once")
		})
	}
}

// TestPush shows a change arrives by the SDK's listener, not by a reconcile
// read (whose interval here is longer than the test).
func TestPush(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	srv := be.fake(t)
	id := be.dataID(t)
	require.NoError(t, srv.Publish(id, "", rules10))
	eng, b := bind(t, be.client(t), id, datasource.Config{}, nacos.WithReconcileInterval(time.Hour))
	require.NoError(t, wait(t, b))
	settle(t, srv, id)
	require.NoError(t, srv.Publish(id, "", rules(20)))
	eventually(t, "pushed", func() bool { return threshold(eng) == 20 })
	sent, _ := srv.Pushes()
	assert.GreaterOrEqual(t, sent, 1)
}

func TestDroppedPushReconciled(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	srv := be.fake(t)
	id := be.dataID(t)
	require.NoError(t, srv.Publish(id, "", rules10))
	eng, b := bind(t, be.client(t), id, datasource.Config{}, nacos.WithReconcileInterval(time.Second))
	require.NoError(t, wait(t, b))
	settle(t, srv, id)
	rounds := srv.ListenRequests()

	srv.DropNextPush()
	require.NoError(t, srv.Publish(id, "", rules(20)))
	_, dropped := srv.Pushes()
	require.Equal(t, 1, dropped)
	// The SDK does not ask again for 5 minutes; the reconcile read sees it.
	eventually(t, "change seen by the reconcile read", func() bool { return threshold(eng) == 20 })
	assert.Equal(t, rounds, srv.ListenRequests(), "no listen round told the SDK")
}

// settle waits until the SDK listens to id and has finished its listen
// rounds (the server answered none for a second). Before that, a push can
// be lost in the SDK (see the package doc), or a change seen by a round.
func settle(t *testing.T, srv *nacostest.Server, id string) {
	t.Helper()
	eventually(t, "listener registered", func() bool { return srv.Listeners("", id, "") == 1 })
	n, since := srv.ListenRequests(), time.Now()
	eventually(t, "listen rounds over", func() bool {
		if m := srv.ListenRequests(); m != n {
			n, since = m, time.Now()
		}
		return time.Since(since) > time.Second
	})
}

// ourGoroutines returns the stacks of goroutines running code of package
// nacos (not its tests), but for the SDK's goroutines that call a Client's
// listener: the SDK starts one per call (config_client.go, executeListener)
// and they may still be running one from an earlier Watch or test; the
// listener never blocks.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var ours []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "sluice-go/sluice/datasource/nacos.") &&
			!strings.Contains(g, "sluice-go/sluice/datasource/nacos.(*Client).listener.func1") {
			ours = append(ours, g)
		}
	}
	return ours
}

type recorder struct{ datasourcetest.Recorder }

func (r *recorder) snapshot() ([]datasource.Update, []error) { return r.Updates(), r.Errors() }

// lastData returns the payload of the last update r recorded, "" if none.
func lastData(r *recorder) string {
	u := r.Updates()
	if len(u) == 0 {
		return ""
	}
	return string(u[len(u)-1].Data)
}

// never polls cond for d and fails the test if it holds meanwhile.
func never(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if cond() {
			t.Fatalf("happened: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cond() {
		t.Fatalf("happened: %s", what)
	}
}

// TestCancelStopsWatch is not parallel: it counts the goroutines running
// code of package nacos, and parallel tests wait until it is done.
func TestCancelStopsWatch(t *testing.T) {
	be := newBackend(t)
	id := be.dataID(t)
	be.httpPublish(t, id, rules10)
	c := be.client(t)
	src, err := nacos.NewSource(c, id, "", quick)
	require.NoError(t, err)
	assert.Equal(t, "nacos public/DEFAULT_GROUP/"+id, src.String())

	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, rec) }()
	eventually(t, "initial update", func() bool { return lastData(rec) == rules10 })

	// A second Watch of the same config through the same client is refused.
	assert.ErrorIs(t, src.Watch(context.Background(), &recorder{}), nacos.ErrWatched)

	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return")
	}
	assert.Empty(t, ourGoroutines(), "no goroutine of package nacos after Watch returned")
	u, _ := rec.snapshot()
	returned := len(u)

	// The config can be watched again, and a change now reaches only the
	// new Watch.
	be.httpPublish(t, id, rules(11))
	ctx2, cancel2 := context.WithCancel(context.Background())
	rec2 := &recorder{}
	go func() { done <- src.Watch(ctx2, rec2) }()
	eventually(t, "watched again", func() bool { return lastData(rec2) == rules(11) })
	// The change is readable now (the new Watch read it): a Watch that went
	// on running would deliver it by its next reconcile read, within the
	// reconcile interval (quick, 2 s).
	never(t, "an update after Watch returned", 3*time.Second, func() bool {
		u, _ := rec.snapshot()
		return len(u) != returned
	})
	cancel2()
	require.ErrorIs(t, <-done, context.Canceled)
	assert.Empty(t, ourGoroutines())
}

// stub is an SDK config client for the cases a server can not produce.
type stub struct {
	mu       sync.Mutex
	content  string
	err      error
	onChange func(namespace, group, dataID, data string)
	cancels  int
	reads    int // GetConfig calls
}

func (s *stub) GetConfig(vo.ConfigParam) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.content, s.err
}
func (s *stub) PublishConfig(vo.ConfigParam) (bool, error) { return false, errors.ErrUnsupported }
func (s *stub) DeleteConfig(vo.ConfigParam) (bool, error)  { return false, errors.ErrUnsupported }
func (s *stub) ListenConfig(p vo.ConfigParam) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = p.OnChange
	return nil
}
func (s *stub) CancelListenConfig(vo.ConfigParam) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancels++
	return nil
}
func (s *stub) SearchConfig(vo.SearchConfigParam) (*model.ConfigPage, error) {
	return nil, errors.ErrUnsupported
}
func (s *stub) CloseClient() {}

func (s *stub) set(content string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.content, s.err = content, err
}

func (s *stub) readCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *stub) listener() func(namespace, group, dataID, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.onChange
}

// waitReads waits until the stub has served n reads in all.
func (s *stub) waitReads(t *testing.T, n int) {
	t.Helper()
	eventually(t, strconv.Itoa(n)+" reads", func() bool { return s.readCount() >= n })
}

func TestWatchSemantics(t *testing.T) {
	t.Parallel()
	sdk := &stub{err: errors.New("unreachable")}
	c := nacos.Wrap(sdk)
	src, err := nacos.NewSource(c, "d", "g", nacos.WithReconcileInterval(200*time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, "nacos public/g/d", src.String())
	_, err = nacos.NewSource(c, "", "g")
	assert.Error(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, rec) }()

	eventually(t, "read error reported", func() bool { _, e := rec.snapshot(); return len(e) >= 1 })
	u, _ := rec.snapshot()
	assert.Empty(t, u, "nothing delivered before a read succeeds")

	sdk.set("", nil) // Nacos's "does not exist"
	eventually(t, "deleted delivered", func() bool { u, _ := rec.snapshot(); return len(u) == 1 })
	u, _ = rec.snapshot()
	assert.True(t, u[0].Deleted)
	assert.Nil(t, u[0].Data)

	sdk.set("v1", nil)
	eventually(t, "v1 by reconcile", func() bool { u, _ := rec.snapshot(); return len(u) == 2 })

	// The listener hands over content that may be older than what was
	// delivered (the SDK calls it on a goroutine per call); when Watch's
	// read fails, that content is not delivered.
	sdk.set("", errors.New("limited"))
	_, errs := rec.snapshot()
	reads := sdk.readCount()
	on := sdk.listener()
	on("", "g", "d", "v0")
	sdk.waitReads(t, reads+2)
	u, e := rec.snapshot()
	assert.Len(t, u, 2, "a failed read delivers nothing")
	assert.Greater(t, len(e), len(errs), "the failed read is reported")
	sdk.set("v2", nil)
	eventually(t, "v2 once reads succeed", func() bool { u, _ := rec.snapshot(); return len(u) == 3 })
	u, _ = rec.snapshot()
	assert.Equal(t, "v2", string(u[2].Data))
	sdk.waitReads(t, sdk.readCount()+2) // reads of the same content
	u, _ = rec.snapshot()
	assert.Len(t, u, 3, "an unchanged read delivers nothing")

	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	sdk.mu.Lock()
	assert.Equal(t, 1, sdk.cancels, "listener cancelled")
	sdk.mu.Unlock()
	// Late calls find no Watch and return at once: several, so that a
	// listener that waited to hand a hint over would block on the second.
	late := make(chan struct{})
	go func() {
		defer close(late)
		for range 3 {
			on("", "g", "d", "late")
		}
	}()
	select {
	case <-late:
	case <-time.After(5 * time.Second):
		t.Fatal("a late listener call blocked")
	}
	u, _ = rec.snapshot()
	assert.Len(t, u, 3)

	// The ended Watch left no registration behind: the config can be
	// watched again. Close ends a running Watch with ErrClosed; later
	// Watches fail at once.
	go func() { done <- src.Watch(context.Background(), rec) }()
	eventually(t, "watching", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Watch returned %v", err)
		default:
		}
		u, _ := rec.snapshot()
		return len(u) == 4
	})
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-done, nacos.ErrClosed)
	assert.ErrorIs(t, src.Watch(context.Background(), rec), nacos.ErrClosed)
	require.NoError(t, c.Close())
}

// TestHintReadFails: when the read a listener's hint triggers fails, Watch
// delivers nothing (the content the SDK handed over may be stale) and reads
// again soon, not at the next reconcile (an hour here).
func TestHintReadFails(t *testing.T) {
	t.Parallel()
	sdk := &stub{content: "v1"}
	c := nacos.Wrap(sdk)
	src, err := nacos.NewSource(c, "d", "g", nacos.WithReconcileInterval(time.Hour))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- src.Watch(ctx, rec) }()
	eventually(t, "v1 delivered", func() bool { return lastData(rec) == "v1" })

	sdk.set("", errors.New("limited"))
	reads := sdk.readCount()
	sdk.listener()("", "g", "d", "v0") // older than what was delivered
	sdk.waitReads(t, reads+1)
	eventually(t, "failed read reported", func() bool { _, e := rec.snapshot(); return len(e) == 1 })
	u, _ := rec.snapshot()
	assert.Len(t, u, 1, "the listener's content is not delivered")

	sdk.set("v2", nil)
	eventually(t, "v2 by the retry", func() bool { return lastData(rec) == "v2" })
	u, _ = rec.snapshot()
	assert.Len(t, u, 2)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestNewClientConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []nacos.Config{
		{},
		{Servers: []nacos.Server{{Addr: "nohost"}}},
		{Servers: []nacos.Server{{Addr: "127.0.0.1:0"}}},
		{Servers: []nacos.Server{{Addr: "127.0.0.1:8848", GRPCPort: 70000}}},
	} {
		_, err := nacos.NewClient(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}
