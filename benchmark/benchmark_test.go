// Package benchmark compares the cost of guarding a call with Sluice against
// its peers: Sentinel Go (github.com/alibaba/sentinel-golang) on the same
// rule shapes, and golang.org/x/time/rate as the floor for a bare token
// bucket.
//
// Every benchmark runs one Entry+Exit (or one Allow) per iteration, first on
// one goroutine (BenchmarkEntryExit) and then under b.RunParallel
// (BenchmarkEntryExitParallel), with sub-benchmarks named
// <case>/<library> so that the lines of one case sit side by side:
//
//	NoRule        a resource with no rule: the fixed cost of the entry path
//	Flow          one QPS rule so high that nothing is blocked
//	FlowIsolation a flow rule and a concurrency (isolation) rule, both huge
//	Blocked       a flow rule with threshold 0: every entry is blocked
//	System        an Inbound entry under system rules on inbound QPS,
//	              concurrency and average RT, none reached
//
// TestPeersLoad checks that the rules the benchmarks run against are really
// in force in both libraries, so the numbers measure a real rule path.
//
// Hotspot (per-argument) benchmarks are in hotspot_test.go, and the cache
// hit-rate measurement behind the hotspot cache's design in hitrate_test.go.
// The call-shape benchmarks (closure and method value) and the scaling
// benchmark on distinct resources are in callshape_test.go, and the memory
// per tracked resource in memory_test.go.
package benchmark

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync/atomic"
	"testing"
	"time"

	sentinel "github.com/alibaba/sentinel-golang/api"
	sbase "github.com/alibaba/sentinel-golang/core/base"
	scb "github.com/alibaba/sentinel-golang/core/circuitbreaker"
	sconfig "github.com/alibaba/sentinel-golang/core/config"
	sflow "github.com/alibaba/sentinel-golang/core/flow"
	sisolation "github.com/alibaba/sentinel-golang/core/isolation"
	ssystem "github.com/alibaba/sentinel-golang/core/system"
	"github.com/sony/gobreaker"
	"golang.org/x/time/rate"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

// Resources, one per case, so that no rule of one case touches another.
// Both libraries use the same names; their state is separate.
const (
	resNoRule        = "bench/no-rule"
	resFlow          = "bench/flow"
	resFlowIsolation = "bench/flow+isolation"
	resBlocked       = "bench/blocked"
	resBreaker       = "bench/breaker"
	resSystem        = "bench/system" // entered Inbound: the system rules apply
	// resIsolationOne has a concurrency limit of 1; only TestPeersLoad
	// uses it.
	resIsolationOne = "test/isolation-one"
)

const (
	hugeQPS = 1e12 // per second: nothing in a benchmark reaches it
)

var (
	ctx = context.Background()
	eng *sluice.Engine

	// References for x/time/rate: a limit nothing reaches, and one that
	// refuses everything.
	openLimiter    = rate.NewLimiter(rate.Limit(hugeQPS), 1<<40)
	closedLimiter  = rate.NewLimiter(0, 0)
	sentinelLogDir string
)

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "benchmark setup:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(sentinelLogDir)
	os.Exit(code)
}

// setup builds the Sluice engine and initialises Sentinel Go, loading the
// same rules into both.
func setup() error {
	eng = sluice.New(sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	err := eng.LoadRules(sluice.Rules{
		Flow: []flow.Rule{
			{Resource: resFlow, Threshold: hugeQPS},
			{Resource: resFlowIsolation, Threshold: hugeQPS},
			{Resource: resBlocked, Threshold: 0},
		},
		Isolation: []isolation.Rule{
			{Resource: resFlowIsolation, Threshold: 1 << 40},
			{Resource: resIsolationOne, Threshold: 1},
		},
		CircuitBreaker: []circuitbreaker.Rule{{Resource: resBreaker, Strategy: circuitbreaker.ErrorRatio,
			Threshold: 0.5, MinRequestAmount: 10, RetryTimeout: 3 * time.Second}},
		// Rules on the engine's own inbound statistics: no sampler runs.
		System: []system.Rule{
			{MetricType: system.InboundQPS, TriggerCount: hugeQPS},
			{MetricType: system.Concurrency, TriggerCount: 1 << 40},
			{MetricType: system.AvgRT, TriggerCount: 1e9},
		},
	})
	if err != nil {
		return fmt.Errorf("sluice rules: %w", err)
	}
	if err := setupSentinel(); err != nil {
		return err
	}
	if err := setupHotspot(); err != nil { // hotspot_test.go
		return err
	}
	if err := setupMiddleware(); err != nil { // middleware_test.go
		return err
	}
	return setupCallShape() // callshape_test.go
}

func setupSentinel() error {
	dir, err := os.MkdirTemp("", "sentinel-bench-logs-")
	if err != nil {
		return err
	}
	sentinelLogDir = dir
	conf := sconfig.NewDefaultConfig()
	conf.Sentinel.App.Name = "sluice-benchmark"
	conf.Sentinel.Log.Dir = dir        // nothing should be written, but never under $HOME
	conf.Sentinel.Log.Logger = quiet{} // takes precedence over the file logger
	// No metric-log flusher and no system collectors (load, CPU, memory):
	// no background goroutines competing with the benchmarks.
	conf.Sentinel.Log.Metric.FlushIntervalSec = 0
	conf.Sentinel.Stat.System = sconfig.SystemStatConfig{}
	if err := sentinel.InitWithConfig(conf); err != nil {
		return fmt.Errorf("sentinel init: %w", err)
	}
	flowRules := []*sflow.Rule{
		sentinelFlowRule(resFlow, hugeQPS),
		sentinelFlowRule(resFlowIsolation, hugeQPS),
		sentinelFlowRule(resBlocked, 0),
	}
	if ok, err := sflow.LoadRules(flowRules); err != nil || !ok {
		return fmt.Errorf("sentinel flow rules: loaded=%v err=%v", ok, err)
	}
	isoRules := []*sisolation.Rule{
		// Sentinel's isolation threshold is a uint32 and must not be 0.
		{Resource: resFlowIsolation, MetricType: sisolation.Concurrency, Threshold: math.MaxUint32},
		{Resource: resIsolationOne, MetricType: sisolation.Concurrency, Threshold: 1},
	}
	if ok, err := sisolation.LoadRules(isoRules); err != nil || !ok {
		return fmt.Errorf("sentinel isolation rules: loaded=%v err=%v", ok, err)
	}
	cbRules := []*scb.Rule{{Resource: resBreaker, Strategy: scb.ErrorRatio, RetryTimeoutMs: 3000,
		MinRequestAmount: 10, StatIntervalMs: 1000, Threshold: 0.5}}
	if ok, err := scb.LoadRules(cbRules); err != nil || !ok {
		return fmt.Errorf("sentinel circuit breaker rules: loaded=%v err=%v", ok, err)
	}
	sysRules := []*ssystem.Rule{
		{MetricType: ssystem.InboundQPS, TriggerCount: hugeQPS, Strategy: ssystem.NoAdaptive},
		{MetricType: ssystem.Concurrency, TriggerCount: 1 << 40, Strategy: ssystem.NoAdaptive},
		{MetricType: ssystem.AvgRT, TriggerCount: 1e9, Strategy: ssystem.NoAdaptive},
	}
	if ok, err := ssystem.LoadRules(sysRules); err != nil || !ok {
		return fmt.Errorf("sentinel system rules: loaded=%v err=%v", ok, err)
	}
	if n := len(ssystem.GetRules()); n != 3 {
		return fmt.Errorf("sentinel: %d system rules in force, want 3", n)
	}
	if n := len(scb.GetRulesOfResource(resBreaker)); n != 1 {
		return fmt.Errorf("sentinel: %d breaker rules in force on %q, want 1", n, resBreaker)
	}
	// LoadRules drops invalid rules with only a log line: check each
	// resource really has its rules.
	for _, r := range flowRules {
		if n := len(sflow.GetRulesOfResource(r.Resource)); n != 1 {
			return fmt.Errorf("sentinel: %d flow rules in force on %q, want 1", n, r.Resource)
		}
	}
	for _, r := range isoRules {
		if n := len(sisolation.GetRulesOfResource(r.Resource)); n != 1 {
			return fmt.Errorf("sentinel: %d isolation rules in force on %q, want 1", n, r.Resource)
		}
	}
	return nil
}

func sentinelFlowRule(res string, threshold float64) *sflow.Rule {
	return &sflow.Rule{
		Resource:               res,
		TokenCalculateStrategy: sflow.Direct,
		ControlBehavior:        sflow.Reject,
		Threshold:              threshold,
		StatIntervalInMs:       1000,
	}
}

// quiet is a Sentinel logger that drops everything.
type quiet struct{}

func (quiet) Debug(string, ...interface{})        {}
func (quiet) DebugEnabled() bool                  { return false }
func (quiet) Info(string, ...interface{})         {}
func (quiet) InfoEnabled() bool                   { return false }
func (quiet) Warn(string, ...interface{})         {}
func (quiet) WarnEnabled() bool                   { return false }
func (quiet) Error(error, string, ...interface{}) {}
func (quiet) ErrorEnabled() bool                  { return false }

// One guarded call per library. Each reports whether the entry passed.

func sluiceEntryExit(res string) bool {
	p, err := eng.Entry(ctx, res)
	if err != nil {
		return false
	}
	p.Exit()
	return true
}

func sentinelEntryExit(res string) bool {
	e, be := sentinel.Entry(res)
	if be != nil {
		return false
	}
	e.Exit()
	return true
}

var inbound = sluice.WithTrafficType(sluice.Inbound)

func sluiceInbound() bool {
	p, err := eng.Entry(ctx, resSystem, inbound)
	if err != nil {
		return false
	}
	p.Exit()
	return true
}

func sentinelInbound() bool {
	e, be := sentinel.Entry(resSystem, sentinel.WithTrafficType(sbase.Inbound))
	if be != nil {
		return false
	}
	e.Exit()
	return true
}

// run measures call, which reports whether the entry passed; pass is the
// outcome every iteration must have, and a benchmark whose rule did not
// behave fails. Every library is called through the same func value, so the
// indirect call costs them all alike.
func run(b *testing.B, parallel bool, call func() bool, pass bool) {
	b.ReportAllocs()
	var wrong atomic.Int64
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			n := int64(0)
			for pb.Next() {
				if call() != pass {
					n++
				}
			}
			wrong.Add(n)
		})
	} else {
		n := int64(0)
		for i := 0; i < b.N; i++ {
			if call() != pass {
				n++
			}
		}
		wrong.Add(n)
	}
	checkOutcome(b, wrong.Load(), pass)
}

// breaker is sony/gobreaker's two-step breaker, the closest to Entry/Exit:
// Allow, then report the outcome. Its default settings trip after five
// consecutive failures; the benchmark only succeeds.
var breaker = gobreaker.NewTwoStepCircuitBreaker(gobreaker.Settings{Name: resBreaker})

func goBreakerCall() bool {
	done, err := breaker.Allow()
	if err != nil {
		return false
	}
	done(true)
	return true
}

func checkOutcome(b *testing.B, wrong int64, pass bool) {
	b.Helper()
	if wrong > 0 {
		b.Fatalf("%d of %d entries had the wrong outcome (want passed=%v)", wrong, b.N, pass)
	}
}

func benchEntryExit(b *testing.B, parallel bool) {
	sluiceOn := func(res string) func() bool { return func() bool { return sluiceEntryExit(res) } }
	sentinelOn := func(res string) func() bool { return func() bool { return sentinelEntryExit(res) } }
	for _, c := range []struct {
		name string
		call func() bool
		pass bool
	}{
		{"NoRule/Sluice", sluiceOn(resNoRule), true},
		{"NoRule/SentinelGo", sentinelOn(resNoRule), true},
		{"Flow/Sluice", sluiceOn(resFlow), true},
		{"Flow/SentinelGo", sentinelOn(resFlow), true},
		{"Flow/XTimeRate", openLimiter.Allow, true},
		{"FlowIsolation/Sluice", sluiceOn(resFlowIsolation), true},
		{"FlowIsolation/SentinelGo", sentinelOn(resFlowIsolation), true},
		{"Breaker/Sluice", sluiceOn(resBreaker), true},
		{"Breaker/SentinelGo", sentinelOn(resBreaker), true},
		{"Breaker/GoBreaker", goBreakerCall, true},
		{"Blocked/Sluice", sluiceOn(resBlocked), false},
		{"Blocked/SentinelGo", sentinelOn(resBlocked), false},
		{"Blocked/XTimeRate", closedLimiter.Allow, false},
		{"System/Sluice", sluiceInbound, true},
		{"System/SentinelGo", sentinelInbound, true},
	} {
		b.Run(c.name, func(b *testing.B) { run(b, parallel, c.call, c.pass) })
	}
}

// BenchmarkEntryExit measures one Entry+Exit on a single goroutine.
func BenchmarkEntryExit(b *testing.B) { benchEntryExit(b, false) }

// BenchmarkEntryExitParallel measures Entry+Exit from GOMAXPROCS goroutines
// on the same resource, the contended case.
func BenchmarkEntryExitParallel(b *testing.B) { benchEntryExit(b, true) }

// TestPeersLoad checks that the rules the benchmarks use are in force in
// both libraries: a huge threshold passes, a zero threshold blocks with a
// flow block, and a concurrency limit of 1 blocks a second entry in flight.
func TestPeersLoad(t *testing.T) {
	t.Run("Sluice", func(t *testing.T) {
		for _, res := range []string{resNoRule, resFlow, resFlowIsolation, resBreaker} {
			for i := 0; i < 1000; i++ {
				p, err := eng.Entry(ctx, res)
				if err != nil {
					t.Fatalf("%s: entry %d blocked: %v", res, i, err)
				}
				p.Exit()
			}
		}
		rules := eng.Rules()
		if len(rules.Flow) != 5+nDistinct || len(rules.Isolation) != 2 || len(rules.CircuitBreaker) != 1 {
			t.Fatalf("rules in force: %d flow (3, 2 for the middleware cases and %d distinct resources), %d isolation, %d breaker; want %d, 2, 1",
				len(rules.Flow), nDistinct, len(rules.Isolation), len(rules.CircuitBreaker), 5+nDistinct)
		}
		if len(rules.System) != 3 {
			t.Fatalf("%d system rules in force, want 3", len(rules.System))
		}
		for i := 0; i < 1000; i++ {
			if !sluiceInbound() {
				t.Fatalf("%s: inbound entry %d blocked", resSystem, i)
			}
		}
		if st := eng.SystemStats(); st.PassQPS == 0 || st.Sampling {
			t.Fatalf("inbound entries not counted, or a sampler runs for rules on inbound statistics: %+v", st)
		}
		if st, _ := eng.Stats(resBreaker); len(st.CircuitBreakers) != 1 {
			t.Fatalf("%s: no breaker bound: %+v", resBreaker, st)
		}

		_, err := eng.Entry(ctx, resBlocked)
		var be *sluice.BlockError
		if !errors.As(err, &be) || be.Type != sluice.BlockTypeFlow {
			t.Fatalf("%s: got %v, want a flow block", resBlocked, err)
		}

		held, err := eng.Entry(ctx, resIsolationOne)
		if err != nil {
			t.Fatalf("%s: first entry blocked: %v", resIsolationOne, err)
		}
		_, err = eng.Entry(ctx, resIsolationOne)
		if !errors.As(err, &be) || be.Type != sluice.BlockTypeIsolation {
			t.Fatalf("%s: second entry in flight: got %v, want an isolation block", resIsolationOne, err)
		}
		held.Exit()
		p, err := eng.Entry(ctx, resIsolationOne)
		if err != nil {
			t.Fatalf("%s: entry after exit blocked: %v", resIsolationOne, err)
		}
		p.Exit()
	})

	t.Run("SentinelGo", func(t *testing.T) {
		for _, res := range []string{resNoRule, resFlow, resFlowIsolation, resBreaker} {
			for i := 0; i < 1000; i++ {
				e, be := sentinel.Entry(res)
				if be != nil {
					t.Fatalf("%s: entry %d blocked: %v", res, i, be)
				}
				e.Exit()
			}
		}

		_, be := sentinel.Entry(resBlocked)
		if be == nil || be.BlockType() != sbase.BlockTypeFlow {
			t.Fatalf("%s: got %v, want a flow block", resBlocked, be)
		}

		held, be := sentinel.Entry(resIsolationOne)
		if be != nil {
			t.Fatalf("%s: first entry blocked: %v", resIsolationOne, be)
		}
		_, be = sentinel.Entry(resIsolationOne)
		if be == nil || be.BlockType() != sbase.BlockTypeIsolation {
			t.Fatalf("%s: second entry in flight: got %v, want an isolation block", resIsolationOne, be)
		}
		held.Exit()
		e, be := sentinel.Entry(resIsolationOne)
		if be != nil {
			t.Fatalf("%s: entry after exit blocked: %v", resIsolationOne, be)
		}
		e.Exit()
	})

	// The distinct resources of BenchmarkDistinctResourcesParallel, in
	// both libraries (callshape_test.go).
	t.Run("Distinct", checkDistinctLoaded)

	t.Run("XTimeRate", func(t *testing.T) {
		for i := 0; i < 1000; i++ {
			if !openLimiter.Allow() {
				t.Fatalf("open limiter refused call %d", i)
			}
		}
		if closedLimiter.Allow() {
			t.Fatal("closed limiter allowed a call")
		}
	})
}
