package sluice_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/isolation"
)

// blockLines returns the block log's lines of out.
func blockLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "sluice: blocking") {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestBlockLogAggregates(t *testing.T) {
	defer goleak.VerifyNone(t)
	clk := clock.NewManual(t0)
	var out lockedBuffer
	eng := sluice.New(sluice.WithClock(clk), sluice.WithBlockLog(10*time.Second),
		sluice.WithLogger(slog.New(slog.NewTextHandler(&out, nil))),
		sluice.WithChecker(sluice.CheckerFunc(func(_ context.Context, e sluice.EntryInfo) error {
			if e.Resource == "custom" {
				return errors.New("no")
			}
			return nil
		})))
	defer eng.Close()
	mustLoad(t, eng, sluice.Rules{
		Flow:      []flow.Rule{{ID: "cap", Resource: "r", Threshold: 0}},
		Isolation: []isolation.Rule{{Resource: "one", Threshold: 1}},
	})
	tick := func() string { // one interval passes; the goroutine writes
		clk.BlockUntilTimers(1)
		clk.Advance(10 * time.Second)
		clk.BlockUntilTimers(1) // it has flushed and waits again
		return out.take()
	}
	out.take()

	held, err := eng.Entry(context.Background(), "one")
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		try(eng, "r", 1)
	}
	for range 3 {
		try(eng, "one", 1)
		try(eng, "custom", 1)
	}
	if lines := blockLines(out.take()); len(lines) != 0 {
		t.Fatalf("lines written per blocked entry: %q", lines)
	}
	lines := blockLines(tick())
	want := map[string]string{
		"resource=r type=Flow rule=cap blocked=1000":      "",
		"resource=one type=Isolation rule=\"\" blocked=3": "",
		"resource=custom type=Custom rule=\"\" blocked=3": "",
	}
	if len(lines) != len(want) {
		t.Fatalf("first interval: %d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		found := false
		for w := range want {
			if strings.Contains(l, `msg="sluice: blocking" `+w) {
				found = true
			}
		}
		if !found || !strings.Contains(l, "level=WARN") || !strings.Contains(l, "interval=10s") {
			t.Errorf("unexpected line %q", l)
		}
	}

	// The next interval: "r" goes on blocking, "one" and "custom" stop.
	held.Exit()
	try(eng, "r", 2)
	lines = blockLines(tick())
	if len(lines) != 3 {
		t.Fatalf("second interval: %d lines, want 3:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var text = strings.Join(lines, "\n")
	for _, w := range []string{
		`msg="sluice: blocking" resource=r type=Flow rule=cap blocked=2`,
		`msg="sluice: blocking stopped" resource=one type=Isolation rule=""`,
		`msg="sluice: blocking stopped" resource=custom type=Custom rule=""`,
	} {
		if !strings.Contains(text, w) {
			t.Errorf("second interval: no line %q in\n%s", w, text)
		}
	}
	// Then "r" stops too, and a quiet interval writes nothing.
	if lines := blockLines(tick()); len(lines) != 1 || !strings.Contains(lines[0], `"sluice: blocking stopped" resource=r`) {
		t.Fatalf("third interval: %q", lines)
	}
	if lines := blockLines(tick()); len(lines) != 0 {
		t.Fatalf("a quiet interval wrote %q", lines)
	}
}

func TestBlockLogOffByDefaultAndStoppedByClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	before := goleak.IgnoreCurrent()
	eng := sluice.New(sluice.WithBlockLog(time.Hour))
	if goleak.Find(before) == nil {
		t.Fatal("WithBlockLog started no goroutine")
	}
	eng.Close()
	eng.Close()
	if err := goleak.Find(before); err != nil {
		t.Fatal(err)
	}
	plain := sluice.New()
	defer plain.Close()
	if err := goleak.Find(before); err != nil {
		t.Fatalf("an engine without WithBlockLog runs a goroutine: %v", err)
	}
}

func TestBlockLogCountsWithoutAllocating(t *testing.T) {
	eng, _ := newEngine(t, sluice.WithBlockLog(time.Hour))
	mustLoad(t, eng, sluice.Rules{Flow: []flow.Rule{{Resource: "r", Threshold: 0}}})
	f := func() {
		if _, err := eng.Entry(context.Background(), "r"); err == nil {
			t.Fatal("not blocked")
		}
	}
	f()
	if a := testing.AllocsPerRun(1000, f); a != 0 {
		t.Fatalf("%v allocs per blocked entry with the block log on", a)
	}
}
