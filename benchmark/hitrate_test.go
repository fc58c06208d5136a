package benchmark

// The measurement behind Sluice's choice of cache for hotspot values: how
// well does each policy keep a hot set of values while many one-off values
// pass through? A forgotten value's limit starts afresh, so a policy that
// lets a scan of cold values push out the hot ones makes the hot values'
// limits leak.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	shcache "github.com/alibaba/sentinel-golang/core/hotspot/cache"
	arc "github.com/hashicorp/golang-lru/arc/v2"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/hotspot"
)

// cachePolicy makes a cache of a given capacity, as a function that
// accesses a value and reports whether the cache still held it (a hit); on a
// miss the value is added, as a hotspot limiter does.
type cachePolicy struct {
	name string
	make func(t *testing.T, capacity int) func(k int) bool
}

// getOrAdd looks k up in a golang-lru cache and adds it on a miss,
// reporting whether it was a hit.
func getOrAdd(t *testing.T, err error, get func(int) (struct{}, bool), add func(int)) func(int) bool {
	if err != nil {
		t.Fatal(err)
	}
	return func(k int) bool {
		if _, ok := get(k); ok {
			return true
		}
		add(k)
		return false
	}
}

var cachePolicies = []cachePolicy{
	{"LRU (golang-lru/v2 lru.New)", func(t *testing.T, c int) func(int) bool {
		cache, err := lru.New[int, struct{}](c)
		return getOrAdd(t, err, cache.Get, func(k int) { cache.Add(k, struct{}{}) })
	}},
	{"Sentinel Go v1.0.4 hotspot LRU (cache.NewLRUCacheMap)", func(t *testing.T, c int) func(int) bool {
		cache := shcache.NewLRUCacheMap(c)
		one := int64(1)
		// As Sentinel's hotspot check does: AddIfAbsent returns the value
		// held, or nil when it added one.
		return func(k int) bool { return cache.AddIfAbsent(k, &one) != nil }
	}},
	{"2Q (golang-lru/v2 lru.New2Q)", func(t *testing.T, c int) func(int) bool {
		cache, err := lru.New2Q[int, struct{}](c)
		return getOrAdd(t, err, cache.Get, func(k int) { cache.Add(k, struct{}{}) })
	}},
	{"ARC (golang-lru/arc/v2 arc.NewARC)", func(t *testing.T, c int) func(int) bool {
		cache, err := arc.NewARC[int, struct{}](c)
		return getOrAdd(t, err, cache.Get, func(k int) { cache.Add(k, struct{}{}) })
	}},
	{"Sluice engine (hotspot rule, end to end)", sluiceHitProbe},
}

// sluiceHitProbe observes Sluice's own cache through the public API: an
// engine on a manual clock that never moves, and a hotspot rule allowing
// one entry per value per hour, with ParamsMaxCapacity set to the capacity.
// A value the limiter still holds has used its one permit, so its entry is
// blocked: a hit. A value it forgot (or never saw) starts afresh and
// passes: a miss. The limiter looks a value up before deciding, blocked or
// not, so every entry is exactly one cache access.
func sluiceHitProbe(t *testing.T, c int) func(int) bool {
	clk := clock.NewManual(time.Unix(1_700_000_000, 0))
	e := sluice.New(sluice.WithClock(clk), sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(func() { e.Close() })
	const res = "hit-rate"
	err := e.LoadHotspotRules([]hotspot.Rule{{Resource: res, ParamIndex: 0, Threshold: 1,
		Duration: time.Hour, ParamsMaxCapacity: c}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	args := make([]any, 1)
	return func(k int) bool {
		args[0] = k
		p, err := e.Entry(ctx, res, sluice.WithArgs(args...))
		if err != nil {
			return true
		}
		p.Exit()
		return false
	}
}

// hitWorkload is one access pattern over hot values 0..hot-1 and cold
// values, each cold value used exactly once.
type hitWorkload struct {
	name string
	// burst: one scan of scanFactor×capacity cold values in a row, then
	// every hot value once (measured). Otherwise, 10 accesses per hot
	// value (each a hot value drawn uniformly) shuffled together with
	// coldPerHot cold values per hot access.
	burst      bool
	scanFactor int
	coldPerHot float64
	// shift: the warm-up uses hot set A (values 0..hot-1); the measured
	// accesses go to a new hot set B (values hot..2hot-1), which must win
	// its place from A under the same cold traffic. The rate is B's, and
	// includes each B value's first access, a miss for every policy (so
	// at most 90 %).
	shift bool
}

var hitWorkloads = []hitWorkload{
	{name: "no cold values", coldPerHot: 0},
	{name: "0.5 cold per hot", coldPerHot: 0.5},
	{name: "1 cold per hot", coldPerHot: 1},
	{name: "2 cold per hot", coldPerHot: 2},
	{name: "4 cold per hot", coldPerHot: 4},
	{name: "burst scan 10×C", burst: true, scanFactor: 10},
	{name: "hot set shifts, 2 cold per hot", coldPerHot: 2, shift: true},
}

// sequence returns the measured accesses, and the range [lo, hi) of the
// values whose hits are counted; values >= hi are cold. Before them, every
// value of the first hot set is accessed twice (warm-up, not measured), so
// that each policy starts with a hot set in place.
func (w hitWorkload) sequence(hot, capacity int, seed uint64) (warm, measured []int, lo, hi int) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for k := 0; k < 2; k++ {
		for _, v := range rng.Perm(hot) {
			warm = append(warm, v)
		}
	}
	lo, hi = 0, hot
	if w.shift {
		lo, hi = hot, 2*hot
	}
	cold := hi
	if w.burst {
		for i := 0; i < w.scanFactor*capacity; i++ {
			measured = append(measured, cold)
			cold++
		}
		return warm, append(measured, rng.Perm(hot)...), lo, hi
	}
	nHot := 10 * hot
	nCold := int(w.coldPerHot * float64(nHot))
	isHot := make([]bool, nHot+nCold)
	for i := 0; i < nHot; i++ {
		isHot[i] = true
	}
	rng.Shuffle(len(isHot), func(i, j int) { isHot[i], isHot[j] = isHot[j], isHot[i] })
	for _, h := range isHot {
		if h {
			measured = append(measured, lo+rng.IntN(hot))
		} else {
			measured = append(measured, cold)
			cold++
		}
	}
	return warm, measured, lo, hi
}

// hotHitRate runs the sequence through access and returns the fraction of
// measured accesses to values in [lo, hi) that hit.
func hotHitRate(access func(int) bool, warm, measured []int, lo, hi int) float64 {
	for _, v := range warm {
		access(v)
	}
	hits, total := 0, 0
	for _, v := range measured {
		hit := access(v)
		if lo <= v && v < hi {
			total++
			if hit {
				hits++
			}
		}
	}
	return float64(hits) / float64(total)
}

// TestHotspotCacheHitRate measures, for each cache policy, the hit rate of
// the hot values under each workload, and logs the table (run with -v). It
// asserts only what holds by a wide margin: under a scan, the scan-resistant
// policies (2Q, ARC, and Sluice's own cache, end to end) keep the hot set
// while the plain LRUs (golang-lru's and Sentinel Go's) lose most of it.
func TestHotspotCacheHitRate(t *testing.T) {
	for _, size := range []struct{ hot, capacity int }{{1000, 2000}, {10000, 20000}} {
		t.Run(fmt.Sprintf("H=%d,C=%d", size.hot, size.capacity), func(t *testing.T) {
			rates := map[string]map[string]float64{} // policy -> workload -> rate
			for wi, w := range hitWorkloads {
				warm, measured, lo, hi := w.sequence(size.hot, size.capacity, uint64(wi+1))
				for _, p := range cachePolicies {
					if rates[p.name] == nil {
						rates[p.name] = map[string]float64{}
					}
					rates[p.name][w.name] = hotHitRate(p.make(t, size.capacity), warm, measured, lo, hi)
				}
			}
			var tab strings.Builder
			fmt.Fprintf(&tab, "hot values' hit rate, H=%d hot values, capacity C=%d\n| policy |", size.hot, size.capacity)
			for _, w := range hitWorkloads {
				fmt.Fprintf(&tab, " %s |", w.name)
			}
			tab.WriteString("\n| --- |" + strings.Repeat(" ---: |", len(hitWorkloads)) + "\n")
			for _, p := range cachePolicies {
				fmt.Fprintf(&tab, "| %s |", p.name)
				for _, w := range hitWorkloads {
					fmt.Fprintf(&tab, " %.1f %% |", 100*rates[p.name][w.name])
				}
				tab.WriteString("\n")
			}
			t.Log("\n" + tab.String())

			const lruName, sentinelName = "LRU (golang-lru/v2 lru.New)", "Sentinel Go v1.0.4 hotspot LRU (cache.NewLRUCacheMap)"
			for _, w := range hitWorkloads {
				// Both LRUs are exact LRU of the same size on the same
				// sequence.
				if a, b := rates[lruName][w.name], rates[sentinelName][w.name]; a != b {
					t.Errorf("%s: golang-lru LRU %.3f and Sentinel's LRU %.3f differ", w.name, a, b)
				}
				// Without cold values, the hot set fits: every policy keeps it.
				if w.coldPerHot == 0 && !w.burst {
					for _, p := range cachePolicies {
						if r := rates[p.name][w.name]; r < 0.99 {
							t.Errorf("%s: %s hit rate %.3f, want all hot values kept", w.name, p.name, r)
						}
					}
				}
			}
			if r := rates[lruName]["burst scan 10×C"]; r > 0.1 {
				t.Errorf("burst scan: LRU hit rate %.3f; a scan larger than the cache must flush an LRU", r)
			}
			for _, wname := range []string{"2 cold per hot", "4 cold per hot", "burst scan 10×C"} {
				lruRate := rates[lruName][wname]
				for _, name := range []string{"2Q (golang-lru/v2 lru.New2Q)", "ARC (golang-lru/arc/v2 arc.NewARC)",
					"Sluice engine (hotspot rule, end to end)"} {
					if r := rates[name][wname]; r < 0.9 || r < lruRate+0.3 {
						t.Errorf("%s: %s hit rate %.3f, want >= 0.9 and far above LRU's %.3f", wname, name, r, lruRate)
					}
				}
			}
		})
	}
}
