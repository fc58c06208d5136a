package sluice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/system"
)

// gauge is a fake system metric that tests set by hand.
type gauge struct{ bits atomic.Uint64 }

func newGauge(v float64) *gauge { g := &gauge{}; g.Set(v); return g }

func (g *gauge) Set(v float64)          { g.bits.Store(math.Float64bits(v)) }
func (g *gauge) Read() (float64, error) { return math.Float64frombits(g.bits.Load()), nil }
func (g *gauge) reader() system.Reader  { return g }
func inbound() sluice.EntryOption       { return sluice.WithTrafficType(sluice.Inbound) }
func outbound() sluice.EntryOption      { return sluice.WithTrafficType(sluice.Outbound) }
func isSystemBlock(err error) bool {
	var be *sluice.BlockError
	return errors.As(err, &be) && be.Type == sluice.BlockTypeSystem
}
func systemRules(rs ...system.Rule) []system.Rule { return rs }

const sampleEvery = 100 * time.Millisecond

// systemEngine returns an engine on a manual clock whose sampler reads cpu
// for CPU usage every sampleEvery, and an advance function that moves the
// clock and, when that fires the sampler's timer, waits until the sample is
// stored (the sampler stores it before setting its next timer). A change to
// cpu is read at the next sample.
func systemEngine(t *testing.T, cpu *gauge) (*sluice.Engine, func(time.Duration)) {
	t.Helper()
	eng, clk := newEngine(t, sluice.WithSystemReaders(system.Readers{CPU: cpu}),
		sluice.WithSystemSampleInterval(sampleEvery))
	advance := func(d time.Duration) {
		for d > 0 {
			step := min(d, 10*time.Millisecond)
			clk.Advance(step)
			d -= step
			if eng.SystemStats().Sampling {
				clk.BlockUntilTimers(1)
			}
		}
	}
	return eng, advance
}

// hold enters n inbound entries and keeps the ones admitted.
func hold(eng *sluice.Engine, n int) (held []*sluice.Permit, blocked []error) {
	for i := 0; i < n; i++ {
		p, err := eng.Entry(context.Background(), "api", inbound())
		if err != nil {
			blocked = append(blocked, err)
			continue
		}
		held = append(held, p)
	}
	return held, blocked
}

func exitAll(ps []*sluice.Permit) {
	for _, p := range ps {
		p.Exit()
	}
}

func TestSystemRuleValidation(t *testing.T) {
	eng, _ := newEngine(t)
	good := system.Rule{ID: "cpu", MetricType: system.CPUUsage, TriggerCount: 0.8, Strategy: system.BBR}
	if err := eng.LoadSystemRules(systemRules(good)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rule  system.Rule
		field string
	}{
		{system.Rule{MetricType: system.CPUUsage, TriggerCount: 80}, "TriggerCount"}, // a percentage, not a ratio
		{system.Rule{MetricType: system.MemoryUsage, TriggerCount: 1.01}, "TriggerCount"},
		{system.Rule{MetricType: system.Load, TriggerCount: -1}, "TriggerCount"},
		{system.Rule{MetricType: system.AvgRT, TriggerCount: math.NaN()}, "TriggerCount"},
		{system.Rule{MetricType: system.InboundQPS, TriggerCount: math.Inf(1)}, "TriggerCount"},
		{system.Rule{MetricType: 42, TriggerCount: 1}, "MetricType"},
		{system.Rule{MetricType: system.Load, TriggerCount: 1, Strategy: 7}, "Strategy"},
	} {
		err := eng.LoadSystemRules(systemRules(good, tc.rule))
		var re *sluice.RuleError
		if !errors.Is(err, sluice.ErrInvalidRule) || !errors.As(err, &re) || re.Field != tc.field || re.Index != 1 || re.Family != "system" {
			t.Errorf("%+v: got %v, want a RuleError on %s at #1", tc.rule, err, tc.field)
		}
		if got := eng.Rules().System; len(got) != 1 || got[0] != good {
			t.Fatalf("rules in force changed to %+v", got)
		}
	}
	// Load (any value), AvgRT, Concurrency and InboundQPS are not ratios.
	for _, m := range []system.MetricType{system.Load, system.AvgRT, system.Concurrency, system.InboundQPS} {
		if err := (&system.Rule{MetricType: m, TriggerCount: 80}).Validate(); err != nil {
			t.Errorf("%v with 80: %v", m, err)
		}
	}
}

func TestSystemRuleJSON(t *testing.T) {
	in := `{"system":[{"id":"cpu","metricType":"CPUUsage","triggerCount":0.8,"strategy":"BBR"},` +
		`{"metricType":"Load","triggerCount":12}]}`
	var r sluice.Rules
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	want := []system.Rule{{ID: "cpu", MetricType: system.CPUUsage, TriggerCount: 0.8, Strategy: system.BBR},
		{MetricType: system.Load, TriggerCount: 12, Strategy: system.NoAdaptive}}
	if len(r.System) != 2 || r.System[0] != want[0] || r.System[1] != want[1] {
		t.Fatalf("decoded %+v", r.System)
	}
	out, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(out), `"metricType":"CPUUsage"`) || !strings.Contains(string(out), `"strategy":"BBR"`) {
		t.Fatalf("encoded %s, %v", out, err)
	}
	for _, bad := range []string{
		`{"metricType":"CPU","triggerCount":0.8}`,      // unknown name
		`{"metricType":"Load","triggerCount":1,"x":1}`, // unknown field
	} {
		var sr system.Rule
		if err := json.Unmarshal([]byte(bad), &sr); err == nil {
			t.Errorf("%s decoded without error", bad)
		}
	}
}

// Every value of Strategy is a named constant, the zero value included.
func TestSystemEnumNames(t *testing.T) {
	if system.NoAdaptive != 0 || system.NoAdaptive.String() != "NoAdaptive" || system.BBR.String() != "BBR" {
		t.Fatal("strategy names")
	}
	for m, name := range []string{"Load", "CPUUsage", "MemoryUsage", "AvgRT", "Concurrency", "InboundQPS"} {
		if got := system.MetricType(m).String(); got != name {
			t.Errorf("MetricType(%d) = %s, want %s", m, got, name)
		}
	}
}

func TestSystemRulesApplyToInboundOnly(t *testing.T) {
	eng, _ := newEngine(t)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.Concurrency, TriggerCount: 1})); err != nil {
		t.Fatal(err)
	}
	held, blocked := hold(eng, 3) // in flight 0, 1: at most 1 → pass; 2 > 1 → block
	defer exitAll(held)
	if len(held) != 2 || len(blocked) != 1 || !isSystemBlock(blocked[0]) {
		t.Fatalf("inbound: %d held, blocked %v", len(held), blocked)
	}
	var be *sluice.BlockError
	errors.As(blocked[0], &be)
	if r, ok := be.Rule.(*system.Rule); !ok || r.MetricType != system.Concurrency || be.Resource != "api" {
		t.Fatalf("block error %+v", be)
	}
	for i := 0; i < 5; i++ { // outbound (the default, and explicit) is never checked
		for _, opts := range [][]sluice.EntryOption{nil, {outbound()}} {
			p, err := eng.Entry(context.Background(), "api", opts...)
			if err != nil {
				t.Fatalf("outbound entry blocked: %v", err)
			}
			defer p.Exit()
		}
	}
	if st := eng.SystemStats(); st.Concurrency != 2 {
		t.Fatalf("inbound concurrency %d, want 2 (outbound not counted)", st.Concurrency)
	}
}

func TestSystemNoAdaptiveFollowsTheReading(t *testing.T) {
	cpu := newGauge(0.5)
	eng, advance := systemEngine(t, cpu)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.CPUUsage, TriggerCount: 0.8})); err != nil {
		t.Fatal(err)
	}
	if st := eng.SystemStats(); !st.Sampling || !st.HasCPU || st.CPUUsage != 0.5 || st.HasLoad || st.HasMemory {
		t.Fatalf("first sample not taken at load: %+v", st)
	}
	if got := try(eng, "api", 10, inbound()); got != 10 {
		t.Fatalf("CPU 0.5 under 0.8: %d of 10 passed", got)
	}
	cpu.Set(0.8) // at the trigger: not above it
	advance(sampleEvery)
	if got := try(eng, "api", 10, inbound()); got != 10 {
		t.Fatalf("CPU at 0.8: %d of 10 passed", got)
	}
	cpu.Set(0.81)
	advance(sampleEvery / 2)
	if got := try(eng, "api", 10, inbound()); got != 10 {
		t.Fatalf("before the next sample the old reading holds: %d of 10 passed", got)
	}
	advance(sampleEvery / 2)
	if got := try(eng, "api", 10, inbound()); got != 0 {
		t.Fatalf("CPU 0.81 over 0.8: %d of 10 passed", got)
	}
	if got := try(eng, "api", 10); got != 10 {
		t.Fatalf("outbound under CPU 0.81: %d of 10 passed", got)
	}
	cpu.Set(0.3)
	advance(sampleEvery)
	if got := try(eng, "api", 10, inbound()); got != 10 {
		t.Fatalf("after recovery: %d of 10 passed", got)
	}
}

// TestBBRAdmitsWhatTheServiceCompletes drives the BBR check with a manual
// clock and a fake CPU reader: two seconds of 100 completions per second at
// 50 ms each give a limit of 100 × 0.05 = 5 entries in flight.
func TestBBRAdmitsWhatTheServiceCompletes(t *testing.T) {
	cpu := newGauge(0.5)
	eng, advance := systemEngine(t, cpu)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.CPUUsage, TriggerCount: 0.8,
		Strategy: system.BBR})); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ { // 2 s: every 100 ms, 10 entries of 50 ms
		held, blocked := hold(eng, 10)
		if len(blocked) > 0 {
			t.Fatalf("CPU under the trigger: blocked %v", blocked[0])
		}
		advance(50 * time.Millisecond)
		exitAll(held)
		advance(50 * time.Millisecond)
	}
	if st := eng.SystemStats(); st.BBRLimit != 5 {
		t.Fatalf("BBR limit %v, want 5 (100/s × 50 ms)", st.BBRLimit)
	}
	cpu.Set(0.95)
	advance(sampleEvery) // the reading goes over the trigger; the spans now end at 2.1 s

	// Admitted while in flight (this one not counted) <= 5: six, then blocked.
	held, blocked := hold(eng, 8)
	if len(held) != 6 || len(blocked) != 2 || !isSystemBlock(blocked[0]) {
		t.Fatalf("over the trigger: %d admitted, blocked %v; want 6 admitted", len(held), blocked)
	}
	var be *sluice.BlockError
	errors.As(blocked[0], &be)
	if !strings.Contains(be.Reason, "BBR") {
		t.Fatalf("reason %q does not say BBR", be.Reason)
	}
	if p, err := eng.Entry(context.Background(), "api"); err != nil { // outbound
		t.Fatalf("outbound blocked: %v", err)
	} else {
		p.Exit()
	}
	// As load falls (entries complete), entries are admitted again.
	exitAll(held[:2])
	more, blocked := hold(eng, 3)
	if len(more) != 2 || len(blocked) != 1 {
		t.Fatalf("after 2 exits: %d admitted, want 2", len(more))
	}
	held = append(held[2:], more...)
	// As the machine's load falls under the trigger, BBR stops limiting.
	cpu.Set(0.5)
	advance(sampleEvery)
	more, blocked = hold(eng, 20)
	if len(blocked) != 0 {
		t.Fatalf("CPU back under the trigger: blocked %v", blocked[0])
	}
	exitAll(append(held, more...))
}

// TestBBRLimitFollowsCompletions checks that the limit is the best second
// of the last ten, in entries completed times the smallest RT, and that an
// engine that has completed nothing admits one entry at a time.
func TestBBRLimitFollowsCompletions(t *testing.T) {
	cpu := newGauge(0.9)
	eng, advance := systemEngine(t, cpu)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.CPUUsage, TriggerCount: 0.8,
		Strategy: system.BBR})); err != nil {
		t.Fatal(err)
	}
	held, blocked := hold(eng, 3)
	if len(held) != 1 || len(blocked) != 2 {
		t.Fatalf("nothing completed yet: %d admitted, want 1", len(held))
	}
	exitAll(held)
	for i := 0; i < 40; i++ { // 4 s of 40 sequential entries a second, 20 ms each, then 5 ms idle
		p, err := eng.Entry(context.Background(), "api", inbound())
		if err != nil {
			t.Fatal(err)
		}
		advance(20 * time.Millisecond)
		p.Exit()
		advance(5 * time.Millisecond)
	}
	// 40 per second × 20 ms = 0.8; the first entry (0 ms) made minRT 0.
	st := eng.SystemStats()
	if st.BBRLimit != 0 {
		t.Fatalf("limit %v, want 0: the first entry exited at once", st.BBRLimit)
	}
	advance(10 * time.Second) // the first entry's second leaves the 10 windows
	for i := 0; i < 40; i++ {
		p, _ := eng.Entry(context.Background(), "api", inbound())
		advance(20 * time.Millisecond)
		p.Exit()
		advance(5 * time.Millisecond)
	}
	if st := eng.SystemStats(); math.Abs(st.BBRLimit-0.8) > 1e-9 || st.MinRT != 20*time.Millisecond {
		t.Fatalf("limit %v (minRT %v), want 0.8 = 40/s × 20 ms", st.BBRLimit, st.MinRT)
	}
}

func TestSystemInboundMetrics(t *testing.T) {
	eng, clk := newEngine(t)
	if err := eng.LoadSystemRules(systemRules(
		system.Rule{ID: "rt", MetricType: system.AvgRT, TriggerCount: 30},
		system.Rule{ID: "qps", MetricType: system.InboundQPS, TriggerCount: 50},
	)); err != nil {
		t.Fatal(err)
	}
	if eng.SystemStats().Sampling {
		t.Fatal("the sampler runs without rules on machine metrics")
	}
	for i := 0; i < 40; i++ { // 40 entries, 20 ms each, in one bucket
		p, err := eng.Entry(context.Background(), "api", inbound())
		if err != nil {
			t.Fatal(err)
		}
		defer p.Exit()
	}
	clk.Advance(20 * time.Millisecond)
	clk.Advance(100 * time.Millisecond) // into the next bucket: readings are refreshed
	if got := try(eng, "api", 20, inbound()); got != 20 {
		t.Fatalf("40/s under 50 and no RT yet: %d of 20 passed", got)
	}
	// 60 passed in the last second: over 50, so everything inbound is blocked
	// from the next bucket on.
	clk.Advance(100 * time.Millisecond)
	_, err := eng.Entry(context.Background(), "api", inbound())
	var be *sluice.BlockError
	if !errors.As(err, &be) || be.Rule.(*system.Rule).ID != "qps" {
		t.Fatalf("60/s over 50: %v", err)
	}
	st := eng.SystemStats()
	if st.PassQPS != 60 || st.BlockQPS != 1 || st.Concurrency != 40 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSystemAvgRTRule(t *testing.T) {
	eng, clk := newEngine(t)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.AvgRT, TriggerCount: 30})); err != nil {
		t.Fatal(err)
	}
	p, _ := eng.Entry(context.Background(), "api", inbound())
	clk.Advance(40 * time.Millisecond)
	p.Exit()
	clk.Advance(100 * time.Millisecond)
	if _, err := eng.Entry(context.Background(), "api", inbound()); !isSystemBlock(err) {
		t.Fatalf("avg RT 40 ms over 30: %v", err)
	}
	clk.Advance(time.Second)
	if got := try(eng, "api", 3, inbound()); got != 3 {
		t.Fatalf("the slow second has passed: %d of 3", got)
	}
}

// TestSamplerStartsAndStopsWithRules checks that the engine starts its
// sampling goroutine only for rules on machine metrics, stops it when they
// go, and that Close stops it for good.
func TestSamplerStartsAndStopsWithRules(t *testing.T) {
	before := goleak.IgnoreCurrent()
	defer goleak.VerifyNone(t, before)
	reads := atomic.Int64{}
	cpu := system.ReaderFunc(func() (float64, error) { reads.Add(1); return 0.1, nil })
	eng := sluice.New(sluice.WithSystemReaders(system.Readers{CPU: cpu}),
		sluice.WithLogger(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))))
	if eng.SystemStats().Sampling || reads.Load() != 0 {
		t.Fatal("New started sampling")
	}
	// Rules on inbound statistics only need no sampler.
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.Concurrency, TriggerCount: 10})); err != nil {
		t.Fatal(err)
	}
	if eng.SystemStats().Sampling {
		t.Fatal("a Concurrency rule started the sampler")
	}
	if err := goleak.Find(before); err != nil {
		t.Fatalf("goroutine without machine-metric rules: %v", err)
	}
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.CPUUsage, TriggerCount: 0.9})); err != nil {
		t.Fatal(err)
	}
	if st := eng.SystemStats(); !st.Sampling || !st.HasCPU || reads.Load() != 1 {
		t.Fatalf("after loading a CPU rule: %+v, %d reads", st, reads.Load())
	}
	if goleak.Find(before) == nil {
		t.Fatal("no sampling goroutine found")
	}
	if err := eng.LoadSystemRules(nil); err != nil {
		t.Fatal(err)
	}
	if st := eng.SystemStats(); st.Sampling || st.HasCPU {
		t.Fatalf("rules removed, still sampling: %+v", st)
	}
	if err := goleak.Find(before); err != nil {
		t.Fatalf("rules removed, goroutine left: %v", err)
	}
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.Load, TriggerCount: 8})); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	eng.Close()
	if err := goleak.Find(before); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.Load, TriggerCount: 8})); err != nil {
		t.Fatal(err)
	}
	if eng.SystemStats().Sampling {
		t.Fatal("sampler restarted after Close")
	}
}

// A reader that fails or panics gives no reading, logged once, and blocks
// nothing.
func TestFailingSystemReaderBlocksNothing(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	calls := 0
	broken := system.ReaderFunc(func() (float64, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls%2 == 0 {
			panic("boom")
		}
		return 0, errors.New("open /sys/fs/cgroup/cpu.stat: permission denied")
	})
	clk := clock.NewManual(t0)
	eng := sluice.New(sluice.WithClock(clk), sluice.WithSystemSampleInterval(sampleEvery),
		sluice.WithSystemReaders(system.Readers{CPU: broken, Memory: system.ReaderFunc(func() (float64, error) {
			return 42, nil // a ratio cannot be 42: out of range, no reading
		}), Load: system.ReaderFunc(func() (float64, error) { return 0, system.ErrNotReady })}),
		sluice.WithLogger(slog.New(slog.NewTextHandler(&syncWriter{w: &logs, mu: &mu}, nil))))
	defer eng.Close()
	if err := eng.LoadSystemRules(systemRules(
		system.Rule{MetricType: system.CPUUsage, TriggerCount: 0},
		system.Rule{MetricType: system.MemoryUsage, TriggerCount: 0},
		system.Rule{MetricType: system.Load, TriggerCount: 0},
	)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if got := try(eng, "api", 5, inbound()); got != 5 {
			t.Fatalf("no readings, yet %d of 5 passed", got)
		}
		clk.Advance(sampleEvery)
		clk.BlockUntilTimers(1)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if n := strings.Count(out, "system CPU reading failed"); n != 1 {
		t.Errorf("CPU failure logged %d times, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "system memory reading failed"); n != 1 || !strings.Contains(out, "out of range") {
		t.Errorf("memory out-of-range logged %d times, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "system load reading failed") {
		t.Errorf("ErrNotReady was logged:\n%s", out)
	}
	if st := eng.SystemStats(); st.HasCPU || st.HasMemory || st.HasLoad {
		t.Fatalf("readings from failing readers: %+v", st)
	}
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func TestInboundEntryWithSystemRulesDoesNotAllocate(t *testing.T) {
	cpu := newGauge(0.9)
	eng, advance := systemEngine(t, cpu)
	if err := eng.LoadSystemRules(systemRules(
		system.Rule{MetricType: system.CPUUsage, TriggerCount: 0.8, Strategy: system.BBR},
		system.Rule{MetricType: system.InboundQPS, TriggerCount: 1e9},
		system.Rule{MetricType: system.AvgRT, TriggerCount: 1e9},
	)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enter := func() {
		p, err := eng.Entry(ctx, "api", inbound())
		if err != nil {
			t.Fatal(err)
		}
		p.Exit()
	}
	enter()
	if a := testing.AllocsPerRun(1000, func() {
		advance(time.Millisecond)
		enter()
	}); a != 0 {
		t.Errorf("%v allocs per inbound Entry+Exit under system rules, want 0", a)
	}
	// Rules on inbound statistics only (no sampler), every entry in a new
	// bucket: the readings are worked out afresh each time.
	eng2, clk := newEngine(t)
	if err := eng2.LoadSystemRules(systemRules(
		system.Rule{MetricType: system.InboundQPS, TriggerCount: 1e9},
		system.Rule{MetricType: system.AvgRT, TriggerCount: 1e9, Strategy: system.BBR},
	)); err != nil {
		t.Fatal(err)
	}
	enter2 := func() {
		p, err := eng2.Entry(ctx, "api", inbound())
		if err != nil {
			t.Fatal(err)
		}
		p.Exit()
	}
	enter2()
	if a := testing.AllocsPerRun(1000, func() {
		clk.Advance(100 * time.Millisecond)
		enter2()
	}); a != 0 {
		t.Errorf("%v allocs per inbound Entry+Exit with a refresh of the readings, want 0", a)
	}
}

// Resources past the engine's bound are not tracked, but system rules
// protect the whole service: their inbound entries are checked and counted.
func TestSystemRulesCoverResourcesPastTheBound(t *testing.T) {
	eng, _ := newEngine(t, sluice.WithMaxResources(1))
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.Concurrency, TriggerCount: 2})); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var held []*sluice.Permit
	for _, name := range []string{"tracked", "/users/1", "/users/2", "/users/3"} {
		p, err := eng.Entry(ctx, name, inbound())
		if name == "/users/3" {
			var be *sluice.BlockError
			if !errors.As(err, &be) || be.Type != sluice.BlockTypeSystem || be.Resource != name {
				t.Fatalf("%s with 3 in flight over 2: %v", name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		held = append(held, p)
	}
	if got := eng.Resources(); len(got) != 1 {
		t.Fatalf("tracked %v, want only the first", got)
	}
	if st := eng.SystemStats(); st.Concurrency != 3 || st.PassQPS != 3 || st.BlockQPS != 1 {
		t.Fatalf("inbound stats %+v", st)
	}
	exitAll(held)
	if st := eng.SystemStats(); st.Concurrency != 0 || st.CompleteQPS != 3 {
		t.Fatalf("after exits: %+v", st)
	}
	if p, err := eng.Entry(ctx, "/users/4"); err != nil { // outbound past the bound: unchecked
		t.Fatal(err)
	} else {
		p.Exit()
	}
}

// BBR compares entries in flight with entries completed: a batch count does
// not inflate the limit.
func TestBBRCountsEntriesNotPermits(t *testing.T) {
	eng, clk := newEngine(t)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.InboundQPS, TriggerCount: 1e9})); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // 1 s: every 100 ms, 10 entries of batch 10 and 50 ms
		var held []*sluice.Permit
		for j := 0; j < 10; j++ {
			p, err := eng.Entry(context.Background(), "api", inbound(), sluice.WithBatchCount(10))
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, p)
		}
		clk.Advance(50 * time.Millisecond)
		exitAll(held)
		clk.Advance(50 * time.Millisecond)
	}
	if st := eng.SystemStats(); st.BBRLimit != 5 || st.PassQPS != 100 {
		t.Fatalf("limit %v, pass %v/s; want 5 (100 entries/s × 50 ms), 100 entries/s", st.BBRLimit, st.PassQPS)
	}
}

// A reader that hangs does not leave its last reading in force: a sample
// older than three intervals is no reading.
func TestHangingReaderReadingGoesStale(t *testing.T) {
	release, hung := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	cpu := system.ReaderFunc(func() (float64, error) {
		if calls.Add(1) == 2 {
			close(hung)
			<-release
		}
		return 0.99, nil
	})
	eng, clk := newEngine(t, sluice.WithSystemReaders(system.Readers{CPU: cpu}), sluice.WithSystemSampleInterval(sampleEvery))
	defer close(release) // before the engine's Close, which waits for the Read
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.CPUUsage, TriggerCount: 0.5})); err != nil {
		t.Fatal(err)
	}
	if got := try(eng, "api", 3, inbound()); got != 0 {
		t.Fatalf("CPU 0.99 over 0.5: %d of 3 passed", got)
	}
	clk.Advance(sampleEvery) // the second Read hangs
	<-hung
	clk.Advance(2 * sampleEvery) // the sample is 3 intervals old: still used
	if got := try(eng, "api", 3, inbound()); got != 0 {
		t.Fatalf("3 intervals old: %d of 3 passed", got)
	}
	clk.Advance(time.Nanosecond)
	if got := try(eng, "api", 3, inbound()); got != 3 {
		t.Fatalf("older than 3 intervals: %d of 3 passed, want all", got)
	}
	if st := eng.SystemStats(); st.HasCPU || !st.Sampling {
		t.Fatalf("stale reading reported: %+v", st)
	}
}

// After an idle spell, the first entries read the inbound statistics of
// now, not those cached when traffic was last seen.
func TestInboundReadingsAfterIdle(t *testing.T) {
	eng, clk := newEngine(t)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.AvgRT, TriggerCount: 30})); err != nil {
		t.Fatal(err)
	}
	p, _ := eng.Entry(context.Background(), "api", inbound())
	clk.Advance(500 * time.Millisecond)
	p.Exit()
	clk.Advance(100 * time.Millisecond)
	if _, err := eng.Entry(context.Background(), "api", inbound()); !isSystemBlock(err) {
		t.Fatalf("avg RT 500 ms over 30: %v", err)
	}
	clk.Advance(10 * time.Minute)
	var wg sync.WaitGroup
	var passed atomic.Int64
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			passed.Add(int64(try(eng, "api", 100, inbound())))
		}()
	}
	wg.Wait()
	if passed.Load() != 800 {
		t.Fatalf("after 10 idle minutes, %d of 800 passed", passed.Load())
	}
}

// When the sampler starts again, its first CPU reading, which covers the
// time since the sampler stopped, is dropped; the next one is used.
func TestSamplerRestartDropsStaleCPUReading(t *testing.T) {
	cpu := newGauge(0.9)
	eng, advance := systemEngine(t, cpu)
	rules := systemRules(system.Rule{MetricType: system.CPUUsage, TriggerCount: 0.5})
	if err := eng.LoadSystemRules(rules); err != nil {
		t.Fatal(err)
	}
	if st := eng.SystemStats(); !st.HasCPU {
		t.Fatal("no first reading")
	}
	if err := eng.LoadSystemRules(nil); err != nil {
		t.Fatal(err)
	}
	if err := eng.LoadSystemRules(rules); err != nil {
		t.Fatal(err)
	}
	if st := eng.SystemStats(); st.HasCPU {
		t.Fatalf("stale CPU reading kept after restart: %+v", st)
	}
	if got := try(eng, "api", 3, inbound()); got != 3 {
		t.Fatalf("no reading yet, but %d of 3 passed", got)
	}
	advance(sampleEvery)
	if st := eng.SystemStats(); !st.HasCPU || st.CPUUsage != 0.9 {
		t.Fatalf("next sample: %+v", st)
	}
	if got := try(eng, "api", 3, inbound()); got != 0 {
		t.Fatalf("CPU 0.9 over 0.5: %d of 3 passed", got)
	}
}
