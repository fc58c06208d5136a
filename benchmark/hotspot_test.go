package benchmark

// Hotspot (hot-parameter) benchmarks: one QPS Reject rule per resource on
// argument 0, with a threshold per value so high that nothing is blocked,
// fed with many distinct values.
//
//	1k-string   1,000 distinct strings "user-0" ... "user-999"
//	1k-int      1,000 distinct ints 100000 ... 100999
//	1M-string   1,000,000 distinct strings: far more than the cache holds,
//	            so every entry is a miss and the cache churns
//	1M-int      1,000,000 distinct ints, likewise
//	1k-string-cap20k  the 1k strings under the default capacity (20000),
//	            at which Sluice splits its cache into 16 locked shards (at
//	            2000 it keeps one)
//	1-string    one value, "user-0", on every entry (and, in parallel, on
//	            every goroutine): one hot value
//
// In these cases the argument values are boxed once, before the timer starts
// (a []any, walked in order, passed as WithArgs(vals[i])), so that the
// numbers are the engines' cost and not the caller's. The -boxing cases (BenchmarkHotspot only) pass a value
// of a []string or an int computed per call, as user code normally does, so
// converting it to an interface is part of every call:
//
//	1k-string-boxing  WithArgs(users[i]) with users a []string
//	1k-int-boxing     WithArgs(100000 + i)
//
// and the -slice case passes the pre-boxed value without making a new
// argument slice per call (WithArgs(vals[i:i+1]...)), which is what an
// entry with no allocation at all takes (see the README).

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sentinel "github.com/alibaba/sentinel-golang/api"
	sbase "github.com/alibaba/sentinel-golang/core/base"
	shotspot "github.com/alibaba/sentinel-golang/core/hotspot"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/hotspot"
)

const (
	// hotThreshold is the permits per second allowed per value: nothing in
	// a benchmark reaches it. Sentinel's hotspot threshold is an int64.
	hotThreshold = 1_000_000_000
	// hotCapacity1k is ParamsMaxCapacity for the 1k cases: twice the values,
	// so all of them stay tracked. The 1M cases use Sluice's default
	// (hotspot.DefaultParamsMaxCapacity, 20000), given to Sentinel
	// explicitly (its own default for a 1 s rule would be 4000).
	hotCapacity1k = 2000
	hotIntBase    = 100000 // ints from here up: above the runtime's preboxed small ints
	// resHotspotOne has a threshold of 1 per value; only the tests use it.
	resHotspotOne = "test/hotspot-one"
)

// hotCase is one set of values on its own resource.
type hotCase struct {
	name     string
	n        int  // distinct values
	ints     bool // ints, else strings "user-%d"
	boxing   bool // the caller boxes per call (single goroutine only)
	slice    bool // the caller passes a pre-built []any: WithArgs(vals[j:j+1]...) (single goroutine only)
	capacity int  // ParamsMaxCapacity; 0: Sluice's default, 20000
}

var hotCases = []hotCase{
	{name: "1k-string", n: 1000, capacity: hotCapacity1k},
	{name: "1k-int", n: 1000, ints: true, capacity: hotCapacity1k},
	{name: "1M-string", n: 1_000_000},
	{name: "1M-int", n: 1_000_000, ints: true},
	{name: "1-string", n: 1, capacity: hotCapacity1k},
	{name: "1k-string-cap20k", n: 1000}, // the default capacity: Sluice shards its cache from 4096 up
	{name: "1k-string-boxing", n: 1000, boxing: true, capacity: hotCapacity1k},
	{name: "1k-int-boxing", n: 1000, ints: true, boxing: true, capacity: hotCapacity1k},
	{name: "1k-string-slice", n: 1000, slice: true, capacity: hotCapacity1k},
}

func (c hotCase) resource() string { return "bench/hotspot/" + c.name }

// sentinelCapacity is the ParamsMaxCapacity given to Sentinel: the same
// number of values as Sluice tracks.
func (c hotCase) sentinelCapacity() int64 {
	if c.capacity == 0 {
		return hotspot.DefaultParamsMaxCapacity
	}
	return int64(c.capacity)
}

// Value sets, made on first use (the 1M sets are large) and shared by both
// libraries.
var (
	hotValuesMu sync.Mutex
	hotBoxed    = map[string][]any{}
	hotStrings  = map[int][]string{}
)

func userStrings(n int) []string {
	hotValuesMu.Lock()
	defer hotValuesMu.Unlock()
	if s, ok := hotStrings[n]; ok {
		return s
	}
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("user-%d", i)
	}
	hotStrings[n] = s
	return s
}

// value returns value j of the case, boxed now.
func (c hotCase) value(j int) any {
	if c.ints {
		return hotIntBase + j
	}
	return fmt.Sprintf("user-%d", j)
}

// boxed returns the case's values as interfaces, boxed once.
func (c hotCase) boxed() []any {
	var strs []string
	if !c.ints {
		strs = userStrings(c.n)
	}
	hotValuesMu.Lock()
	defer hotValuesMu.Unlock()
	key := fmt.Sprintf("%d/%v", c.n, c.ints)
	if v, ok := hotBoxed[key]; ok {
		return v
	}
	v := make([]any, c.n)
	for i := range v {
		if c.ints {
			v[i] = hotIntBase + i
		} else {
			v[i] = strs[i] // the same strings as the -boxing cases use
		}
	}
	hotBoxed[key] = v
	return v
}

// setupHotspot loads the hotspot rules of every case, and the threshold-1
// test rule, into both libraries. Sentinel must be initialised.
func setupHotspot() error {
	var rules []hotspot.Rule
	var srules []*shotspot.Rule
	add := func(res string, threshold float64, capacity int) {
		rules = append(rules, hotspot.Rule{Resource: res, ParamIndex: 0, Threshold: threshold,
			ParamsMaxCapacity: capacity})
		scap := int64(capacity)
		if scap == 0 {
			scap = hotspot.DefaultParamsMaxCapacity
		}
		srules = append(srules, &shotspot.Rule{Resource: res, MetricType: shotspot.QPS,
			ControlBehavior: shotspot.Reject, ParamIndex: 0, Threshold: int64(threshold),
			DurationInSec: 1, ParamsMaxCapacity: scap})
	}
	for _, c := range hotCases {
		add(c.resource(), hotThreshold, c.capacity)
	}
	add(resHotspotOne, 1, 0)
	if err := eng.LoadHotspotRules(rules); err != nil {
		return fmt.Errorf("sluice hotspot rules: %w", err)
	}
	if ok, err := shotspot.LoadRules(srules); err != nil || !ok {
		return fmt.Errorf("sentinel hotspot rules: loaded=%v err=%v", ok, err)
	}
	// Sentinel drops invalid rules with only a log line: check each
	// resource really has its rule, as given.
	for _, r := range srules {
		got := shotspot.GetRulesOfResource(r.Resource)
		if len(got) != 1 || !got[0].Equals(r) {
			return fmt.Errorf("sentinel: hotspot rules in force on %q: %v, want %v", r.Resource, got, r)
		}
	}
	return nil
}

// The calls, one per library and way of passing the value. j is the index
// of the value in the case's set.

func sluiceHot(res string, vals []any) func(int) bool {
	return func(j int) bool {
		p, err := eng.Entry(ctx, res, sluice.WithArgs(vals[j]))
		if err != nil {
			return false
		}
		p.Exit()
		return true
	}
}

func sentinelHot(res string, vals []any) func(int) bool {
	return func(j int) bool {
		e, be := sentinel.Entry(res, sentinel.WithArgs(vals[j]))
		if be != nil {
			return false
		}
		e.Exit()
		return true
	}
}

func sluiceHotSlice(res string, vals []any) func(int) bool {
	return func(j int) bool {
		p, err := eng.Entry(ctx, res, sluice.WithArgs(vals[j:j+1]...))
		if err != nil {
			return false
		}
		p.Exit()
		return true
	}
}

func sentinelHotSlice(res string, vals []any) func(int) bool {
	return func(j int) bool {
		e, be := sentinel.Entry(res, sentinel.WithArgs(vals[j:j+1]...))
		if be != nil {
			return false
		}
		e.Exit()
		return true
	}
}

func sluiceHotBoxing(c hotCase) func(int) bool {
	res := c.resource()
	if c.ints {
		return func(j int) bool {
			p, err := eng.Entry(ctx, res, sluice.WithArgs(hotIntBase+j))
			if err != nil {
				return false
			}
			p.Exit()
			return true
		}
	}
	users := userStrings(c.n)
	return func(j int) bool {
		p, err := eng.Entry(ctx, res, sluice.WithArgs(users[j]))
		if err != nil {
			return false
		}
		p.Exit()
		return true
	}
}

func sentinelHotBoxing(c hotCase) func(int) bool {
	res := c.resource()
	if c.ints {
		return func(j int) bool {
			e, be := sentinel.Entry(res, sentinel.WithArgs(hotIntBase+j))
			if be != nil {
				return false
			}
			e.Exit()
			return true
		}
	}
	users := userStrings(c.n)
	return func(j int) bool {
		e, be := sentinel.Entry(res, sentinel.WithArgs(users[j]))
		if be != nil {
			return false
		}
		e.Exit()
		return true
	}
}

// runHot measures call over n values, every entry expected to pass. On one
// goroutine it walks the values in order, wrapping around; under
// RunParallel each goroutine walks them from its own offset (spread by the
// golden ratio), so that goroutines mostly hit different values. A set of
// at most 1000 values is warmed first (each value entered twice, so that it
// is in the frequent part of a 2Q cache), outside the timer.
func runHot(b *testing.B, parallel bool, n int, call func(int) bool) {
	if n <= 1000 {
		for k := 0; k < 2; k++ {
			for j := 0; j < n; j++ {
				if !call(j) {
					b.Fatalf("warm-up: entry of value %d blocked", j)
				}
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wrong atomic.Int64
	if parallel {
		var goroutines atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			g := goroutines.Add(1) - 1
			j := int(uint64(g)*uint64(n)*618/1000) % n
			bad := int64(0)
			for pb.Next() {
				if !call(j) {
					bad++
				}
				if j++; j == n {
					j = 0
				}
			}
			wrong.Add(bad)
		})
	} else {
		bad := int64(0)
		for i, j := 0, 0; i < b.N; i++ {
			if !call(j) {
				bad++
			}
			if j++; j == n {
				j = 0
			}
		}
		wrong.Add(bad)
	}
	checkOutcome(b, wrong.Load(), true)
}

func benchHotspot(b *testing.B, parallel bool) {
	for _, c := range hotCases {
		if (c.boxing || c.slice) && parallel {
			continue
		}
		var sl, se func(int) bool
		switch {
		case c.boxing:
			sl, se = sluiceHotBoxing(c), sentinelHotBoxing(c)
		case c.slice:
			vals := c.boxed()
			sl, se = sluiceHotSlice(c.resource(), vals), sentinelHotSlice(c.resource(), vals)
		default:
			vals := c.boxed()
			sl, se = sluiceHot(c.resource(), vals), sentinelHot(c.resource(), vals)
		}
		b.Run(c.name+"/Sluice", func(b *testing.B) { runHot(b, parallel, c.n, sl) })
		b.Run(c.name+"/SentinelGo", func(b *testing.B) { runHot(b, parallel, c.n, se) })
	}
}

// BenchmarkHotspot measures one Entry+Exit under a hotspot rule on a single
// goroutine.
func BenchmarkHotspot(b *testing.B) { benchHotspot(b, false) }

// BenchmarkHotspotParallel measures it from GOMAXPROCS goroutines, each
// walking the values from its own offset (the 1-string case: all on the
// same value).
func BenchmarkHotspotParallel(b *testing.B) { benchHotspot(b, true) }

// TestHotspotPeersLoad checks that the hotspot rules are in force in both
// libraries: the benchmark rules pass every value, and the threshold-1 rule
// blocks a second entry of a value, as a hotspot block, while another
// value passes.
func TestHotspotPeersLoad(t *testing.T) {
	// Fresh values for each run, so that -count=N in one second works.
	tag := time.Now().UnixNano()
	a, other := fmt.Sprintf("a-%d", tag), fmt.Sprintf("b-%d", tag)
	n, m := int(tag%1_000_000_000), int(tag%1_000_000_000)+1 // ints too

	t.Run("Sluice", func(t *testing.T) {
		for _, c := range hotCases {
			for j := 0; j < min(c.n, 1000); j++ {
				p, err := eng.Entry(ctx, c.resource(), sluice.WithArgs(c.value(j)))
				if err != nil {
					t.Fatalf("%s: value %d blocked: %v", c.resource(), j, err)
				}
				p.Exit()
			}
		}
		if got := len(eng.Rules().Hotspot); got != len(hotCases)+1 {
			t.Fatalf("%d hotspot rules in force, want %d", got, len(hotCases)+1)
		}
		for _, vals := range [][2]any{{a, other}, {n, m}} {
			p, err := eng.Entry(ctx, resHotspotOne, sluice.WithArgs(vals[0]))
			if err != nil {
				t.Fatalf("first entry of %v blocked: %v", vals[0], err)
			}
			p.Exit()
			_, err = eng.Entry(ctx, resHotspotOne, sluice.WithArgs(vals[0]))
			var be *sluice.BlockError
			if !errors.As(err, &be) || be.Type != sluice.BlockTypeHotspot {
				t.Fatalf("second entry of %v: got %v, want a hotspot block", vals[0], err)
			}
			p, err = eng.Entry(ctx, resHotspotOne, sluice.WithArgs(vals[1]))
			if err != nil {
				t.Fatalf("entry of another value %v blocked: %v", vals[1], err)
			}
			p.Exit()
		}
	})

	t.Run("SentinelGo", func(t *testing.T) {
		for _, c := range hotCases {
			for j := 0; j < min(c.n, 1000); j++ {
				e, be := sentinel.Entry(c.resource(), sentinel.WithArgs(c.value(j)))
				if be != nil {
					t.Fatalf("%s: value %d blocked: %v", c.resource(), j, be)
				}
				e.Exit()
			}
		}
		for _, vals := range [][2]any{{a, other}, {n, m}} {
			e, be := sentinel.Entry(resHotspotOne, sentinel.WithArgs(vals[0]))
			if be != nil {
				t.Fatalf("first entry of %v blocked: %v", vals[0], be)
			}
			e.Exit()
			_, be = sentinel.Entry(resHotspotOne, sentinel.WithArgs(vals[0]))
			if be == nil || be.BlockType() != sbase.BlockTypeHotSpotParamFlow {
				t.Fatalf("second entry of %v: got %v, want a hotspot block", vals[0], be)
			}
			e, be = sentinel.Entry(resHotspotOne, sentinel.WithArgs(vals[1]))
			if be != nil {
				t.Fatalf("entry of another value %v blocked: %v", vals[1], be)
			}
			e.Exit()
		}
	})
}
