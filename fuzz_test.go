package sluice_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

// FuzzEngine reads the fuzz input as a small program: a rule set within
// small bounds (isolation, flow Reject, WarmUp and Throttling, hotspot QPS
// and Concurrency, circuit breakers, system Concurrency and InboundQPS)
// and a sequence of operations on a manual clock (Entry with a batch
// count, an argument and a traffic type; Exit; SetError; Advance; a
// reload of the same rules; a second Exit). It runs the program on a
// fresh engine and checks, after every operation, what Sluice promises:
//
//   - no panic, and no fault inside Sluice (an entry passing unchecked,
//     logged at Error);
//   - isolation: a resource's entries in flight never exceed the smallest
//     threshold on it, and a system Concurrency rule holds the inbound
//     entries in flight to ⌊TriggerCount⌋;
//   - flow Reject (Direct or WarmUp): every StatInterval that starts on a
//     bucket edge (a tenth of StatInterval) holds at most Threshold passed
//     permits; a system InboundQPS rule holds every second of ten 100 ms
//     buckets to ⌊TriggerCount⌋ inbound entries;
//   - flow Throttling without queueing: an entry of n permits passes at
//     least n × StatInterval / Threshold after the one before it;
//   - hotspot: a value's entries in flight never exceed its threshold
//     under Concurrency; under QPS Reject, while the rule holds every
//     value seen (no eviction), the permits a value passes between two of
//     its passes at a and b are at most Threshold + BurstCount +
//     (b − a) × Threshold / Duration;
//   - circuit breakers: nothing passes an open breaker before RetryTimeout
//     has passed since it opened, and no more than ProbeNum probes of one
//     half-open period, none lost (in flight for RetryTimeout), are in
//     flight at once;
//   - Stats: Concurrency is exactly the entries in flight (so every Exit
//     releases, and after the last one it is 0, for each resource and for
//     the inbound statistics); the rates are finite, non-negative and
//     between the counts of the last ten and eleven 100 ms buckets;
//     AvgRT and MinRT lie within the response times of the exits counted.
func FuzzEngine(f *testing.F) {
	for _, seed := range fzEngineSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fzRun(t, data)
	})
}

// FuzzRulesJSON: no JSON text makes reading a sluice.Rules panic;
// json.Unmarshal and (*Rules).UnmarshalJSON agree; what they read marshals
// to JSON that reads back to the same rules (empty slices, which marshal
// as nothing, taken as nil), and loading it into an engine either works or
// fails with an error wrapping ErrInvalidRule.
func FuzzRulesJSON(f *testing.F) {
	for _, s := range []string{
		`{"flow":[{"resource":"GET /orders","threshold":100,"controlBehavior":"Throttling","maxQueueingTime":"500ms"}],` +
			`"isolation":[{"resource":"db","threshold":8}],` +
			`"circuitBreaker":[{"resource":"payments","strategy":"ErrorRatio","retryTimeout":"5s","threshold":0.5,"statInterval":"10s"}],` +
			`"hotspot":[{"resource":"GET /orders","paramKey":"user","threshold":5,"specificItems":[{"value":"vip","threshold":50},{"value":2.0,"threshold":1}]}],` +
			`"system":[{"metricType":"CPUUsage","triggerCount":0.8,"strategy":"BBR"}]}`,
		`{}`, `{"flow":[]}`, `{"flow":null}`, `{"Flow":[]}`, `{"flow":[],"flow":[]}`, `{"flow":[]}}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	norm := func(r *sluice.Rules) {
		for i := range r.Hotspot {
			if len(r.Hotspot[i].SpecificItems) == 0 {
				r.Hotspot[i].SpecificItems = nil
			}
		}
		if len(r.Flow) == 0 {
			r.Flow = nil
		}
		if len(r.Isolation) == 0 {
			r.Isolation = nil
		}
		if len(r.CircuitBreaker) == 0 {
			r.CircuitBreaker = nil
		}
		if len(r.Hotspot) == 0 {
			r.Hotspot = nil
		}
		if len(r.System) == 0 {
			r.System = nil
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v, direct sluice.Rules
		err, errDirect := json.Unmarshal(data, &v), direct.UnmarshalJSON(data)
		if (err == nil) != (errDirect == nil) {
			t.Fatalf("%q: json.Unmarshal says %v, UnmarshalJSON %v", data, err, errDirect)
		}
		if err != nil {
			return
		}
		norm(&v)
		norm(&direct)
		if !reflect.DeepEqual(v, direct) {
			t.Fatalf("%q: json.Unmarshal reads %#v, UnmarshalJSON %#v", data, v, direct)
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%q read as %#v, which does not marshal: %v", data, v, err)
		}
		var back sluice.Rules
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%q read as %#v, marshalled to %s, which does not read back: %v", data, v, out, err)
		}
		norm(&back)
		if !reflect.DeepEqual(v, back) {
			t.Fatalf("%q read as\n%#v\nmarshalled to %s, which reads back as\n%#v", data, v, out, back)
		}
		eng := sluice.New(sluice.WithClock(clock.NewManual(t0)), sluice.WithLogger(slog.New(fzLogHandler{&atomic.Int64{}})),
			sluice.WithSystemReaders(system.Readers{Load: fzReading(1), CPU: fzReading(0.5), Memory: fzReading(0.5)}))
		defer eng.Close()
		if err := eng.LoadRules(v); err != nil && !errors.Is(err, sluice.ErrInvalidRule) {
			t.Fatalf("loading %#v: %v, which does not wrap ErrInvalidRule", v, err)
		}
	})
}

// fzReading is a system reader that always reads its value.
type fzReading float64

func (v fzReading) Read() (float64, error) { return float64(v), nil }

// fzEngineSeeds are programs in FuzzEngine's encoding (see fzDecode and
// fzState.step): each family alone, then together, with traffic around
// bucket edges.
func fzEngineSeeds() [][]byte {
	// Rules, as fzDecode reads them.
	iso := func(res, th byte) []byte { return []byte{res | th<<1} }
	flw := func(res, throttling, th, iv byte, warm ...byte) []byte {
		b := []byte{res | throttling<<1 | byte(len(warm))<<2, th - 1, iv}
		return append(b, warm...) // period index | cold factor index<<2
	}
	hot := func(res, conc, throttling, th, burst, dur, capa, itemValue, itemTh byte) []byte {
		return []byte{res | conc<<1 | throttling<<2, th | burst<<4, dur | capa<<2, itemValue | itemTh<<4}
	}
	cb := func(res, strategy, probes, retry, minReq, win, th byte) []byte {
		return []byte{res | strategy<<1 | probes<<3, retry | minReq<<3, win, th}
	}
	sys := func(qps, trigger byte) []byte { return []byte{qps | trigger<<1} }
	// Operations, as fzState.step reads them.
	e := func(res, inb, batch, v byte) []byte { return []byte{0 | (res|inb<<1|batch<<2)<<3, v + 1} }
	x := func(i byte) []byte { return []byte{2 | i<<3} }
	fail := func(i byte) []byte { return []byte{3 | i<<3} }
	adv := func(i byte) []byte { return []byte{4 | i<<3} }
	reload, again := []byte{7}, []byte{6}
	prog := func(start, has byte, parts ...[]byte) []byte {
		b := []byte{start, has}
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	repeat := func(n int, ops ...[]byte) []byte {
		var b []byte
		for range n {
			for _, op := range ops {
				b = append(b, op...)
			}
		}
		return b
	}
	burst := repeat(6, e(0, 0, 0, 1))
	return [][]byte{
		// isolation threshold 2 on "a": three entries, exits, more.
		prog(0, fzHasIsolation, iso(0, 2), e(0, 0, 0, 0), e(0, 0, 0, 0), e(0, 0, 0, 0), x(0), e(0, 0, 0, 0), x(1), x(0), x(0)),
		// flow Reject, 5 per second: bursts just before and after edges.
		prog(0, fzHasFlow, flw(0, 0, 5, 0), burst, adv(13), burst, adv(2), burst, adv(7), burst, repeat(4, adv(9), burst)),
		// flow Reject, 10 per 100 ms, in batches, the clock off the edges.
		prog(77, fzHasFlow, flw(0, 0, 10, 1), e(0, 0, 3, 0), e(0, 0, 4, 0), e(0, 0, 5, 0), adv(6), e(0, 0, 5, 0), adv(3), e(0, 0, 5, 0)),
		// WarmUp Reject, 12 per second, cold factor 3, over 10 s.
		prog(0, fzHasFlow, flw(0, 0, 12, 0, 1|1<<2), repeat(30, burst, burst, adv(12))),
		// Throttling, 4 per second, and a batch.
		prog(0, fzHasFlow, flw(0, 1, 4, 0), burst, adv(11), burst, adv(12), burst, adv(5), e(0, 0, 4, 0)),
		// two flow rules on one resource, 100 ms and 1 s.
		prog(9, fzHasFlow|fzHasFlow2, flw(0, 0, 3, 1), flw(0, 0, 20, 0), repeat(12, burst, adv(6))),
		// hotspot QPS, 2 per second with a burst of 1; value 3 may pass 4.
		prog(0, fzHasHotspot, hot(0, 0, 0, 2, 1, 0, 0, 3, 4), repeat(4, e(0, 0, 0, 1), e(0, 0, 0, 2), e(0, 0, 0, 3), adv(10))),
		// hotspot Concurrency 1 with room for two values, three values.
		prog(0, fzHasHotspot, hot(0, 1, 0, 1, 0, 0, 1, 0, 0), e(0, 0, 0, 1), e(0, 0, 0, 1), e(0, 0, 0, 2), e(0, 0, 0, 3),
			e(0, 0, 0, 1), x(0), e(0, 0, 0, 1), e(0, 0, 0, 4), x(0), x(0)),
		// hotspot Throttling, 3 per 100 ms.
		prog(0, fzHasHotspot, hot(0, 0, 1, 3, 0, 1, 0, 0, 0), repeat(5, e(0, 0, 0, 1), e(0, 0, 0, 1), adv(8))),
		// ErrorCount breaker, 1 error, retry 100 ms: fail, wait, probe, fail again.
		prog(0, fzHasBreaker, cb(0, 2, 0, 0, 0, 0, 0), e(0, 0, 0, 0), fail(0), x(0), e(0, 0, 0, 0), adv(6), e(0, 0, 0, 0),
			adv(9), e(0, 0, 0, 0), e(0, 0, 0, 0), x(0), e(0, 0, 0, 0), fail(0), x(0), adv(10), e(0, 0, 0, 0), x(0)),
		// slow-ratio breaker (10 ms), two probes, retry 1 s; a probe lost past RetryTimeout.
		prog(0, fzHasBreaker, cb(0, 0, 2, 2, 0, 0, 0), e(0, 0, 0, 0), adv(8), x(0), adv(15), e(0, 0, 0, 0), e(0, 0, 0, 0),
			e(0, 0, 0, 0), adv(3), x(1), adv(15), e(0, 0, 0, 0), x(0), e(0, 0, 0, 0), x(0), x(0)),
		// error-ratio breakers on both resources, at least 2 calls.
		prog(0, fzHasBreaker|fzHasBreaker2, cb(0, 1, 1, 4, 2, 1, 0), cb(1, 1, 0, 1, 0, 2, 1),
			repeat(6, e(0, 0, 0, 0), e(1, 0, 0, 0), fail(1), x(0), x(0), adv(5))),
		// system Concurrency 2 and inbound traffic on both resources.
		prog(0, fzHasSystem, sys(0, 2), e(0, 1, 0, 0), e(1, 1, 0, 0), e(0, 1, 0, 0), e(0, 0, 0, 0), x(0), e(1, 1, 0, 0)),
		// system InboundQPS 3.
		prog(5, fzHasSystem, sys(1, 3), repeat(3, e(0, 1, 0, 0), e(1, 1, 0, 0), adv(8), e(1, 1, 0, 0), e(0, 1, 0, 0), adv(9))),
		// everything at once, with reloads and second exits.
		prog(3, 0xff, iso(0, 3), flw(0, 0, 4, 0), flw(1, 1, 2, 0), hot(1, 0, 0, 2, 1, 0, 1, 2, 2), cb(0, 2, 0, 1, 1, 0, 0),
			sys(0, 6), cb(1, 0, 1, 0, 0, 0, 1), iso(1, 1),
			repeat(8, e(0, 1, 0, 1), e(1, 0, 1, 2), fail(0), reload, x(0), again, adv(9), e(0, 0, 0, 3))),
	}
}

// The rule families a program's second byte asks for.
const (
	fzHasIsolation = 1 << iota
	fzHasFlow
	fzHasHotspot
	fzHasBreaker
	fzHasSystem
	fzHasFlow2
	fzHasBreaker2
	fzHasIsolation2
)

var fzResources = [2]string{"a", "b"}

var (
	fzIntervals = [...]time.Duration{0, 100 * time.Millisecond, 10 * time.Millisecond, 2 * time.Second,
		550 * time.Millisecond, time.Millisecond, 1230 * time.Microsecond, 3 * time.Second}
	fzWarmPeriods   = [...]time.Duration{time.Second, 10 * time.Second, 3 * time.Second, 100 * time.Millisecond}
	fzColdFactors   = [...]float64{0, 3, 2, 4.5}
	fzHotDurations  = [...]time.Duration{0, 100 * time.Millisecond, 10 * time.Millisecond, 3 * time.Second}
	fzCapacities    = [...]int{0, 2, 3, 4}
	fzRetryTimeouts = [...]time.Duration{100 * time.Millisecond, time.Millisecond, time.Second, 5 * time.Second,
		10 * time.Millisecond, 450 * time.Millisecond, 3 * time.Second, 20 * time.Millisecond}
	fzBreakerWindows = [...]struct {
		interval time.Duration
		buckets  int
	}{{0, 0}, {100 * time.Millisecond, 1}, {time.Second, 5}, {10 * time.Second, 0}}
	fzMaxRTs  = [...]time.Duration{10 * time.Millisecond, time.Millisecond, 100 * time.Millisecond, time.Second}
	fzRatios  = [...]float64{0.5, 0.1, 1, 0.75}
	fzBatches = [...]int64{1, 1, 1, 2, 3, 5, 0, 1 << 21}
	fzSteps   = [...]time.Duration{1, time.Microsecond, time.Millisecond, 5 * time.Millisecond,
		9 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond, 99 * time.Millisecond,
		100*time.Millisecond - 1, 100 * time.Millisecond, 100*time.Millisecond + 1, 250 * time.Millisecond,
		500 * time.Millisecond, 900 * time.Millisecond, 999 * time.Millisecond, time.Second,
		1500 * time.Millisecond, 2 * time.Second, 5 * time.Second, 10 * time.Second, time.Minute, time.Hour,
		30 * time.Millisecond, 45 * time.Millisecond, 1230 * time.Microsecond, 7 * time.Millisecond,
		333 * time.Millisecond, 1001 * time.Millisecond, 123456789, 20 * time.Millisecond, 3 * time.Second, 24 * time.Hour}
)

// fzReader hands out the program's bytes, then zeros.
type fzReader struct {
	b []byte
	i int
}

func (r *fzReader) next() byte {
	if r.i >= len(r.b) {
		r.i++
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *fzReader) done() bool { return r.i >= len(r.b) }

// fzDecode reads the start offset and the rules of a program.
func fzDecode(r *fzReader) (start time.Time, rules sluice.Rules) {
	start = t0.Add(time.Duration(r.next()) * 4_999_997)
	has := r.next()
	if has&fzHasIsolation != 0 {
		b := r.next()
		rules.Isolation = append(rules.Isolation, isolation.Rule{Resource: fzResources[b&1], Threshold: int64(b>>1) % 5})
	}
	for _, bit := range []byte{fzHasFlow, fzHasFlow2} {
		if has&bit == 0 {
			continue
		}
		b, th, iv := r.next(), r.next(), r.next()
		fr := flow.Rule{Resource: fzResources[b&1], Threshold: float64(1 + th%20), StatInterval: fzIntervals[iv%8]}
		if b>>1&1 == 1 {
			fr.ControlBehavior = flow.Throttling
		}
		if b>>2&1 == 1 {
			w := r.next()
			fr.Strategy, fr.WarmUpPeriod, fr.WarmUpColdFactor = flow.WarmUp, fzWarmPeriods[w%4], fzColdFactors[w>>2%4]
		}
		rules.Flow = append(rules.Flow, fr)
	}
	if has&fzHasHotspot != 0 {
		b, th, dc, it := r.next(), r.next(), r.next(), r.next()
		hr := hotspot.Rule{Resource: fzResources[b&1], Threshold: float64(th & 15 % 6), Duration: fzHotDurations[dc%4],
			ParamsMaxCapacity: fzCapacities[dc>>2%4]}
		if b>>1&1 == 1 {
			hr.MetricType = hotspot.Concurrency
			hr.Duration = 0
		} else if b>>2&1 == 1 {
			hr.ControlBehavior = hotspot.Throttling
		} else {
			hr.BurstCount = float64(th >> 4 % 4)
		}
		if it&7 != 0 {
			hr.SpecificItems = []hotspot.SpecificItem{{Value: int64(it & 7), Threshold: float64(it >> 4 % 6)}}
		}
		rules.Hotspot = append(rules.Hotspot, hr)
	}
	for _, bit := range []byte{fzHasBreaker, fzHasBreaker2} {
		if has&bit == 0 {
			continue
		}
		b, rt, w, th := r.next(), r.next(), r.next(), r.next()
		cr := circuitbreaker.Rule{Resource: fzResources[b&1], Strategy: circuitbreaker.Strategy(b >> 1 & 3 % 3),
			ProbeNum: int64(b >> 3 % 4), RetryTimeout: fzRetryTimeouts[rt%8], MinRequestAmount: int64(rt >> 3 % 4),
			StatInterval: fzBreakerWindows[w%4].interval, StatBuckets: fzBreakerWindows[w%4].buckets}
		switch cr.Strategy {
		case circuitbreaker.ErrorCount:
			cr.Threshold = float64(1 + th%3)
		case circuitbreaker.SlowRequestRatio:
			cr.MaxAllowedRT = fzMaxRTs[th>>2%4]
			fallthrough
		default:
			cr.Threshold = fzRatios[th%4]
		}
		rules.CircuitBreaker = append(rules.CircuitBreaker, cr)
	}
	if has&fzHasSystem != 0 {
		b := r.next()
		sr := system.Rule{MetricType: system.Concurrency, TriggerCount: float64(b>>1&15%12) + float64(b>>5&1)*0.5}
		if b&1 == 1 {
			sr.MetricType = system.InboundQPS
		}
		rules.System = append(rules.System, sr)
	}
	if has&fzHasIsolation2 != 0 {
		b := r.next()
		rules.Isolation = append(rules.Isolation, isolation.Rule{Resource: fzResources[b&1], Threshold: int64(b>>1) % 5})
	}
	return start, rules
}

// fzPermit is an entry that passed.
type fzPermit struct {
	p        sluice.Permit
	res      int
	inbound  bool
	batch    int64
	value    int // -1: no argument
	at       int64
	failed   bool
	probes   []int // per breaker on the resource: the half-open period it probes, or -1
	exited   bool
	exitedAt int64
}

// fzEvent is a count at a time, for the window oracles.
type fzEvent struct {
	at, n int64
}

// fzBreaker is what the oracle knows of one breaker.
type fzBreaker struct {
	rule     circuitbreaker.Rule
	state    circuitbreaker.State
	openedAt int64
	period   int // half-open periods begun
}

// fzState is the oracle's model of one program run.
type fzState struct {
	t        *testing.T
	eng      *sluice.Engine
	clk      *clock.Manual
	rules    sluice.Rules
	faults   *atomic.Int64
	live     []*fzPermit
	exited   []*fzPermit
	passes   [2][]*fzPermit // every pass per resource
	blocks   [2][]fzEvent
	exits    [2][]*fzPermit
	inbound  []*fzPermit // inbound passes
	breakers [2][]*fzBreaker
	values   map[int]map[int]bool // hotspot rule index -> values seen
	ops      []string             // what ran, for failure messages
}

// fzLogHandler counts records at level Error: the engine logs a fault
// inside Sluice there.
type fzLogHandler struct{ n *atomic.Int64 }

func (h fzLogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h fzLogHandler) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h fzLogHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h fzLogHandler) WithGroup(string) slog.Handler                { return h }

var errFz = errors.New("fuzz: the guarded call failed")

func fzRun(t *testing.T, data []byte) {
	r := &fzReader{b: data}
	start, rules := fzDecode(r)
	for _, fr := range rules.Flow {
		if fr.Validate() != nil {
			return // a WarmUp rule whose cold rate is under 1: invalid by design
		}
	}
	faults := &atomic.Int64{}
	clk := clock.NewManual(start)
	eng := sluice.New(sluice.WithClock(clk), sluice.WithLogger(slog.New(fzLogHandler{faults})))
	defer eng.Close()
	if err := eng.LoadRules(rules); err != nil {
		t.Fatalf("rules within the program's bounds do not load: %v\n%+v", err, rules)
	}
	s := &fzState{t: t, eng: eng, clk: clk, rules: rules, faults: faults, values: map[int]map[int]bool{}}
	for res := range fzResources {
		for _, cr := range rules.CircuitBreaker {
			if cr.Resource == fzResources[res] {
				s.breakers[res] = append(s.breakers[res], &fzBreaker{rule: cr})
			}
		}
	}
	for n := 0; n < 400 && !r.done(); n++ {
		s.step(r)
		s.checkStats()
	}
	if os.Getenv("FZDEBUG") != "" {
		states := ""
		for _, bs := range s.breakers {
			for _, b := range bs {
				states += fmt.Sprintf(" %v/periods %d", b.state, b.period)
			}
		}
		t.Logf("passes %d %d blocks %d %d breakers%s", len(s.passes[0]), len(s.passes[1]), len(s.blocks[0]), len(s.blocks[1]), states)
	}
	for len(s.live) > 0 {
		s.exit(0)
		s.checkStats()
	}
	for res, name := range fzResources {
		if st, ok := eng.Stats(name); ok && st.Concurrency != 0 {
			s.fail("after every Exit, %s has Concurrency %d", fzResources[res], st.Concurrency)
		}
	}
	if c := eng.SystemStats().Concurrency; c != 0 {
		s.fail("after every Exit, the inbound Concurrency is %d", c)
	}
}

func (s *fzState) fail(format string, args ...any) {
	s.t.Helper()
	ops := s.ops
	if len(ops) > 60 {
		ops = append([]string{"…"}, ops[len(ops)-60:]...)
	}
	s.t.Fatalf("%s\nrules: %+v\nops:\n  %s", fmt.Sprintf(format, args...), s.rules, strings.Join(ops, "\n  "))
}

func (s *fzState) now() int64 { return s.clk.Nanos() }

func (s *fzState) step(r *fzReader) {
	op := r.next()
	arg := int(op >> 3)
	switch op & 7 {
	case 0, 1:
		s.entry(arg&1, arg>>1&1 == 1, fzBatches[arg>>2&7], int(r.next()%7)-1)
	case 2:
		if len(s.live) > 0 {
			s.exit(arg % len(s.live))
		}
	case 3:
		if len(s.live) > 0 {
			p := s.live[arg%len(s.live)]
			err := errFz
			if arg >= 16 {
				err = context.Canceled // not a failure for the default classifier
			}
			p.p.SetError(err)
			p.failed = err == errFz // the last error set is the outcome
			s.ops = append(s.ops, fmt.Sprintf("SetError(permit at %d, %v)", p.at, err))
		}
	case 4, 5:
		d := fzSteps[arg]
		s.clk.Advance(d)
		s.ops = append(s.ops, fmt.Sprintf("Advance(%v) -> %d", d, s.now()))
	case 6:
		if len(s.exited) > 0 { // a second Exit, and SetError after Exit, do nothing
			p := s.exited[arg%len(s.exited)]
			p.p.SetError(errFz)
			p.p.Exit()
			s.ops = append(s.ops, fmt.Sprintf("Exit again (permit at %d)", p.at))
		}
	case 7:
		if err := s.eng.LoadRules(s.rules); err != nil {
			s.fail("reloading the same rules: %v", err)
		}
		s.ops = append(s.ops, "LoadRules(same rules)")
	}
}

func (s *fzState) entry(res int, inbound bool, batch int64, value int) {
	name := fzResources[res]
	opts := []sluice.EntryOption{sluice.WithBatchCount(batch)}
	if inbound {
		opts = append(opts, sluice.WithTrafficType(sluice.Inbound))
	}
	if value >= 0 {
		opts = append(opts, sluice.WithArgs(value))
	}
	before := s.faults.Load()
	now := s.now()
	p, err := s.eng.Entry(context.Background(), name, opts...)
	batch = min(max(batch, 1), sluice.MaxBatchCount)
	s.ops = append(s.ops, fmt.Sprintf("Entry(%s, batch %d, value %d, inbound %v) at %d: %v", name, batch, value, inbound, now, err))
	if s.faults.Load() != before {
		s.fail("a fault inside Sluice was logged at Error")
	}
	for i, hr := range s.rules.Hotspot {
		if hr.Resource == name && value >= 0 {
			if s.values[i] == nil {
				s.values[i] = map[int]bool{}
			}
			s.values[i][value] = true
		}
	}
	if err != nil {
		if !errors.Is(err, sluice.ErrBlocked) || p != (sluice.Permit{}) {
			s.fail("Entry returned %v and permit %v: want a block and no permit", err, p)
		}
		s.blocks[res] = append(s.blocks[res], fzEvent{now, batch})
		s.observeBreakers(res, nil)
		return
	}
	if p.Resource() != name {
		s.fail("the permit's resource is %q, want %q (passed unchecked?)", p.Resource(), name)
	}
	fp := &fzPermit{p: p, res: res, inbound: inbound, batch: batch, value: value, at: now}
	s.live = append(s.live, fp)
	s.passes[res] = append(s.passes[res], fp)
	if inbound {
		s.inbound = append(s.inbound, fp)
	}
	s.observeBreakers(res, fp)
	s.checkIsolation(res)
	s.checkFlow(res, fp)
	s.checkHotspot(res, fp)
	s.checkSystem()
}

func (s *fzState) exit(i int) {
	p := s.live[i]
	s.live = append(s.live[:i], s.live[i+1:]...)
	before := s.faults.Load()
	p.p.Exit()
	if s.faults.Load() != before {
		s.fail("a fault inside Sluice was logged at Error in Exit")
	}
	p.exited, p.exitedAt = true, s.now()
	s.exited = append(s.exited, p)
	s.exits[p.res] = append(s.exits[p.res], p)
	s.ops = append(s.ops, fmt.Sprintf("Exit(permit at %d on %s, failed %v) at %d", p.at, fzResources[p.res], p.failed, s.now()))
	s.observeBreakers(p.res, nil)
}

// observeBreakers reads the states of the breakers on resource res after
// an operation, and checks what an entry that passed (p, or nil) could
// pass: an open breaker before RetryTimeout, or a probe too many.
func (s *fzState) observeBreakers(res int, p *fzPermit) {
	if len(s.breakers[res]) == 0 {
		return
	}
	st, _ := s.eng.Stats(fzResources[res])
	if len(st.CircuitBreakers) != len(s.breakers[res]) {
		s.fail("Stats shows %d breakers on %s, want %d", len(st.CircuitBreakers), fzResources[res], len(s.breakers[res]))
	}
	now := s.now()
	if p != nil {
		p.probes = make([]int, len(s.breakers[res]))
	}
	for i, b := range s.breakers[res] {
		was, is := b.state, st.CircuitBreakers[i].State
		if p != nil {
			p.probes[i] = -1
			if was == circuitbreaker.Open && now-b.openedAt < int64(b.rule.RetryTimeout) {
				s.fail("an entry passed breaker %d, open since %d, %v before its RetryTimeout %v ended",
					i, b.openedAt, time.Duration(b.openedAt+int64(b.rule.RetryTimeout)-now), b.rule.RetryTimeout)
			}
		}
		if is == circuitbreaker.Open && was != circuitbreaker.Open {
			b.openedAt = now
		}
		if is == circuitbreaker.HalfOpen && was != circuitbreaker.HalfOpen {
			b.period++
		}
		b.state = is
		if p != nil && is == circuitbreaker.HalfOpen {
			p.probes[i] = b.period
			probes := 0
			for _, q := range s.live {
				if q.res == res && q.probes != nil && q.probes[i] == b.period && now-q.at < int64(b.rule.RetryTimeout) {
					probes++
				}
			}
			if limit := max(b.rule.ProbeNum, 1); int64(probes) > limit {
				s.fail("%d probes of one half-open period in flight on breaker %d, ProbeNum %d", probes, i, b.rule.ProbeNum)
			}
		}
	}
}

func (s *fzState) inFlight(res int) int64 {
	n := int64(0)
	for _, p := range s.live {
		if p.res == res {
			n++
		}
	}
	return n
}

func (s *fzState) checkIsolation(res int) {
	limit := int64(math.MaxInt64)
	for _, ir := range s.rules.Isolation {
		if ir.Resource == fzResources[res] {
			limit = min(limit, ir.Threshold)
		}
	}
	if n := s.inFlight(res); n > limit {
		s.fail("%d entries in flight on %s under an isolation threshold of %d", n, fzResources[res], limit)
	}
}

// windowMax returns the most permits of evs in one window of length
// interval that starts on an edge (a multiple of bucket) and holds at.
func windowMax(evs []fzEvent, at, interval, bucket int64) (most, from int64) {
	for from = at - at%bucket; from > at-interval; from -= bucket {
		n := int64(0)
		for _, e := range evs {
			if e.at >= from && e.at < from+interval {
				n += e.n
			}
		}
		if n > most {
			most = n
		}
	}
	return most, from
}

func (s *fzState) checkFlow(res int, p *fzPermit) {
	for _, fr := range s.rules.Flow {
		if fr.Resource != fzResources[res] {
			continue
		}
		interval := int64(fr.Interval())
		var evs []fzEvent
		for _, q := range s.passes[res] {
			evs = append(evs, fzEvent{q.at, q.batch})
		}
		if fr.ControlBehavior == flow.Reject {
			if most, _ := windowMax(evs, p.at, interval, interval/10); float64(most) > fr.Threshold {
				s.fail("%d permits passed in one StatInterval starting on a bucket edge under %v", most, fr)
			}
			continue
		}
		if fr.Strategy != flow.Direct || len(evs) < 2 {
			continue
		}
		prev := s.passes[res][len(s.passes[res])-2]
		spacing := float64(prev.batch) * float64(interval) / fr.Threshold
		if gap := float64(p.at - prev.at); gap < spacing-1 {
			s.fail("Throttling passed an entry %v after one of %d permits, spacing %v", time.Duration(gap), prev.batch, time.Duration(spacing))
		}
	}
}

func (s *fzState) checkHotspot(res int, p *fzPermit) {
	if p.value < 0 {
		return
	}
	for i, hr := range s.rules.Hotspot {
		if hr.Resource != fzResources[res] {
			continue
		}
		threshold := hr.Threshold
		for _, it := range hr.SpecificItems {
			if it.Value == int64(p.value) {
				threshold = it.Threshold
			}
		}
		var same []*fzPermit
		for _, q := range s.passes[res] {
			if q.value == p.value {
				same = append(same, q)
			}
		}
		if hr.MetricType == hotspot.Concurrency {
			n := 0
			for _, q := range same {
				if !q.exited {
					n++
				}
			}
			if float64(n) > threshold {
				s.fail("%d entries with value %d in flight under a hotspot Concurrency threshold of %v", n, p.value, threshold)
			}
			continue
		}
		if hr.ControlBehavior != hotspot.Reject || len(s.values[i]) > hr.Capacity() {
			continue // a forgotten value starts afresh, with a full bucket
		}
		rate := threshold / float64(hr.Window())
		for a := range same {
			n := int64(0)
			for _, q := range same[a:] {
				n += q.batch
			}
			span := float64(p.at - same[a].at)
			if bound := threshold + hr.BurstCount + span*rate; float64(n) > bound+1e-6 {
				s.fail("value %d passed %d permits in %v under hotspot threshold %v, burst %v per %v (at most %.3f)",
					p.value, n, time.Duration(span), threshold, hr.BurstCount, hr.Window(), bound)
			}
		}
	}
}

func (s *fzState) checkSystem() {
	for _, sr := range s.rules.System {
		limit := int64(math.Floor(sr.TriggerCount))
		switch sr.MetricType {
		case system.Concurrency:
			n := int64(0)
			for _, p := range s.live {
				if p.inbound {
					n++
				}
			}
			if n > limit {
				s.fail("%d inbound entries in flight under a system Concurrency trigger of %v", n, sr.TriggerCount)
			}
		case system.InboundQPS:
			if len(s.inbound) == 0 {
				continue
			}
			var evs []fzEvent
			for _, p := range s.inbound {
				evs = append(evs, fzEvent{p.at, 1})
			}
			last := s.inbound[len(s.inbound)-1].at
			if most, from := windowMax(evs, last, int64(time.Second), int64(100*time.Millisecond)); most > limit {
				s.fail("%d inbound entries passed in the second from %d under a system InboundQPS trigger of %v", most, from, sr.TriggerCount)
			}
		}
	}
}

// rateBounds returns the counts of evs in the ten and eleven 100 ms
// buckets ending with the one that holds now, per second.
func rateBounds(evs []fzEvent, now int64) (lo, hi float64) {
	const bucket = int64(100 * time.Millisecond)
	edge := now - now%bucket
	for _, e := range evs {
		if e.at > now {
			continue
		}
		if e.at >= edge-9*bucket {
			lo += float64(e.n)
		}
		if e.at >= edge-10*bucket {
			hi += float64(e.n)
		}
	}
	return lo, hi
}

func (s *fzState) checkStats() {
	now := s.now()
	for res, name := range fzResources {
		st, ok := s.eng.Stats(name)
		if !ok {
			continue
		}
		if n := s.inFlight(res); st.Concurrency != n {
			s.fail("Stats(%s).Concurrency = %d, want %d (the entries in flight)", name, st.Concurrency, n)
		}
		var passes, completes, errs []fzEvent
		minRT, maxRT := int64(math.MaxInt64), int64(-1)
		for _, p := range s.passes[res] {
			passes = append(passes, fzEvent{p.at, p.batch})
		}
		for _, p := range s.exits[res] {
			completes = append(completes, fzEvent{p.exitedAt, p.batch})
			if p.failed {
				errs = append(errs, fzEvent{p.exitedAt, p.batch})
			}
			if p.exitedAt >= now-now%int64(100*time.Millisecond)-10*int64(100*time.Millisecond) {
				minRT, maxRT = min(minRT, p.exitedAt-p.at), max(maxRT, p.exitedAt-p.at)
				if float64(p.exitedAt-p.at)*float64(p.batch) > 1<<61 { // TEMP MASK rtsum
					maxRT = math.MaxInt64 - 10
				}
			}
		}
		for _, c := range []struct {
			what string
			got  float64
			evs  []fzEvent
		}{{"PassQPS", st.PassQPS, passes}, {"BlockQPS", st.BlockQPS, s.blocks[res]},
			{"CompleteQPS", st.CompleteQPS, completes}, {"ErrorQPS", st.ErrorQPS, errs}} {
			lo, hi := rateBounds(c.evs, now)
			if math.IsNaN(c.got) || c.got < lo*(1-1e-9)-1e-9 || c.got > hi*(1+1e-9)+1e-9 {
				s.fail("Stats(%s).%s = %v at %d, want between %v and %v", name, c.what, c.got, now, lo, hi)
			}
		}
		if (st.AvgRT < 0 && maxRT < math.MaxInt64-10) || st.MinRT < 0 || st.CompleteQPS == 0 && (st.AvgRT != 0 || st.MinRT != 0) {
			s.fail("Stats(%s): AvgRT %v, MinRT %v with CompleteQPS %v", name, st.AvgRT, st.MinRT, st.CompleteQPS)
		}
		if st.CompleteQPS > 0 && (int64(st.MinRT) < minRT || int64(st.MinRT) > maxRT ||
			((int64(st.AvgRT) < int64(st.MinRT)-2 && maxRT < math.MaxInt64-10) && minRT > 0) || int64(st.AvgRT) > maxRT+2) { // TEMP MASK minRT
			s.fail("Stats(%s): AvgRT %v, MinRT %v outside the response times [%v, %v] of the exits counted",
				name, st.AvgRT, st.MinRT, time.Duration(minRT), time.Duration(maxRT))
		}
	}
	sys := s.eng.SystemStats()
	n := int64(0)
	for _, p := range s.live {
		if p.inbound {
			n++
		}
	}
	if sys.Concurrency != n {
		s.fail("SystemStats().Concurrency = %d, want %d (the inbound entries in flight)", sys.Concurrency, n)
	}
	for _, v := range []float64{sys.PassQPS, sys.BlockQPS, sys.CompleteQPS, sys.ErrorQPS, sys.BBRLimit} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			s.fail("SystemStats() = %+v: a rate is negative or not finite", sys)
		}
	}
	if sys.AvgRT < 0 || sys.MinRT < 0 {
		s.fail("SystemStats() = %+v: a negative response time", sys)
	}
}
