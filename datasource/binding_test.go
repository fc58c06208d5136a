package datasource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/datasource"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// chanSource delivers what the test sends it, from Watch's goroutine. A
// send returns once Watch has taken the value; since Watch handles one at
// a time, a send on ping returns only after everything sent before it has
// been handled.
type chanSource struct {
	updates chan datasource.Update
	errs    chan error
	ping    chan struct{}
	fail    chan error // Watch returns what is sent here
}

func newChanSource() *chanSource {
	return &chanSource{updates: make(chan datasource.Update), errs: make(chan error),
		ping: make(chan struct{}), fail: make(chan error)}
}

func (s *chanSource) String() string { return "chan test" }

func (s *chanSource) Watch(ctx context.Context, h datasource.Handler) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u := <-s.updates:
			h.Update(u)
		case err := <-s.errs:
			h.Error(err)
		case <-s.ping:
		case err := <-s.fail:
			return err
		}
	}
}

type fixture struct {
	onLoad func() // called from OnLoad, if set
	eng    *sluice.Engine
	src    *chanSource
	b      *datasource.Binding
	mu     sync.Mutex
	errs   []error
	loads  []sluice.Rules
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start binds a new engine to a new chanSource, recording the callbacks,
// and closes both at the end of the test.
func start(t *testing.T, cfg datasource.Config) *fixture {
	t.Helper()
	return startWith(t, cfg, func(s *chanSource) datasource.Source { return s })
}

// startWith is start with the source wrap makes of the chanSource, and
// with cfg.Logger if it is set.
func startWith(t *testing.T, cfg datasource.Config, wrap func(*chanSource) datasource.Source) *fixture {
	t.Helper()
	f := &fixture{eng: sluice.New(sluice.WithLogger(quiet)), src: newChanSource()}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	cfg.OnError = func(err error) { f.mu.Lock(); f.errs = append(f.errs, err); f.mu.Unlock() }
	cfg.OnLoad = func(_ datasource.Update, r sluice.Rules) {
		f.mu.Lock()
		f.loads = append(f.loads, r)
		hook := f.onLoad
		f.mu.Unlock()
		if hook != nil {
			hook()
		}
	}
	b, err := datasource.Start(context.Background(), f.eng, wrap(f.src), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		f.eng.Close()
	})
	return f
}

func (f *fixture) cfgOnLoad(fn func()) { f.mu.Lock(); f.onLoad = fn; f.mu.Unlock() }

// put delivers data and waits until the binding has handled it.
func (f *fixture) put(data string) { f.deliver(datasource.Update{Data: []byte(data)}) }

func (f *fixture) deliver(u datasource.Update) {
	f.src.updates <- u
	f.src.ping <- struct{}{}
}

func (f *fixture) errors() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]error(nil), f.errs...)
}

func (f *fixture) thresholds() []float64 {
	out := []float64{}
	for _, r := range f.eng.Rules().Flow {
		out = append(out, r.Threshold)
	}
	return out
}

func (f *fixture) wantThresholds(t *testing.T, want ...float64) {
	t.Helper()
	if want == nil {
		want = []float64{}
	}
	if got := f.thresholds(); !reflect.DeepEqual(got, want) {
		t.Fatalf("flow thresholds in force %v, want %v", got, want)
	}
}

func TestBindingLoadsAndWaits(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	select {
	case <-f.b.Ready():
		t.Fatal("Ready before any delivery")
	default:
	}
	f.put(`[{"resource":"a","threshold":10}]`)
	if err := f.b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.wantThresholds(t, 10)
	f.put(`[{"resource":"a","threshold":20},{"resource":"b","threshold":30}]`)
	f.wantThresholds(t, 20, 30)
	if st := f.b.Stats(); st.Loads != 2 || st.Rejected != 0 || st.LastError != nil {
		t.Errorf("stats %+v, want 2 loads and no error", st)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.loads) != 2 || len(f.loads[1].Flow) != 2 {
		t.Errorf("OnLoad saw %+v, want two loads, the second with 2 flow rules", f.loads)
	}
}

// TestBindingKeepsOtherFamilies: a Flow binding replaces the flow rules only.
func TestBindingKeepsOtherFamilies(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	if err := f.eng.LoadIsolationRules([]isolation.Rule{{Resource: "db", Threshold: 2}}); err != nil {
		t.Fatal(err)
	}
	f.put(`[{"resource":"a","threshold":10}]`)
	f.put(`[]`)
	f.wantThresholds(t)
	if got := f.eng.Rules().Isolation; len(got) != 1 {
		t.Errorf("isolation rules %+v, want the one loaded before", got)
	}
}

func TestBindingRejectsBadPayloadsAndKeepsRules(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	f.put(`[{"resource":"a","threshold":10}]`)
	for _, tc := range []struct {
		data string
		is   error
	}{
		{`[{"resource":"a",`, datasource.ErrBadPayload},
		{`[{"resource":"a","threshold":"many"}]`, datasource.ErrBadPayload},
		{`[{"resource":"a","threshold":-1}]`, sluice.ErrInvalidRule},
		{`[{"resource":"a","threshold":10},{"resource":"(","regex":true,"threshold":1}]`, sluice.ErrInvalidRule},
	} {
		f.deliver(datasource.Update{Data: []byte(tc.data), Version: 7})
		f.wantThresholds(t, 10)
		errs := f.errors()
		var pe *datasource.PayloadError
		if len(errs) == 0 || !errors.As(errs[len(errs)-1], &pe) || !errors.Is(pe, tc.is) {
			t.Fatalf("%s: errors %v, want a *PayloadError wrapping %v", tc.data, errs, tc.is)
		}
		if pe.Source != "chan test" || pe.Version != 7 || !strings.Contains(pe.Error(), "rules kept") {
			t.Errorf("PayloadError %+v: want source, version and \"rules kept\"", pe)
		}
	}
	if st := f.b.Stats(); st.Rejected != 4 || st.Loads != 1 || st.LastError == nil {
		t.Errorf("stats %+v, want 4 rejected, 1 load, a last error", st)
	}
	f.put(`[{"resource":"a","threshold":11}]`)
	f.wantThresholds(t, 11)
}

// TestBindingFirstBadPayload: Wait returns the first delivery's error.
func TestBindingFirstBadPayload(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	f.put(`{`)
	err := f.b.Wait(context.Background())
	var pe *datasource.PayloadError
	if !errors.As(err, &pe) {
		t.Fatalf("Wait: %v, want a *PayloadError", err)
	}
	f.put(`[{"resource":"a","threshold":1}]`)
	if err := f.b.Wait(context.Background()); !errors.As(err, &pe) {
		t.Errorf("Wait after a later good payload: %v, want still the first delivery's error", err)
	}
}

func TestBindingSkipsRepeats(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	f.put(`[{"resource":"a","threshold":10}]`)
	f.put(`[{"resource":"a","threshold":10}]`)
	f.put(`{`)
	f.put(`{`)
	if st := f.b.Stats(); st.Loads != 1 || st.Rejected != 1 {
		t.Errorf("stats %+v, want one load and one rejection", st)
	}
}

func TestBindingDeleteKeepsRulesByDefault(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	f.put(`[{"resource":"a","threshold":10}]`)
	f.deliver(datasource.Update{Deleted: true})
	f.wantThresholds(t, 10)
	if st := f.b.Stats(); st.Deletes != 1 || st.Loads != 1 {
		t.Errorf("stats %+v, want 1 delete, 1 load", st)
	}
	// The same payload after a deletion is loaded again.
	f.put(`[{"resource":"a","threshold":10}]`)
	if st := f.b.Stats(); st.Loads != 2 {
		t.Errorf("stats %+v, want the payload after the deletion loaded", st)
	}
}

func TestBindingClearOnDelete(t *testing.T) {
	for _, kind := range []datasource.Kind{datasource.Flow, datasource.All} {
		f := start(t, datasource.Config{Kind: kind, ClearOnDelete: true})
		if err := f.eng.LoadIsolationRules([]isolation.Rule{{Resource: "db", Threshold: 2}}); err != nil {
			t.Fatal(err)
		}
		data := `[{"resource":"a","threshold":10}]`
		if kind == datasource.All {
			data = `{"flow":` + data + `}`
		}
		f.put(data)
		f.deliver(datasource.Update{Deleted: true})
		f.wantThresholds(t)
		if iso := len(f.eng.Rules().Isolation); (kind == datasource.All) != (iso == 0) {
			t.Errorf("%v: %d isolation rules after the delete: All clears every family, Flow only its own", kind, iso)
		}
	}
}

func TestBindingSourceErrors(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	down := errors.New("connection refused")
	f.src.errs <- down
	f.src.ping <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := f.b.Wait(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, down) {
		t.Fatalf("Wait: %v, want the deadline joined with the source's error", err)
	}
	var se *datasource.SourceError
	if errs := f.errors(); len(errs) != 1 || !errors.As(errs[0], &se) || se.Source != "chan test" {
		t.Fatalf("errors %v, want one *SourceError", errs)
	}
	if st := f.b.Stats(); st.SourceErrors != 1 || !errors.Is(st.LastError, down) {
		t.Errorf("stats %+v", st)
	}
}

// TestBindingWatchEnds: a Watch that fails is reported, and Wait ends.
func TestBindingWatchEnds(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	bad := errors.New("bad config")
	f.src.fail <- bad
	err := f.b.Wait(context.Background())
	if !errors.Is(err, bad) || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("Wait: %v, want the binding stopped with the watch's error", err)
	}
}

// TestBindingStopsWithContext: cancelling Start's context stops the
// source; Close after it is fine, twice too.
func TestBindingStopsWithContext(t *testing.T) {
	src := newChanSource()
	eng := sluice.New(sluice.WithLogger(quiet))
	defer eng.Close()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := datasource.Start(ctx, eng, src, datasource.Config{Kind: datasource.Flow, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := b.Wait(context.Background()); err == nil {
		t.Fatal("Wait on a stopped binding returned nil")
	}
	b.Close()
	b.Close()
}

func TestStartRejectsBadArguments(t *testing.T) {
	eng := sluice.New(sluice.WithLogger(quiet))
	defer eng.Close()
	ctx := context.Background()
	if _, err := datasource.Start(ctx, nil, newChanSource(), datasource.Config{}); err == nil {
		t.Error("Start with a nil engine returned no error")
	}
	if _, err := datasource.Start(ctx, eng, nil, datasource.Config{}); err == nil {
		t.Error("Start with a nil source returned no error")
	}
	_, err := datasource.Start(ctx, eng, newChanSource(), datasource.Config{Kind: datasource.All, Format: datasource.SentinelJSON})
	if !errors.Is(err, datasource.ErrUnsupported) {
		t.Errorf("Start(All, SentinelJSON): %v, want ErrUnsupported", err)
	}
}

// TestBindingMissingKeyDoesNotClear: with ClearOnDelete, a key missing
// from the start clears nothing; it was never read, so never deleted.
func TestBindingMissingKeyDoesNotClear(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.All, ClearOnDelete: true})
	f.deliver(datasource.Update{Deleted: true})
	f.deliver(datasource.Update{Deleted: true})
	if err := f.eng.LoadFlowRules(nil); err != nil {
		t.Fatal(err)
	}
	f.wantThresholds(t)
	if st := f.b.Stats(); st.Deletes != 0 || st.Loads != 0 {
		t.Errorf("stats %+v, want no deletes and no loads", st)
	}
}

// TestBindingMissingKeyKeepsRulesLoadedInCode is the same with rules
// loaded before Start.
func TestBindingMissingKeyKeepsRulesLoadedInCode(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow, ClearOnDelete: true})
	if err := f.eng.LoadFlowRules(rulesOf(5)); err != nil {
		t.Fatal(err)
	}
	f.deliver(datasource.Update{Deleted: true})
	f.wantThresholds(t, 5)
}

func rulesOf(threshold float64) []flow.Rule {
	return []flow.Rule{{Resource: "a", Threshold: threshold}}
}

// TestBindingWaitAfterReadyIgnoresContext: once ready, Wait reports the
// first delivery, even with a context already done.
func TestBindingWaitAfterReadyIgnoresContext(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	f.put(`[{"resource":"a","threshold":10}]`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < 100; i++ {
		if err := f.b.Wait(ctx); err != nil {
			t.Fatalf("Wait %d: %v, want nil", i, err)
		}
	}
}

// TestBindingStoppedBeforeFirstDelivery: Wait says ErrStopped.
func TestBindingStoppedBeforeFirstDelivery(t *testing.T) {
	f := start(t, datasource.Config{Kind: datasource.Flow})
	f.b.Close()
	if err := f.b.Wait(context.Background()); !errors.Is(err, datasource.ErrStopped) {
		t.Fatalf("Wait: %v, want ErrStopped", err)
	}
}

// panicSource panics in Watch.
type panicSource struct{}

func (panicSource) String() string { return "panic test" }
func (panicSource) Watch(context.Context, datasource.Handler) error {
	panic("source bug")
}

// TestBindingSurvivesPanics: a panicking source stops the binding with a
// SourceError, and a panicking OnLoad is reported, not raised.
func TestBindingSurvivesPanics(t *testing.T) {
	eng := sluice.New(sluice.WithLogger(quiet))
	defer eng.Close()
	errs := make(chan error, 1)
	b, err := datasource.Start(context.Background(), eng, panicSource{},
		datasource.Config{Kind: datasource.Flow, Logger: quiet, OnError: func(err error) { errs <- err }})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(context.Background()); !errors.Is(err, datasource.ErrStopped) {
		t.Fatalf("Wait: %v, want ErrStopped", err)
	}
	var se *datasource.SourceError
	if err := <-errs; !errors.As(err, &se) || !strings.Contains(err.Error(), "source bug") {
		t.Fatalf("error %v, want a *SourceError with the panic", err)
	}
	b.Close()

	f := start(t, datasource.Config{Kind: datasource.Flow})
	f.cfgOnLoad(func() { panic("callback bug") })
	f.put(`[{"resource":"a","threshold":10}]`)
	f.put(`[{"resource":"a","threshold":11}]`)
	f.wantThresholds(t, 11)
	if errs := f.errors(); len(errs) != 2 || !strings.Contains(errs[0].Error(), "callback bug") {
		t.Fatalf("errors %v, want the two panics reported", errs)
	}
}

// TestBindingOnDelete: every delivery of Deleted reaches OnDelete, after
// the binding handled it: after OnLoad when the rules were cleared.
func TestBindingOnDelete(t *testing.T) {
	for _, clear := range []bool{false, true} {
		var mu sync.Mutex
		var calls []string
		note := func(s string) { mu.Lock(); calls = append(calls, s); mu.Unlock() }
		src := newChanSource()
		eng := sluice.New(sluice.WithLogger(quiet))
		b, err := datasource.Start(context.Background(), eng, src, datasource.Config{Kind: datasource.Flow,
			Logger: quiet, ClearOnDelete: clear,
			OnLoad:   func(u datasource.Update, _ sluice.Rules) { note(fmt.Sprintf("load deleted=%v", u.Deleted)) },
			OnDelete: func(u datasource.Update) { note(fmt.Sprintf("delete v%d", u.Version)) }})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []datasource.Update{{Deleted: true, Version: 1},
			{Data: []byte(`[{"resource":"a","threshold":1}]`), Version: 2}, {Deleted: true, Version: 3}} {
			src.updates <- u
		}
		src.ping <- struct{}{}
		b.Close()
		eng.Close()
		want := []string{"delete v1", "load deleted=false", "delete v3"}
		if clear {
			want = []string{"delete v1", "load deleted=false", "load deleted=true", "delete v3"}
		}
		if !reflect.DeepEqual(calls, want) {
			t.Errorf("ClearOnDelete=%v: calls %q, want %q", clear, calls, want)
		}
	}
}
