package adaptertest

import "testing"

// AllocRuns is the number of runs WantExtraAllocs averages over.
const AllocRuns = 1000

// WantExtraAllocs checks that one run of with, a request through the
// framework with the adapter, allocates exactly extra more than one run
// of baseline, the same request through the framework without it (the
// adapter's own allocations, not the framework's, are what is measured).
// Both are run once first, so that the entry's resource exists and its
// rules are bound, and any cache the adapter keeps is filled.
//
// Under the race detector, sync.Pool drops a quarter of what is put in it
// (to shake out races), so an object the engine or the adapter reuses from
// a pool is now and then allocated anew: there one allocation per request
// more than extra is let through, since testing.AllocsPerRun rounds the
// pools' fraction of an allocation down for one count and maybe up for the
// other. Without it the count is exact.
func WantExtraAllocs(t testing.TB, extra float64, baseline, with func()) {
	t.Helper()
	baseline()
	with()
	b := testing.AllocsPerRun(AllocRuns, baseline)
	w := testing.AllocsPerRun(AllocRuns, with)
	t.Logf("allocs per request: %v without the adapter, %v with it", b, w)
	if d := w - b; d != extra && !(race && d == extra+1) {
		t.Errorf("the adapter allocates %v per request (%v with it, %v without), want %v", d, w, b, extra)
	}
}
