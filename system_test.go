package sluice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
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
func hold(eng *sluice.Engine, n int) (held []sluice.Permit, blocked []error) {
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

func exitAll(ps []sluice.Permit) {
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
	held, blocked := hold(eng, 3) // counting each entry: 1 → pass; 2 > 1 → block
	defer exitAll(held)
	if len(held) != 1 || len(blocked) != 2 || !isSystemBlock(blocked[0]) {
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
	if st := eng.SystemStats(); st.Concurrency != 1 {
		t.Fatalf("inbound concurrency %d, want 1 (outbound not counted)", st.Concurrency)
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
// of the last ten, in entries completed times the smallest mean RT of a
// bucket, and that an engine that has completed nothing admits entries while
// at most one is in flight.
func TestBBRLimitFollowsCompletions(t *testing.T) {
	cpu := newGauge(0.9)
	eng, advance := systemEngine(t, cpu)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.CPUUsage, TriggerCount: 0.8,
		Strategy: system.BBR})); err != nil {
		t.Fatal(err)
	}
	held, blocked := hold(eng, 3)
	if len(held) != 2 || len(blocked) != 1 {
		t.Fatalf("nothing completed yet: %d admitted, want 2 (while at most one is in flight)", len(held))
	}
	exitAll(held)
	for i := 0; i < 40; i++ { // 1 s of 40 sequential entries, 20 ms each, then 5 ms idle
		p, err := eng.Entry(context.Background(), "api", inbound())
		if err != nil {
			t.Fatal(err)
		}
		advance(20 * time.Millisecond)
		p.Exit()
		advance(5 * time.Millisecond)
	}
	// 42 completed in the first second. The two entries that exited at once
	// share their bucket with four of 20 ms: a mean of 13.3 ms, so the limit
	// is 42 × 13.3 ms = 0.56, where a single call's minimum (0) made it 0.
	st := eng.SystemStats()
	if math.Abs(st.BBRLimit-0.56) > 1e-6 {
		t.Fatalf("limit %v, want 0.56 = 42/s × 80 ms / 6", st.BBRLimit)
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
	clk.Advance(100 * time.Millisecond) // into the next bucket
	if got := try(eng, "api", 20, inbound()); got != 10 {
		t.Fatalf("40 passed in the last second, trigger 50, no RT yet: %d of 20 passed, want 10", got)
	}
	// 50 passed in the last second: the next would make 51, over 50.
	clk.Advance(100 * time.Millisecond)
	_, err := eng.Entry(context.Background(), "api", inbound())
	var be *sluice.BlockError
	if !errors.As(err, &be) || be.Rule.(*system.Rule).ID != "qps" {
		t.Fatalf("51st entry of the second over 50: %v", err)
	}
	st := eng.SystemStats()
	if st.PassQPS != 50 || st.BlockQPS != 11 || st.Concurrency != 40 {
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
	logs := &lockedBuffer{}
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
		sluice.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
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
	out := logs.String()
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
		system.Rule{MetricType: system.Concurrency, TriggerCount: 1e9},
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
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.Concurrency, TriggerCount: 3})); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var held []sluice.Permit
	for _, name := range []string{"tracked", "/users/1", "/users/2", "/users/3"} {
		p, err := eng.Entry(ctx, name, inbound())
		if name == "/users/3" {
			var be *sluice.BlockError
			if !errors.As(err, &be) || be.Type != sluice.BlockTypeSystem || be.Resource != name {
				t.Fatalf("%s, a fourth in flight over 3: %v", name, err)
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
		var held []sluice.Permit
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

// yieldingChecker makes entries race: it yields the processor between an
// entry's system check and its admission, as a slower check would.
func yieldingChecker() sluice.Option {
	return sluice.WithChecker(sluice.CheckerFunc(func(context.Context, sluice.EntryInfo) error {
		runtime.Gosched()
		return nil
	}))
}

// A Concurrency rule of trigger N holds at most N inbound entries in flight,
// counting the entry asking, however many race for the last slots.
func TestSystemConcurrencyIsExactUnderContention(t *testing.T) {
	eng, _ := newEngine(t, yieldingChecker())
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.Concurrency, TriggerCount: 5})); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 20; round++ {
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			admitted []sluice.Permit
			blocked  atomic.Int64
			start    = make(chan struct{})
		)
		for g := 0; g < 64; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				p, err := eng.Entry(context.Background(), "api", inbound())
				if err != nil {
					if !isSystemBlock(err) {
						t.Errorf("not a system block: %v", err)
					}
					blocked.Add(1)
					return
				}
				mu.Lock()
				admitted = append(admitted, p)
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		if len(admitted) != 5 || blocked.Load() != 59 || eng.SystemStats().Concurrency != 5 {
			t.Fatalf("round %d: %d admitted, %d blocked, %d in flight; want 5, 59, 5",
				round, len(admitted), blocked.Load(), eng.SystemStats().Concurrency)
		}
		exitAll(admitted)
		if c := eng.SystemStats().Concurrency; c != 0 {
			t.Fatalf("round %d: %d in flight after every exit", round, c)
		}
	}
}

// An inbound entry counts in flight from when it passes its checks to its
// Exit: an entry blocked by a later check, or whose Throttling wait is cut
// short, gives its Concurrency slot back, and one waiting in the queue holds
// it.
func TestSystemConcurrencySlotFollowsTheEntry(t *testing.T) {
	eng, clk := newEngine(t)
	mustLoad(t, eng, sluice.Rules{
		System: systemRules(system.Rule{MetricType: system.Concurrency, TriggerCount: 1}),
		Flow: []flow.Rule{{Resource: "shut", Threshold: 0},
			{Resource: "queue", Threshold: 1, ControlBehavior: flow.Throttling, MaxQueueingTime: 10 * time.Second}},
	})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := eng.Entry(ctx, "shut", inbound()); err == nil || isSystemBlock(err) {
			t.Fatalf("want a flow block, got %v", err)
		}
	}
	p, err := eng.Entry(ctx, "queue", inbound()) // the queue's first: no wait
	if err != nil {
		t.Fatalf("after flow blocks, the slot is free: %v", err)
	}
	p.Exit()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := eng.Entry(short, "queue", inbound()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait of 1 s under a 50 ms deadline: %v", err)
	}
	if st := eng.SystemStats(); st.Concurrency != 0 {
		t.Fatalf("the cut-short wait kept its slot: %d in flight", st.Concurrency)
	}
	done := make(chan error, 1)
	go func() {
		p, err := eng.Entry(ctx, "queue", inbound()) // waits 1 s on the clock
		p.Exit()
		done <- err
	}()
	clk.BlockUntilTimers(1)
	if _, err := eng.Entry(ctx, "api", inbound()); !isSystemBlock(err) {
		t.Fatalf("the queued entry holds the one slot; got %v", err)
	}
	clk.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := try(eng, "api", 3, inbound()); got != 3 {
		t.Fatalf("after the queued entry's exit: %d of 3 one at a time", got)
	}
}

// InboundQPS reads live counts: with a trigger of 100, exactly 100 of 2000
// entries issued within 50 ms pass, whether one goroutine issues them or 64.
func TestSystemInboundQPSIsLiveAndExact(t *testing.T) {
	eng, clk := newEngine(t, yieldingChecker())
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.InboundQPS, TriggerCount: 100})); err != nil {
		t.Fatal(err)
	}
	passed := 0
	for i := 0; i < 2000; i++ {
		passed += try(eng, "api", 1, inbound())
		clk.Advance(25 * time.Microsecond)
	}
	if passed != 100 {
		t.Fatalf("%d of 2000 passed within 50 ms, want 100", passed)
	}
	clk.Advance(2 * time.Second) // a fresh second, past the rule set's first, raced for by 64 goroutines
	var wg sync.WaitGroup
	var racing atomic.Int64
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			racing.Add(int64(try(eng, "api", 30, inbound())))
		}()
	}
	wg.Wait()
	if racing.Load() != 100 {
		t.Fatalf("%d of 1920 racing entries passed, want 100", racing.Load())
	}
}

// A burst at a bucket's end keeps the rule shut until that bucket leaves the
// second (the bucket holding now and the nine before it): never N + 1 in one.
func TestSystemInboundQPSAtBucketEdges(t *testing.T) {
	eng, clk := newEngine(t)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.InboundQPS, TriggerCount: 10})); err != nil {
		t.Fatal(err)
	}
	start := t0.Add(time.Second) // a bucket's start (t0 is whole seconds)
	for _, tc := range []struct {
		at   time.Duration // after start
		want int
	}{
		{100*time.Millisecond - time.Nanosecond, 10}, // the last nanosecond of bucket 0
		{100 * time.Millisecond, 0},                  // bucket 1
		{time.Second - time.Nanosecond, 0},           // bucket 9: bucket 0 still counts
		{time.Second, 10},                            // bucket 10: bucket 0 has left
		{time.Second + 50*time.Millisecond, 0},
		{2*time.Second - time.Nanosecond, 0},
		{2 * time.Second, 10},
	} {
		clk.Set(start.Add(tc.at))
		if got := try(eng, "api", 20, inbound()); got != tc.want {
			t.Fatalf("at +%v: %d of 20 passed, want %d", tc.at, got, tc.want)
		}
	}
}

// Entries admitted in the second before an InboundQPS rule is loaded count
// against it.
func TestSystemInboundQPSCountsTheSecondBeforeTheRule(t *testing.T) {
	eng, clk := newEngine(t)
	if got := try(eng, "api", 80, inbound()); got != 80 {
		t.Fatal("no rules, yet blocked")
	}
	clk.Advance(300 * time.Millisecond)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.InboundQPS, TriggerCount: 100})); err != nil {
		t.Fatal(err)
	}
	if got := try(eng, "api", 50, inbound()); got != 20 {
		t.Fatalf("80 passed before the rule: %d of 50 more passed, want 20", got)
	}
}

// AvgRT reads live figures: a 90 ms call that has just exited puts the
// mean over a 50 ms trigger at once, within the same bucket.
func TestSystemAvgRTIsLive(t *testing.T) {
	eng, clk := newEngine(t)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.AvgRT, TriggerCount: 50})); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(time.Second)) // a bucket's start
	p, err := eng.Entry(context.Background(), "api", inbound())
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(90 * time.Millisecond)
	p.Exit()
	if _, err := eng.Entry(context.Background(), "api", inbound()); !isSystemBlock(err) {
		t.Fatalf("a mean of 90 ms over 50, in the same bucket: %v", err)
	}
	clk.Advance(time.Second) // the slow call's bucket has left the second
	if got := try(eng, "api", 3, inbound()); got != 3 {
		t.Fatalf("nothing completed in the last second: %d of 3", got)
	}
}

// BBR takes the smallest mean response time of one 100 ms bucket, not of
// one call, and admits while at most one other entry is in flight: a cheap
// route no longer drives the limit to nothing and starves the others (as it
// did: one 5 µs route made the limit 110/s × 5 µs = 0.00055).
func TestBBRDoesNotStarveCheapRoutes(t *testing.T) {
	cpu := newGauge(0.5)
	eng, advance := systemEngine(t, cpu)
	if err := eng.LoadSystemRules(systemRules(system.Rule{MetricType: system.CPUUsage, TriggerCount: 0.8,
		Strategy: system.BBR})); err != nil {
		t.Fatal(err)
	}
	call := func(route string, rt time.Duration) error {
		p, err := eng.Entry(context.Background(), route, inbound())
		if err != nil {
			return err
		}
		advance(rt)
		p.Exit()
		return nil
	}
	// A slow request (a stream, an upload) stays in flight throughout, while
	// every 100 ms a health check of 5 µs runs five times and an API route
	// of 25 µs six times: 110 completed a second.
	slow, err := eng.Entry(context.Background(), "upload", inbound())
	if err != nil {
		t.Fatal(err)
	}
	refused := func(buckets int) (api int) {
		for b := 0; b < buckets; b++ {
			for i := 0; i < 5; i++ {
				_ = call("/healthz", 5*time.Microsecond)
			}
			for i := 0; i < 6; i++ {
				if err := call("/api", 25*time.Microsecond); err != nil {
					api++
				}
			}
			advance(100*time.Millisecond - 175*time.Microsecond)
		}
		return api
	}
	if n := refused(20); n != 0 {
		t.Fatalf("CPU under the trigger: %d API calls refused", n)
	}
	cpu.Set(0.95)
	advance(sampleEvery)
	if n := refused(10); n != 0 {
		t.Fatalf("CPU over the trigger, one slow request in flight: %d of 60 API calls refused, want 0 (limit %v)",
			n, eng.SystemStats().BBRLimit)
	}
	slow.Exit()

	// With more in flight, the limit decides: each bucket of the next two
	// seconds completes one 5 µs call and ten of 20 ms (in flight
	// together): a mean of 18.2 ms and 110 a second, a limit of 2.0.
	cpu.Set(0.5)
	advance(sampleEvery)
	advance(10 * time.Second) // the cheap buckets leave the BBR windows
	for b := 0; b < 20; b++ {
		if err := call("/healthz", 5*time.Microsecond); err != nil {
			t.Fatal(err)
		}
		held, blocked := hold(eng, 10)
		if len(blocked) > 0 {
			t.Fatalf("CPU under the trigger: %v", blocked[0])
		}
		advance(20 * time.Millisecond)
		exitAll(held)
		advance(80*time.Millisecond - 5*time.Microsecond)
	}
	cpu.Set(0.95)
	advance(sampleEvery)
	if st := eng.SystemStats(); math.Abs(st.BBRLimit-2.0) > 0.01 {
		t.Fatalf("limit %v, want 110/s × 18.2 ms = 2.0", st.BBRLimit)
	}
	held, blocked := hold(eng, 5) // others in flight 0, 1, 2 <= 2.0: admitted; 3: not
	defer exitAll(held)
	if len(held) != 3 || len(blocked) != 2 {
		t.Fatalf("%d admitted, want 3 (while at most 2.0 others are in flight)", len(held))
	}
}
