package hotspot

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice-go/sluice/core/base"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = int64(1_700_000_000) * int64(time.Second)

const ms = int64(time.Millisecond)

func key(t *testing.T, v any) Key {
	t.Helper()
	k, ok := KeyOf(v)
	if !ok {
		t.Fatalf("KeyOf(%v) not ok", v)
	}
	return k
}

func newLimiter(t *testing.T, r Rule) *Limiter {
	t.Helper()
	r.Resource = "r"
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return NewLimiter(r)
}

func acquire(l *Limiter, now int64, k Key, n int) int {
	passed := 0
	for i := 0; i < n; i++ {
		if _, _, ok := l.Acquire(now, k, 1); ok {
			passed++
		}
	}
	return passed
}

func TestKeyKinds(t *testing.T) {
	if key(t, 7) != key(t, int64(7)) || key(t, uint8(7)) != key(t, int32(7)) {
		t.Fatal("integer types of one value must be one key")
	}
	if key(t, 7) == key(t, 7.0) || key(t, "7") == key(t, 7) || key(t, true) == key(t, 1) {
		t.Fatal("kinds must stay apart")
	}
	if key(t, float32(0.5)) != key(t, 0.5) || key(t, 0.0) != key(t, -0.0*1) {
		t.Fatal("float kinds")
	}
	for _, v := range []any{nil, []int{1}, map[string]int{}, func() {}, struct{ s []int }{}} {
		if _, ok := KeyOf(v); ok {
			t.Errorf("KeyOf(%T) should not be countable", v)
		}
	}
	type point struct{ x, y int }
	if key(t, point{1, 2}) != key(t, point{1, 2}) || key(t, point{1, 2}).Value() != (point{1, 2}) {
		t.Fatal("other comparable values")
	}
	if key(t, uint64(1<<63)).Value() != uint64(1<<63) || key(t, int8(-3)).Value() != int64(-3) {
		t.Fatal("Value")
	}
}

func TestQPSRejectPerValueWithBurst(t *testing.T) {
	l := newLimiter(t, Rule{Threshold: 5, BurstCount: 2})
	a, b := key(t, "alice"), key(t, "bob")
	for i := 0; i < 7; i++ {
		if _, w, ok := l.Acquire(t0, a, 1); !ok || w != 0 {
			t.Fatalf("Reject entry %d: ok=%v wait=%v; Reject never waits", i, ok, w)
		}
	}
	if got := acquire(l, t0, a, 20); got != 0 {
		t.Fatalf("alice: %d passed at one instant, want 5 + burst 2", got)
	}
	if got := acquire(l, t0, b, 20); got != 7 {
		t.Fatalf("bob has his own bucket: %d passed, want 7", got)
	}
	// Refill: 5 per second, one every 200 ms.
	if got := acquire(l, t0+200*ms, a, 20); got != 1 {
		t.Fatalf("after 200 ms %d passed, want 1", got)
	}
	if got := acquire(l, t0+10*int64(time.Second), a, 20); got != 7 {
		t.Fatalf("after a long idle %d passed, want a full bucket of 7", got)
	}
}

func TestQPSRejectIsExactUnderContention(t *testing.T) {
	l := newLimiter(t, Rule{Threshold: 100})
	k := key(t, 42)
	var passed atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			passed.Add(int64(acquire(l, t0, k, 200)))
		}()
	}
	wg.Wait()
	if passed.Load() != 100 {
		t.Fatalf("%d passed at one instant from 8 goroutines, want exactly 100", passed.Load())
	}
}

func TestSpecificItems(t *testing.T) {
	l := newLimiter(t, Rule{Threshold: 2, SpecificItems: []SpecificItem{{Value: "vip", Threshold: 10}, {Value: 7, Threshold: 0}}})
	if got := acquire(l, t0, key(t, "vip"), 50); got != 10 {
		t.Fatalf("vip: %d, want 10", got)
	}
	if got := acquire(l, t0, key(t, uint16(7)), 50); got != 0 {
		t.Fatalf("7: %d, want 0", got)
	}
	if got := acquire(l, t0, key(t, 7.0), 50); got != 2 {
		t.Fatalf("7.0 is not the integer 7: %d, want the default 2", got)
	}
}

func TestThrottlingSpacesEachValue(t *testing.T) {
	l := newLimiter(t, Rule{Threshold: 10, ControlBehavior: Throttling, MaxQueueingTime: 250 * time.Millisecond})
	k := key(t, "u")
	var waits []time.Duration
	for i := 0; i < 5; i++ {
		if _, w, ok := l.Acquire(t0, k, 1); ok {
			waits = append(waits, w)
		}
	}
	if fmt.Sprint(waits) != "[0s 100ms 200ms]" {
		t.Fatalf("waits %v, want [0s 100ms 200ms] then blocks", waits)
	}
	if _, w, ok := l.Acquire(t0, key(t, "other"), 1); !ok || w != 0 {
		t.Fatal("another value waits behind u")
	}
	tok, _, _ := l.Acquire(t0+300*ms, k, 1) // the queue end is at 300 ms: no wait
	l.Cancel(tok)
	if _, w, _ := l.Acquire(t0+300*ms, k, 1); w != 0 {
		t.Fatalf("a cancelled tail slot was not given back: wait %v", w)
	}
}

func TestConcurrencyIsExactAndReleased(t *testing.T) {
	l := newLimiter(t, Rule{MetricType: Concurrency, Threshold: 3})
	k := key(t, "tenant")
	var inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				tok, _, ok := l.Acquire(t0, k, 1)
				if !ok {
					continue
				}
				n := inFlight.Add(1)
				for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
				}
				inFlight.Add(-1)
				l.Release(tok)
			}
		}()
	}
	wg.Wait()
	if peak.Load() > 3 || peak.Load() == 0 {
		t.Fatalf("peak in flight %d, want 1..3", peak.Load())
	}
	if got := acquire(l, t0, k, 10); got != 3 {
		t.Fatalf("after all released %d could enter, want 3", got)
	}
}

// TestEvictionKeepsInFlightCounts fills a tiny cache far past its capacity
// while a value has entries in flight: the value must come back with its
// count, not a fresh one.
func TestEvictionKeepsInFlightCounts(t *testing.T) {
	l := newLimiter(t, Rule{MetricType: Concurrency, Threshold: 2, ParamsMaxCapacity: 4})
	busy := key(t, "busy")
	t1, _, _ := l.Acquire(t0, busy, 1)
	t2, _, _ := l.Acquire(t0, busy, 1)
	for i := 0; i < 100; i++ {
		acquire(l, t0, key(t, i), 1) // pushes "busy" out of the cache
	}
	if l.Tracked() > 4 {
		t.Fatalf("%d values tracked, capacity 4", l.Tracked())
	}
	if _, _, ok := l.Acquire(t0, busy, 1); ok {
		t.Fatal("evicted while 2 in flight, the value came back with a fresh count")
	}
	l.Release(t1)
	l.Release(t2)
	if got := acquire(l, t0, busy, 5); got != 2 {
		t.Fatalf("after releases %d entered, want 2", got)
	}
}

func TestScanResistance(t *testing.T) {
	l := newLimiter(t, Rule{Threshold: 1e9, ParamsMaxCapacity: 1000})
	hot := make([]Key, 100)
	for i := range hot {
		hot[i] = key(t, fmt.Sprint("hot-", i))
		acquire(l, t0, hot[i], 2) // seen twice: frequent
	}
	for i := 0; i < 100000; i++ {
		acquire(l, t0, key(t, i), 1) // a scan of one-off values
	}
	sh := &l.shards[0]
	for _, k := range hot {
		if _, ok := sh.cache.Peek(k); !ok {
			t.Fatalf("hot value %v was evicted by a scan", k.Value())
		}
	}
}

func TestAcquireDoesNotAllocate(t *testing.T) {
	for _, r := range []Rule{{Threshold: 1e9}, {MetricType: Concurrency, Threshold: 1e9},
		{Threshold: 1e9, ControlBehavior: Throttling, MaxQueueingTime: time.Second}} {
		l := newLimiter(t, r)
		k, i := key(t, "user-1"), key(t, 123456)
		now := t0
		l.Acquire(now, k, 1)
		l.Acquire(now, k, 1) // promoted to the frequent queue
		l.Acquire(now, i, 1)
		l.Acquire(now, i, 1)
		if a := testing.AllocsPerRun(1000, func() {
			now += ms
			t1, _, _ := l.Acquire(now, k, 1)
			t2, _, _ := l.Acquire(now, i, 1)
			l.Release(t1)
			l.Cancel(t2)
		}); a != 0 {
			t.Errorf("%v/%v: %v allocs per acquire", r.MetricType, r.ControlBehavior, a)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Rule{Resource: "r", Threshold: 5}
	with := func(f func(*Rule)) Rule { r := ok; f(&r); return r }
	for _, tc := range []struct {
		rule  Rule
		field string
	}{
		{with(func(r *Rule) { r.Resource = "" }), "Resource"},
		{with(func(r *Rule) { r.MetricType = 5 }), "MetricType"},
		{with(func(r *Rule) { r.MetricType, r.ControlBehavior = Concurrency, Throttling }), "ControlBehavior"},
		{with(func(r *Rule) { r.Threshold = -1 }), "Threshold"},
		{with(func(r *Rule) { r.BurstCount = -1 }), "BurstCount"},
		{with(func(r *Rule) { r.MetricType, r.BurstCount = Concurrency, 1 }), "BurstCount"},
		{with(func(r *Rule) { r.Duration = time.Microsecond }), "Duration"},
		{with(func(r *Rule) { r.MaxQueueingTime = time.Second }), "MaxQueueingTime"},
		{with(func(r *Rule) { r.ParamsMaxCapacity = -1 }), "ParamsMaxCapacity"},
		{with(func(r *Rule) { r.SpecificItems = []SpecificItem{{Value: []int{1}, Threshold: 1}} }), "SpecificItems"},
		{with(func(r *Rule) {
			r.SpecificItems = []SpecificItem{{Value: 1, Threshold: 1}, {Value: int8(1), Threshold: 2}}
		}), "SpecificItems"},
	} {
		var re *base.RuleError
		err := tc.rule.Validate()
		if !errors.As(err, &re) || re.Field != tc.field {
			t.Errorf("%+v: %v, want a RuleError on %s", tc.rule, err, tc.field)
		}
	}
}

func TestRuleJSONKeepsItemKinds(t *testing.T) {
	in := `{"resource":"GET /item","paramIndex":0,"threshold":10,"duration":"2s",
		"specificItems":[{"value":"vip","threshold":100},{"value":42,"threshold":1},{"value":0.5,"threshold":2},{"value":true,"threshold":3}]}`
	var r Rule
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	want := []any{"vip", int64(42), 0.5, true}
	for i, it := range r.SpecificItems {
		if it.Value != want[i] {
			t.Errorf("item %d: %v (%T), want %v (%T)", i, it.Value, it.Value, want[i], want[i])
		}
	}
	if r.Duration != 2*time.Second {
		t.Fatalf("duration %v", r.Duration)
	}
	out, _ := json.Marshal(r)
	var back Rule
	if err := json.Unmarshal(out, &back); err != nil || fmt.Sprint(back) != fmt.Sprint(r) {
		t.Fatalf("round trip %s: %+v, %v", out, back, err)
	}
	if err := json.Unmarshal([]byte(`{"resource":"r","paramIdx":1}`), &r); err == nil || !strings.Contains(err.Error(), "paramIdx") {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestQPSThresholdsThatDoNotDivideTheWindow(t *testing.T) {
	for _, th := range []float64{3, 7, 33, 1000} {
		l := newLimiter(t, Rule{Threshold: th})
		k := key(t, "v")
		if got := acquire(l, t0, k, 2*int(th)); got != int(th) {
			t.Errorf("threshold %v: %d passed at one instant", th, got)
		}
		if got := acquire(l, t0+int64(time.Second), k, 2*int(th)); got != int(th) {
			t.Errorf("threshold %v: %d passed a second later", th, got)
		}
	}
}

// A Throttling batch over a value's threshold would book the value's queue
// for more than a Duration: it is refused and books nothing, for the rule's
// threshold and for a specific item's alike.
func TestThrottlingRefusesABatchLargerThanTheThreshold(t *testing.T) {
	l := newLimiter(t, Rule{Threshold: 50, Duration: 10 * time.Second, ControlBehavior: Throttling,
		MaxQueueingTime: time.Second, SpecificItems: []SpecificItem{{Value: "vip", Threshold: 100}}})
	k, vip := key(t, "u"), key(t, "vip")
	for _, batch := range []int64{51, 1000, 1 << 20} {
		if _, _, ok := l.Acquire(t0, k, batch); ok {
			t.Fatalf("a batch of %d passed Throttling 50 per 10 s", batch)
		}
	}
	if _, w, ok := l.Acquire(t0, k, 1); !ok || w != 0 {
		t.Fatalf("after refused batches, one permit: ok=%v wait=%v, want a pass at once", ok, w)
	}
	if _, _, ok := l.Acquire(t0, vip, 101); ok {
		t.Fatal("a batch of 101 passed a specific threshold of 100")
	}
	if _, _, ok := l.Acquire(t0, vip, 100); !ok {
		t.Fatal("a batch of exactly the specific threshold was refused")
	}
	half := newLimiter(t, Rule{Threshold: 0.5, ControlBehavior: Throttling})
	if _, _, ok := half.Acquire(t0, k, 2); ok {
		t.Fatal("a batch of 2 passed Throttling 0.5 per second")
	}
	if _, _, ok := half.Acquire(t0, k, 1); !ok {
		t.Fatal("one permit was refused by Throttling 0.5 per second")
	}
}

// A capacity of one value is valid: the limiter tracks one value at a time
// and limits each, instead of holding no cache at all.
func TestCapacityOfOne(t *testing.T) {
	l := newLimiter(t, Rule{Threshold: 2, ParamsMaxCapacity: 1})
	a, b := key(t, "a"), key(t, "b")
	if got := acquire(l, t0, a, 5); got != 2 {
		t.Fatalf("a: %d passed, want 2", got)
	}
	if got := acquire(l, t0, b, 5); got != 2 {
		t.Fatalf("b: %d passed, want 2", got)
	}
	if n := l.Tracked(); n != 1 {
		t.Fatalf("%d values tracked, capacity 1", n)
	}
	c := newLimiter(t, Rule{MetricType: Concurrency, Threshold: 1, ParamsMaxCapacity: 1})
	held, _, ok := c.Acquire(t0, a, 1)
	if !ok {
		t.Fatal("a: the first entry was refused")
	}
	for i := 0; i < 10; i++ {
		tok, _, _ := c.Acquire(t0, key(t, i), 1)
		c.Release(tok)
	}
	if got := acquire(c, t0, a, 3); got != 0 {
		t.Fatalf("a, forgotten by the cache with one in flight: %d more entered, want 0", got)
	}
	c.Release(held)
	if got := acquire(c, t0, a, 3); got != 1 {
		t.Fatalf("a, after the release: %d entered, want 1", got)
	}
}
