package sluice_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
)

// lockedBuffer is a log destination safe for the engine's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// take returns what was written since the last take.
func (b *lockedBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

func loggedEngine(t *testing.T) (*sluice.Engine, *clock.Manual, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	eng, clk := newEngine(t, sluice.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	return eng, clk, logs
}

// A nil context is context.Background(): a Throttling entry waits its turn
// on the clock (it does not fail open with a fault logged), and the queue
// is kept; a custom checker and Do's function get a non-nil context.
func TestNilContextIsBackground(t *testing.T) {
	var seen []context.Context
	eng, clk, logs := loggedEngine(t)
	eng2, _ := newEngine(t, sluice.WithChecker(sluice.CheckerFunc(func(ctx context.Context, _ sluice.EntryInfo) error {
		seen = append(seen, ctx)
		return nil
	})))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 10,
		ControlBehavior: flow.Throttling, MaxQueueingTime: 250 * time.Millisecond}}})

	p, err := eng.Entry(nil, "r")
	if err != nil {
		t.Fatalf("first entry: %v", err)
	}
	p.Exit()
	done := make(chan error, 1)
	go func() {
		p, err := eng.Entry(nil, "r") // waits 100 ms on the manual clock
		p.Exit()
		done <- err
	}()
	// It must wait on the clock: returning at once is the old fail-open.
	for clk.Timers() < 1 {
		select {
		case err := <-done:
			t.Fatalf("the second entry returned (%v) before its turn", err)
		case <-time.After(time.Millisecond):
		}
	}
	clk.Advance(100 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("second entry: %v", err)
	}
	// The queue holds two more (at 200 and 300 ms, within 250 ms of
	// queueing), then refuses: the entries were queued, not let through.
	results := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			p, err := eng.Entry(nil, "r")
			p.Exit()
			results <- err
		}()
	}
	// The first result is the refused one: the two queued wait on the clock.
	if err := <-results; !errors.Is(err, sluice.ErrBlocked) {
		t.Fatalf("an entry past a full queue: %v, want blocked", err)
	}
	clk.BlockUntilTimers(2)
	clk.Advance(time.Second)
	for i := 0; i < 2; i++ {
		if err := <-results; err != nil {
			t.Fatalf("a queued entry: %v", err)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("a nil context logged an error:\n%s", logs)
	}

	if err := eng2.Do(nil, "r", func(ctx context.Context) error {
		if ctx == nil {
			return errors.New("fn got a nil context")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] == nil {
		t.Fatalf("the custom checker saw contexts %v, want one non-nil", seen)
	}
}

// An empty resource name is tracked as UnnamedResource, with one warning; a
// rule on UnnamedResource limits such entries.
func TestEmptyResourceNameIsUnnamed(t *testing.T) {
	eng, _, logs := loggedEngine(t)
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: sluice.UnnamedResource, Threshold: 3}}})
	if got := try(eng, "", 5); got != 3 {
		t.Fatalf("%d of 5 unnamed entries passed a rule of 3 on %q", got, sluice.UnnamedResource)
	}
	_, err := eng.Entry(context.Background(), "")
	var be *sluice.BlockError
	if !errors.As(err, &be) || be.Resource != sluice.UnnamedResource {
		t.Fatalf("blocked unnamed entry: %v, want a block naming %q", err, sluice.UnnamedResource)
	}
	st, ok := eng.Stats("")
	if !ok || st.Resource != sluice.UnnamedResource || st.PassQPS != 3 || st.BlockQPS != 3 {
		t.Fatalf("Stats(\"\") = %+v, %v", st, ok)
	}
	if got := eng.Resources(); len(got) != 1 || got[0] != sluice.UnnamedResource {
		t.Fatalf("resources %q", got)
	}
	if n := strings.Count(logs.String(), "empty resource name"); n != 1 {
		t.Fatalf("%d warnings about the empty name, want 1:\n%s", n, logs)
	}
	if err := eng.LoadFlowRules([]flow.Rule{{Resource: "", Threshold: 1}}); !errors.Is(err, sluice.ErrInvalidRule) {
		t.Fatalf("a rule on \"\": %v, want refused", err)
	}
}

// A hotspot rule whose ParamKey no attachment matches (keys match exactly,
// as an adapter's WithHeaderAttachment("X-User") attaches under "X-User")
// limits nothing: the entries are counted in Stats, per rule, and the first
// is logged, once per rule.
func TestHotspotNoValueIsCountedAndLoggedOnce(t *testing.T) {
	eng, _, logs := loggedEngine(t)
	mustLoad(t, eng, sluice.Rules{Hotspot: []hotspot.Rule{
		{ID: "by-user", Resource: "r", ParamKey: "user", Threshold: 1},
		{ID: "by-arg", Resource: "r", ParamIndex: 1, Threshold: 1},
		{ID: "by-header", Resource: "r", ParamKey: "X-User", Threshold: 1},
	}})
	if got := try(eng, "r", 5, sluice.WithAttachment("X-User", "alice")); got != 1 {
		t.Fatalf("%d of 5 entries for one user passed the X-User rule of 1", got)
	}
	st, _ := eng.Stats("r")
	if len(st.Hotspots) != 3 {
		t.Fatalf("hotspot stats %+v", st.Hotspots)
	}
	// The X-User rule blocked the last 4 entries; the two rules before it
	// saw all 5 without a value.
	for i, want := range []int64{5, 5, 0} {
		if got := st.Hotspots[i].NoValue; got != want {
			t.Errorf("rule %s: NoValue %d, want %d", st.Hotspots[i].Rule.ID, got, want)
		}
	}
	if st.Hotspots[2].Tracked != 1 {
		t.Errorf("X-User rule tracks %d values, want 1", st.Hotspots[2].Tracked)
	}
	out := logs.String()
	if n := strings.Count(out, "no attachment under a hotspot rule's ParamKey"); n != 1 {
		t.Errorf("%d warnings for the ParamKey rule, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "no argument at a hotspot rule's ParamIndex"); n != 1 {
		t.Errorf("%d warnings for the ParamIndex rule, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, `paramKey=user`) {
		t.Errorf("the warning does not name the key:\n%s", out)
	}
}
