package circuitbreaker

import (
	"encoding/json"
	"errors"
	"math"
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

type recorder struct {
	mu      sync.Mutex
	changes []StateChange
}

func (r *recorder) notify(c StateChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) path() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, c := range r.changes {
		s = append(s, c.From.String()+">"+c.To.String())
	}
	return strings.Join(s, " ")
}

func newBreaker(t *testing.T, r Rule) (*Breaker, *recorder) {
	t.Helper()
	if r.Resource == "" {
		r.Resource = "r"
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	return NewBreaker(r, "r", rec.notify), rec
}

// call runs one non-probe call at now through b.
func call(t *testing.T, b *Breaker, now int64, rt time.Duration, failed bool) {
	t.Helper()
	p, ok := b.Allow(now)
	if !ok {
		t.Fatalf("call at +%dms blocked in state %v", (now-t0)/ms, b.State())
	}
	b.Done(now, rt, failed, p)
}

func TestErrorRatioTripsAtThreshold(t *testing.T) {
	b, rec := newBreaker(t, Rule{Strategy: ErrorRatio, Threshold: 0.5, MinRequestAmount: 4, RetryTimeout: time.Second})
	// 3 calls, 2 failed: ratio 0.67 but below MinRequestAmount.
	call(t, b, t0, 0, true)
	call(t, b, t0, 0, false)
	call(t, b, t0, 0, true)
	if b.State() != Closed {
		t.Fatal("tripped below MinRequestAmount")
	}
	// 4th call, a success: 2 of 4 = 0.5 >= 0.5 trips at its completion.
	call(t, b, t0, 0, false)
	if b.State() != Open {
		t.Fatalf("state %v with ratio 0.5 at threshold 0.5, want Open", b.State())
	}
	if _, ok := b.Allow(t0 + 999*ms); ok {
		t.Fatal("open breaker let a call through before RetryTimeout")
	}
	if got := rec.changes[0]; got.Value != 0.5 || got.From != Closed || got.To != Open || got.At.UnixNano() != t0 {
		t.Fatalf("change %+v", got)
	}
}

func TestErrorRatioOfOneNeedsEveryCallToFail(t *testing.T) {
	b, _ := newBreaker(t, Rule{Strategy: ErrorRatio, Threshold: 1, MinRequestAmount: 3, RetryTimeout: time.Second})
	call(t, b, t0, 0, true)
	call(t, b, t0, 0, false)
	call(t, b, t0, 0, true)
	if b.State() != Closed {
		t.Fatal("threshold 1.0 tripped with one success in the window")
	}
	b2, _ := newBreaker(t, Rule{Strategy: ErrorRatio, Threshold: 1, MinRequestAmount: 3, RetryTimeout: time.Second})
	for i := 0; i < 3; i++ {
		call(t, b2, t0, 0, true)
	}
	if b2.State() != Open {
		t.Fatal("threshold 1.0 did not trip with every call failing")
	}
}

func TestErrorCount(t *testing.T) {
	b, _ := newBreaker(t, Rule{Strategy: ErrorCount, Threshold: 3, RetryTimeout: time.Second})
	call(t, b, t0, 0, true)
	call(t, b, t0, 0, true)
	for i := 0; i < 10; i++ {
		call(t, b, t0, 0, false)
	}
	if b.State() != Closed {
		t.Fatal("2 errors tripped a count of 3")
	}
	call(t, b, t0, 0, true)
	if b.State() != Open {
		t.Fatal("3 errors did not trip a count of 3")
	}
}

func TestSlowRatioBoundary(t *testing.T) {
	r := Rule{Strategy: SlowRequestRatio, MaxAllowedRT: 100 * time.Millisecond, Threshold: 1, RetryTimeout: time.Second}
	b, _ := newBreaker(t, r)
	call(t, b, t0, 100*time.Millisecond, false) // equal to MaxAllowedRT: not slow
	if b.State() != Closed {
		t.Fatal("RT equal to MaxAllowedRT counted as slow")
	}
	call(t, b, t0, 100*time.Millisecond+1, false)
	if b.State() != Closed {
		t.Fatal("1 slow of 2 tripped a ratio of 1.0")
	}
	b2, _ := newBreaker(t, r)
	call(t, b2, t0, 100*time.Millisecond+1, false)
	if b2.State() != Open {
		t.Fatal("a call slower than MaxAllowedRT did not trip a ratio of 1.0 (MinRequestAmount 0 means 1)")
	}
	// Failures do not count for SlowRequestRatio.
	b3, _ := newBreaker(t, r)
	call(t, b3, t0, time.Millisecond, true)
	if b3.State() != Closed {
		t.Fatal("a fast failure tripped a slow-ratio breaker")
	}
}

func TestWindowSlides(t *testing.T) {
	b, _ := newBreaker(t, Rule{Strategy: ErrorCount, Threshold: 2, RetryTimeout: time.Second})
	call(t, b, t0, 0, true)
	call(t, b, t0+1000*ms, 0, true) // the first error left the 1 s window
	if b.State() != Closed {
		t.Fatal("errors a second apart tripped a count of 2 per second")
	}
	// A burst straddling a bucket edge still counts whole.
	b2, _ := newBreaker(t, Rule{Strategy: ErrorCount, Threshold: 2, RetryTimeout: time.Second})
	call(t, b2, t0+99*ms, 0, true)
	call(t, b2, t0+100*ms, 0, true)
	if b2.State() != Open {
		t.Fatal("two errors 1 ms apart across a bucket edge did not trip")
	}
}

func TestHalfOpenProbesCloseOrReopen(t *testing.T) {
	r := Rule{Strategy: ErrorRatio, Threshold: 0.5, RetryTimeout: time.Second, ProbeNum: 2}
	b, rec := newBreaker(t, r)
	call(t, b, t0, 0, true) // trips
	now := t0 + int64(time.Second)
	p1, ok1 := b.Allow(now)
	p2, ok2 := b.Allow(now)
	if !ok1 || !ok2 || b.State() != HalfOpen {
		t.Fatalf("half-open should admit 2 probes: %v %v %v", ok1, ok2, b.State())
	}
	if _, ok := b.Allow(now); ok {
		t.Fatal("a third probe passed ProbeNum 2")
	}
	b.Done(now, 0, false, p1)
	if b.State() != HalfOpen {
		t.Fatal("closed after 1 of 2 probes")
	}
	p3, ok := b.Allow(now) // p1's slot is free again
	if !ok {
		t.Fatal("a freed probe slot was not reused")
	}
	b.Done(now, 0, false, p2)
	if b.State() != Closed {
		t.Fatalf("state %v after 2 successful probes, want Closed", b.State())
	}
	b.Done(now, 0, true, p3) // a probe of a finished half-open period: ignored
	if b.State() != Closed {
		t.Fatal("a stale probe changed the state")
	}
	// Statistics restarted on close: the failure that tripped it is gone,
	// so a success alone is a ratio of 0.
	call(t, b, now, 0, false)
	if b.State() != Closed {
		t.Fatal("the old window survived the close")
	}
	call(t, b, now, 0, true) // 1 of 2 = 0.5
	if b.State() != Open {
		t.Fatal("breaker does not trip again after closing")
	}
	// A failed probe reopens for another RetryTimeout.
	now += int64(time.Second)
	p, _ := b.Allow(now)
	b.Done(now, 0, true, p)
	if b.State() != Open {
		t.Fatal("a failed probe did not reopen")
	}
	if _, ok := b.Allow(now + int64(time.Second) - 1); ok {
		t.Fatal("reopened breaker admitted a call before a new RetryTimeout")
	}
	want := "Closed>Open Open>HalfOpen HalfOpen>Closed Closed>Open Open>HalfOpen HalfOpen>Open"
	if got := rec.path(); got != want {
		t.Fatalf("transitions %q, want %q", got, want)
	}
}

func TestReleasedAndLostProbesGiveTheirSlotBack(t *testing.T) {
	b, _ := newBreaker(t, Rule{Strategy: ErrorCount, Threshold: 1, RetryTimeout: time.Second})
	call(t, b, t0, 0, true)
	now := t0 + int64(time.Second)
	p, _ := b.Allow(now)
	if _, ok := b.Allow(now); ok {
		t.Fatal("second probe with ProbeNum 1")
	}
	b.Release(p) // blocked by a later check: never ran
	p, ok := b.Allow(now)
	if !ok {
		t.Fatal("released slot not reused")
	}
	_ = p // this probe's caller never exits
	if _, ok := b.Allow(now + int64(time.Second) - 1); ok {
		t.Fatal("slot reclaimed before RetryTimeout")
	}
	p, ok = b.Allow(now + int64(time.Second))
	if !ok {
		t.Fatal("a probe lost for a whole RetryTimeout still holds its slot: half-open for ever")
	}
	b.Done(now+int64(time.Second), 0, false, p)
	if b.State() != Closed {
		t.Fatalf("state %v, want Closed after a successful probe", b.State())
	}
}

func TestProbesInFlightNeverExceedProbeNum(t *testing.T) {
	const probeNum = 3
	b, _ := newBreaker(t, Rule{Strategy: ErrorCount, Threshold: 1, RetryTimeout: time.Second, ProbeNum: probeNum})
	call(t, b, t0, 0, true)
	now := t0 + int64(time.Second)
	var inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				p, ok := b.Allow(now)
				if !ok {
					continue
				}
				n := inFlight.Add(1)
				for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
				}
				inFlight.Add(-1)
				b.Release(p) // never completes, so the breaker stays half-open
			}
		}()
	}
	wg.Wait()
	if peak.Load() > probeNum || peak.Load() == 0 {
		t.Fatalf("peak probes in flight %d, want 1..%d", peak.Load(), probeNum)
	}
}

func TestValidate(t *testing.T) {
	ok := Rule{Resource: "r", Strategy: ErrorRatio, Threshold: 0.5, RetryTimeout: time.Second}
	with := func(f func(*Rule)) Rule { r := ok; f(&r); return r }
	for _, tc := range []struct {
		rule  Rule
		field string
	}{
		{with(func(r *Rule) { r.Resource = "" }), "Resource"},
		{with(func(r *Rule) { r.Regex, r.Resource = true, "(" }), "Resource"},
		{with(func(r *Rule) { r.Strategy = 7 }), "Strategy"},
		{with(func(r *Rule) { r.RetryTimeout = 0 }), "RetryTimeout"},
		{with(func(r *Rule) { r.MinRequestAmount = -1 }), "MinRequestAmount"},
		{with(func(r *Rule) { r.StatInterval = -1 }), "StatInterval"},
		{with(func(r *Rule) { r.StatBuckets = 7 }), "StatBuckets"},
		{with(func(r *Rule) { r.StatBuckets = -1 }), "StatBuckets"},
		{with(func(r *Rule) { r.ProbeNum = -1 }), "ProbeNum"},
		{with(func(r *Rule) { r.Threshold = 0 }), "Threshold"},
		{with(func(r *Rule) { r.Threshold = 1.01 }), "Threshold"},
		{with(func(r *Rule) { r.Threshold = math.NaN() }), "Threshold"},
		{with(func(r *Rule) { r.Strategy, r.Threshold = ErrorCount, 0.5 }), "Threshold"},
		{with(func(r *Rule) { r.Strategy = SlowRequestRatio }), "MaxAllowedRT"},
		{with(func(r *Rule) { r.MaxAllowedRT = time.Second }), "MaxAllowedRT"},
	} {
		var re *base.RuleError
		err := tc.rule.Validate()
		if !errors.As(err, &re) || re.Field != tc.field || !errors.Is(err, base.ErrInvalidRule) {
			t.Errorf("%+v: %v, want a RuleError on %s", tc.rule, err, tc.field)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRuleJSON(t *testing.T) {
	r := Rule{ID: "x", Resource: "db", Strategy: SlowRequestRatio, RetryTimeout: 5 * time.Second,
		MaxAllowedRT: 200 * time.Millisecond, Threshold: 0.4, MinRequestAmount: 10}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"retryTimeout":"5s"`) || !strings.Contains(string(b), `"strategy":"SlowRequestRatio"`) {
		t.Fatalf("JSON %s", b)
	}
	var back Rule
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Fatalf("round trip %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"resource":"db","retryTimeoutMs":5000}`), &back); err == nil ||
		!strings.Contains(err.Error(), "retryTimeoutMs") {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestDoneDoesNotAllocateWhenClosed(t *testing.T) {
	b, _ := newBreaker(t, Rule{Strategy: ErrorRatio, Threshold: 0.9, MinRequestAmount: 1 << 40, RetryTimeout: time.Second})
	now := t0
	if a := testing.AllocsPerRun(1000, func() {
		now += ms
		p, _ := b.Allow(now)
		b.Done(now, time.Millisecond, now%3 == 0, p)
	}); a != 0 {
		t.Fatalf("%v allocs per Allow+Done", a)
	}
}

func TestStatisticsRestartWhenClosed(t *testing.T) {
	b, _ := newBreaker(t, Rule{Strategy: ErrorCount, Threshold: 2, RetryTimeout: 100 * time.Millisecond})
	call(t, b, t0, 0, true)
	call(t, b, t0, 0, true) // trips
	p, _ := b.Allow(t0 + 100*ms)
	b.Done(t0+100*ms, 0, false, p) // closes, within the same 1 s window
	call(t, b, t0+150*ms, 0, true)
	if b.State() != Closed {
		t.Fatal("the errors from before the close still count: statistics did not restart")
	}
	call(t, b, t0+150*ms, 0, true)
	if b.State() != Open {
		t.Fatal("two fresh errors did not trip")
	}
}

func TestSlowProbeReopens(t *testing.T) {
	b, rec := newBreaker(t, Rule{Strategy: SlowRequestRatio, MaxAllowedRT: 50 * time.Millisecond,
		Threshold: 0.5, RetryTimeout: time.Second})
	call(t, b, t0, 80*time.Millisecond, false) // 1 of 1 slow: trips
	now := t0 + int64(time.Second)
	p, _ := b.Allow(now)
	b.Done(now, 50*time.Millisecond, true, p) // at the limit is not slow; failures don't count here
	if b.State() != Closed {
		t.Fatalf("a probe of exactly MaxAllowedRT did not close the breaker: %v", b.State())
	}
	call(t, b, now, 60*time.Millisecond, false) // trips again
	now += int64(time.Second)
	p, _ = b.Allow(now)
	b.Done(now, 120*time.Millisecond, false, p)
	if b.State() != Open {
		t.Fatal("a slow probe did not reopen")
	}
	last := rec.changes[len(rec.changes)-1]
	if last.From != HalfOpen || last.To != Open || last.Value != 0.12 {
		t.Fatalf("last change %+v, want HalfOpen->Open with the probe's 0.12 s", last)
	}
}

// A probe lost past RetryTimeout whose slot went to another probe must not
// free that slot when it finally completes (or is released), nor count:
// otherwise ProbeNum+1 probes run at once.
func TestLostProbeDoesNotFreeItsSuccessorsSlot(t *testing.T) {
	const rt = int64(time.Second)
	for _, end := range []string{"Done", "failed Done", "Release"} {
		t.Run(end, func(t *testing.T) {
			b, rec := newBreaker(t, Rule{Strategy: ErrorCount, Threshold: 1, RetryTimeout: time.Second, ProbeNum: 2})
			call(t, b, t0, 0, true) // trips
			now := t0 + rt
			lost, _ := b.Allow(now) // slot 0, its caller stalls
			now += rt / 2
			if _, ok := b.Allow(now); !ok { // slot 1, in flight throughout
				t.Fatal("second probe refused with ProbeNum 2")
			}
			now += rt / 2 // lost has been in flight a whole RetryTimeout
			if _, ok := b.Allow(now); !ok {
				t.Fatal("the lost probe's slot was not reused")
			}
			switch end { // the lost probe comes back late
			case "Done":
				b.Done(now, 0, false, lost)
			case "failed Done":
				b.Done(now, 0, true, lost)
			case "Release":
				b.Release(lost)
			}
			if _, ok := b.Allow(now); ok {
				t.Fatalf("a third probe passed ProbeNum 2 (state %v): the lost probe freed its successor's slot", b.State())
			}
			if b.State() != HalfOpen || rec.path() != "Closed>Open Open>HalfOpen" {
				t.Fatalf("state %v, transitions %q: the lost probe's outcome counted", b.State(), rec.path())
			}
		})
	}
}

// A RetryTimeout that reaches past the clock's range keeps the breaker
// open; it must not wrap around and half-open it at once.
func TestHugeRetryTimeoutSaturates(t *testing.T) {
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 - time.Duration(t0) + 1} {
		b, _ := newBreaker(t, Rule{Strategy: ErrorCount, Threshold: 1, RetryTimeout: d})
		call(t, b, t0, 0, true) // trips
		for _, now := range []int64{t0, t0 + 1, t0 + int64(100*365*24*time.Hour), math.MaxInt64 - 1} {
			if _, ok := b.Allow(now); ok || b.State() != Open {
				t.Fatalf("RetryTimeout %v: call at %d admitted in state %v, want Open", d, now, b.State())
			}
		}
	}
	// now - RetryTimeout, the start before which a probe is lost, saturates
	// too: a clock that jumps to the smallest time takes no probe as lost.
	b, _ := newBreaker(t, Rule{Strategy: ErrorCount, Threshold: 1, RetryTimeout: time.Second})
	call(t, b, t0, 0, true)
	if _, ok := b.Allow(t0 + int64(time.Second)); !ok {
		t.Fatal("no probe at the end of RetryTimeout")
	}
	if _, ok := b.Allow(math.MinInt64 + 1); ok {
		t.Fatal("a second probe with ProbeNum 1: now - RetryTimeout wrapped around")
	}
}
