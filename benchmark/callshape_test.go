package benchmark

// Call shapes: the cases of BenchmarkEntryExit, a hotspot hit and Do, each
// entered the two ways the Go compiler cannot see into from the caller, for
// every library in one run:
//
//	Closure      a closure built by a //go:noinline helper and called
//	             through a func value, the way middleware calls Entry: the
//	             closure captures the engine and the resource name, and
//	             writes its options at the call, as middleware does
//	             (eng.Entry(ctx, res, sluice.WithTrafficType(sluice.Inbound)))
//	MethodValue  a method value (enter := eng.Entry; for Sentinel Go, the
//	             package function api.Entry; for x/time/rate,
//	             limiter.Allow) passed as a func variable to a
//	             //go:noinline function that calls it. Through a func
//	             variable Go cannot see where a variadic slice built at the
//	             call goes, so it would put that slice on the heap whatever
//	             the callee does; the options (System, Hotspot) are a slice
//	             the caller built once, as alloc_test.go in the root module
//	             does for this shape.
//
// Cases (the rules are those of BenchmarkEntryExit and BenchmarkHotspot,
// on the same resources):
//
//	NoRule         resNoRule, no rule
//	Flow           resFlow, one flow rule nothing reaches; x/time/rate's
//	               Allow is the floor
//	FlowIsolation  resFlowIsolation, flow + concurrency rule
//	Breaker        resBreaker, an ErrorRatio breaker, Closed
//	System         resSystem entered Inbound under the three system rules
//	Hotspot        the 1-string hotspot resource with its one value,
//	               "user-0", boxed once and entered before the timer: a hit
//	               on a known value
//	Do             resFlow through eng.Do with a func that returns nil; for
//	               Sentinel Go, sentinelDo below: what Do does, written with
//	               api.Entry, TraceError and a deferred Exit
//
// BenchmarkCallShape runs on one goroutine, BenchmarkCallShapeParallel under
// b.RunParallel on the same resource; names are <Shape>/<Case>/<Library>.
//
// BenchmarkDistinctResourcesParallel is the scaling case: under RunParallel
// each goroutine enters a resource of its own, each with one flow rule, so
// that nothing is shared but the engine; run with -cpu 1,2.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	sentinel "github.com/alibaba/sentinel-golang/api"
	sbase "github.com/alibaba/sentinel-golang/core/base"
	sflow "github.com/alibaba/sentinel-golang/core/flow"
	"golang.org/x/time/rate"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/flow"
)

// The func types of the method-value shape.
type (
	sluiceEnterFunc   = func(context.Context, string, ...sluice.EntryOption) (sluice.Permit, error)
	sluiceDoFunc      = func(context.Context, string, func(context.Context) error, ...sluice.EntryOption) error
	sentinelEnterFunc = func(string, ...sentinel.EntryOption) (*sbase.SentinelEntry, *sbase.BlockError)
	sentinelDoFunc    = func(string, func() error, ...sentinel.EntryOption) error
)

// The hotspot case: one value on the 1-string resource of hotspot_test.go.
var (
	resHotspotKnown = hotCase{name: "1-string"}.resource()
	hotKnown        any // "user-0", boxed once in setupCallShape
)

// nothing is the guarded function of the Do cases.
func nothing(context.Context) error { return nil }
func nothingSentinel() error        { return nil }

// sentinelDo is Sluice's Do written with Sentinel Go's API: Entry, the
// function, TraceError on its error, Exit in a defer (Do's defer records a
// panic and exits).
func sentinelDo(res string, fn func() error, opts ...sentinel.EntryOption) error {
	e, be := sentinel.Entry(res, opts...)
	if be != nil {
		return be
	}
	defer e.Exit()
	err := fn()
	if err != nil {
		sentinel.TraceError(e, err)
	}
	return err
}

// Closure shape: each helper is kept out of line, so that the closure it
// returns calls Entry from a frame the compiler knows nothing about.

//go:noinline
func sluiceClosure(e *sluice.Engine, res string) func() bool {
	return func() bool {
		p, err := e.Entry(ctx, res)
		if err != nil {
			return false
		}
		p.Exit()
		return true
	}
}

//go:noinline
func sluiceInboundClosure(e *sluice.Engine, res string) func() bool {
	return func() bool {
		p, err := e.Entry(ctx, res, sluice.WithTrafficType(sluice.Inbound))
		if err != nil {
			return false
		}
		p.Exit()
		return true
	}
}

//go:noinline
func sluiceHotClosure(e *sluice.Engine, res string, v any) func() bool {
	return func() bool {
		p, err := e.Entry(ctx, res, sluice.WithArgs(v))
		if err != nil {
			return false
		}
		p.Exit()
		return true
	}
}

//go:noinline
func sluiceDoClosure(e *sluice.Engine, res string) func() bool {
	return func() bool { return e.Do(ctx, res, nothing) == nil }
}

//go:noinline
func sentinelClosure(res string) func() bool {
	return func() bool {
		e, be := sentinel.Entry(res)
		if be != nil {
			return false
		}
		e.Exit()
		return true
	}
}

//go:noinline
func sentinelInboundClosure(res string) func() bool {
	return func() bool {
		e, be := sentinel.Entry(res, sentinel.WithTrafficType(sbase.Inbound))
		if be != nil {
			return false
		}
		e.Exit()
		return true
	}
}

//go:noinline
func sentinelHotClosure(res string, v any) func() bool {
	return func() bool {
		e, be := sentinel.Entry(res, sentinel.WithArgs(v))
		if be != nil {
			return false
		}
		e.Exit()
		return true
	}
}

//go:noinline
func sentinelDoClosure(res string) func() bool {
	return func() bool { return sentinelDo(res, nothingSentinel) == nil }
}

//go:noinline
func rateClosure(l *rate.Limiter) func() bool {
	return func() bool { return l.Allow() }
}

// Method-value shape: the func variable is called from an out-of-line
// function.

//go:noinline
func viaSluice(enter sluiceEnterFunc, res string, opts []sluice.EntryOption) bool {
	p, err := enter(ctx, res, opts...)
	if err != nil {
		return false
	}
	p.Exit()
	return true
}

//go:noinline
func viaSluiceDo(do sluiceDoFunc, res string, fn func(context.Context) error) bool {
	return do(ctx, res, fn) == nil
}

//go:noinline
func viaSentinel(enter sentinelEnterFunc, res string, opts []sentinel.EntryOption) bool {
	e, be := enter(res, opts...)
	if be != nil {
		return false
	}
	e.Exit()
	return true
}

//go:noinline
func viaSentinelDo(do sentinelDoFunc, res string, fn func() error) bool {
	return do(res, fn) == nil
}

//go:noinline
func viaRate(allow func() bool) bool { return allow() }

type shapeCase struct {
	name string // <Case>/<Library>
	call func() bool
}

// closureCases are the Closure shape's calls.
func closureCases() []shapeCase {
	return []shapeCase{
		{"NoRule/Sluice", sluiceClosure(eng, resNoRule)},
		{"NoRule/SentinelGo", sentinelClosure(resNoRule)},
		{"Flow/Sluice", sluiceClosure(eng, resFlow)},
		{"Flow/SentinelGo", sentinelClosure(resFlow)},
		{"Flow/XTimeRate", rateClosure(openLimiter)},
		{"FlowIsolation/Sluice", sluiceClosure(eng, resFlowIsolation)},
		{"FlowIsolation/SentinelGo", sentinelClosure(resFlowIsolation)},
		{"Breaker/Sluice", sluiceClosure(eng, resBreaker)},
		{"Breaker/SentinelGo", sentinelClosure(resBreaker)},
		{"System/Sluice", sluiceInboundClosure(eng, resSystem)},
		{"System/SentinelGo", sentinelInboundClosure(resSystem)},
		{"Hotspot/Sluice", sluiceHotClosure(eng, resHotspotKnown, hotKnown)},
		{"Hotspot/SentinelGo", sentinelHotClosure(resHotspotKnown, hotKnown)},
		{"Do/Sluice", sluiceDoClosure(eng, resFlow)},
		{"Do/SentinelGo", sentinelDoClosure(resFlow)},
		// The same rules in an engine on a 1 ms coarse clock
		// (sluice.WithCoarseClock): no clock read on the path, but where
		// a rule needs precise time (System: an AvgRT rule).
		{"NoRule/SluiceCoarse", sluiceClosure(coarseEng, resNoRule)},
		{"Flow/SluiceCoarse", sluiceClosure(coarseEng, resFlow)},
		{"FlowIsolation/SluiceCoarse", sluiceClosure(coarseEng, resFlowIsolation)},
		{"Breaker/SluiceCoarse", sluiceClosure(coarseEng, resBreaker)},
		{"System/SluiceCoarse", sluiceInboundClosure(coarseEng, resSystem)},
		{"Hotspot/SluiceCoarse", sluiceHotClosure(coarseEng, resHotspotKnown, hotKnown)},
		{"Do/SluiceCoarse", sluiceDoClosure(coarseEng, resFlow)},
	}
}

// methodValueCases are the MethodValue shape's calls. The options are
// slices built here, once.
func methodValueCases() []shapeCase {
	enter, do := eng.Entry, eng.Do
	var senter sentinelEnterFunc = sentinel.Entry
	var sdo sentinelDoFunc = sentinelDo
	allow := openLimiter.Allow
	in := []sluice.EntryOption{sluice.WithTrafficType(sluice.Inbound)}
	sin := []sentinel.EntryOption{sentinel.WithTrafficType(sbase.Inbound)}
	hot := []sluice.EntryOption{sluice.WithArgs(hotKnown)}
	shot := []sentinel.EntryOption{sentinel.WithArgs(hotKnown)}
	sl := func(res string, opts []sluice.EntryOption) func() bool {
		return func() bool { return viaSluice(enter, res, opts) }
	}
	se := func(res string, opts []sentinel.EntryOption) func() bool {
		return func() bool { return viaSentinel(senter, res, opts) }
	}
	return []shapeCase{
		{"NoRule/Sluice", sl(resNoRule, nil)},
		{"NoRule/SentinelGo", se(resNoRule, nil)},
		{"Flow/Sluice", sl(resFlow, nil)},
		{"Flow/SentinelGo", se(resFlow, nil)},
		{"Flow/XTimeRate", func() bool { return viaRate(allow) }},
		{"FlowIsolation/Sluice", sl(resFlowIsolation, nil)},
		{"FlowIsolation/SentinelGo", se(resFlowIsolation, nil)},
		{"Breaker/Sluice", sl(resBreaker, nil)},
		{"Breaker/SentinelGo", se(resBreaker, nil)},
		{"System/Sluice", sl(resSystem, in)},
		{"System/SentinelGo", se(resSystem, sin)},
		{"Hotspot/Sluice", sl(resHotspotKnown, hot)},
		{"Hotspot/SentinelGo", se(resHotspotKnown, shot)},
		{"Do/Sluice", func() bool { return viaSluiceDo(do, resFlow, nothing) }},
		{"Do/SentinelGo", func() bool { return viaSentinelDo(sdo, resFlow, nothingSentinel) }},
	}
}

func benchCallShape(b *testing.B, parallel bool) {
	for _, shape := range []struct {
		name  string
		cases []shapeCase
	}{
		{"Closure", closureCases()},
		{"MethodValue", methodValueCases()},
	} {
		for _, c := range shape.cases {
			// One entry before the timer: the resource exists, and the
			// hotspot value is known.
			if !c.call() {
				b.Fatalf("%s/%s: first entry blocked", shape.name, c.name)
			}
			b.Run(shape.name+"/"+c.name, func(b *testing.B) { run(b, parallel, c.call, true) })
		}
	}
}

// BenchmarkCallShape measures each case from a closure and through a method
// value, on one goroutine.
func BenchmarkCallShape(b *testing.B) { benchCallShape(b, false) }

// BenchmarkCallShapeParallel measures the same under b.RunParallel, all
// goroutines on the case's one resource.
func BenchmarkCallShapeParallel(b *testing.B) { benchCallShape(b, true) }

// Distinct resources: one per RunParallel goroutine, each with a flow rule
// nothing reaches.
const nDistinct = 64 // more than any GOMAXPROCS this is run at

func resDistinct(i int) string { return fmt.Sprintf("bench/distinct/%d", i) }

var (
	distinctRes      [nDistinct]string
	distinctLimiters [nDistinct]*rate.Limiter // the x/time/rate floor: a limiter per goroutine
)

// setupCallShape loads the distinct resources' flow rules into both
// libraries (keeping the flow rules already loaded) and boxes the hotspot
// value. Called from setup, after setupMiddleware.
func setupCallShape() error {
	hotKnown = userStrings(1)[0]
	rules := eng.Rules().Flow
	var srules []*sflow.Rule
	for _, r := range sflow.GetRules() {
		srules = append(srules, &r)
	}
	for i := range distinctRes {
		distinctRes[i] = resDistinct(i)
		distinctLimiters[i] = rate.NewLimiter(rate.Limit(hugeQPS), 1<<40)
		rules = append(rules, flow.Rule{Resource: distinctRes[i], Threshold: hugeQPS})
		srules = append(srules, sentinelFlowRule(distinctRes[i], hugeQPS))
	}
	if err := eng.LoadFlowRules(rules); err != nil {
		return fmt.Errorf("sluice distinct-resource rules: %w", err)
	}
	if ok, err := sflow.LoadRules(srules); err != nil || !ok {
		return fmt.Errorf("sentinel distinct-resource rules: loaded=%v err=%v", ok, err)
	}
	for _, res := range distinctRes {
		if n := len(sflow.GetRulesOfResource(res)); n != 1 {
			return fmt.Errorf("sentinel: %d flow rules in force on %q, want 1", n, res)
		}
	}
	coarseEng = sluice.New(sluice.WithCoarseClock(time.Millisecond),
		sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err := coarseEng.LoadRules(eng.Rules()); err != nil {
		return fmt.Errorf("sluice rules on the coarse clock: %w", err)
	}
	return nil
}

// coarseEng has eng's rules, on a 1 ms coarse clock.
var coarseEng *sluice.Engine

// runDistinct runs call(i) under RunParallel, goroutine i (in the order
// they start) on resource i.
func runDistinct(b *testing.B, call func(i int) bool) {
	b.ReportAllocs()
	var next, wrong atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1) - 1)
		if i >= nDistinct {
			b.Errorf("goroutine %d: only %d distinct resources", i, nDistinct)
			return
		}
		n := int64(0)
		for pb.Next() {
			if !call(i) {
				n++
			}
		}
		wrong.Add(n)
	})
	checkOutcome(b, wrong.Load(), true)
}

// BenchmarkDistinctResourcesParallel measures Entry+Exit under RunParallel
// with each goroutine on a resource of its own. Run with -cpu 1,2: ns/op at
// 1 divided by ns/op at 2 is the speed-up from a second core.
func BenchmarkDistinctResourcesParallel(b *testing.B) {
	b.Run("Flow/Sluice", func(b *testing.B) {
		runDistinct(b, func(i int) bool { return sluiceEntryExit(distinctRes[i]) })
	})
	b.Run("Flow/SentinelGo", func(b *testing.B) {
		runDistinct(b, func(i int) bool { return sentinelEntryExit(distinctRes[i]) })
	})
	b.Run("Flow/XTimeRate", func(b *testing.B) {
		runDistinct(b, func(i int) bool { return distinctLimiters[i].Allow() })
	})
}

// checkDistinctLoaded is TestPeersLoad's check of the distinct resources:
// each has its one flow rule in both libraries and passes entries.
func checkDistinctLoaded(t *testing.T) {
	t.Helper()
	perResource := map[string]int{}
	for _, r := range eng.Rules().Flow {
		perResource[r.Resource]++
	}
	for _, res := range distinctRes {
		if n := perResource[res]; n != 1 {
			t.Errorf("Sluice: %d flow rules on %q, want 1", n, res)
		}
		if n := len(sflow.GetRulesOfResource(res)); n != 1 {
			t.Errorf("Sentinel Go: %d flow rules on %q, want 1", n, res)
		}
		for i := 0; i < 100; i++ {
			if !sluiceEntryExit(res) {
				t.Fatalf("Sluice: %s: entry %d blocked", res, i)
			}
			if !sentinelEntryExit(res) {
				t.Fatalf("Sentinel Go: %s: entry %d blocked", res, i)
			}
		}
		if st, ok := eng.Stats(res); !ok || st.PassQPS == 0 {
			t.Errorf("Sluice: %q not counted: %+v", res, st)
		}
	}
}

// TestCallShapesPass checks that every call-shape case passes, in both
// shapes, and that Sluice's hotspot and system cases go through their rules
// (the hotspot rule tracks the value; inbound entries are counted).
func TestCallShapesPass(t *testing.T) {
	for shape, cases := range map[string][]shapeCase{"Closure": closureCases(), "MethodValue": methodValueCases()} {
		for _, c := range cases {
			for i := 0; i < 100; i++ {
				if !c.call() {
					t.Fatalf("%s/%s: entry %d blocked", shape, c.name, i)
				}
			}
		}
	}
	for _, e := range []*sluice.Engine{eng, coarseEng} {
		st, ok := e.Stats(resHotspotKnown)
		if !ok || len(st.Hotspots) != 1 || st.Hotspots[0].Tracked == 0 {
			t.Fatalf("Sluice: hotspot rule on %q not tracking the value: %+v", resHotspotKnown, st)
		}
		if st, _ := e.Stats(resFlow); len(st.CircuitBreakers) != 0 || st.PassQPS == 0 {
			t.Fatalf("Sluice: %q not counted: %+v", resFlow, st)
		}
	}
	if got, want := len(coarseEng.Rules().Flow), len(eng.Rules().Flow); got != want {
		t.Fatalf("coarse engine: %d flow rules, want %d", got, want)
	}
	if sys := eng.SystemStats(); sys.PassQPS == 0 {
		t.Fatalf("Sluice: inbound entries not counted: %+v", sys)
	}
	// A Do whose function fails returns that error in both.
	boom := errors.New("boom")
	if err := eng.Do(ctx, resFlow, func(context.Context) error { return boom }); err != boom {
		t.Fatalf("Sluice Do: %v, want boom", err)
	}
	if err := sentinelDo(resFlow, func() error { return boom }); err != boom {
		t.Fatalf("sentinelDo: %v, want boom", err)
	}
}
