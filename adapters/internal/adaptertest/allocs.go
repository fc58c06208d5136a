package adaptertest

import (
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
)

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

// AllocRules returns the rules the adapters' allocation tests run under:
// a flow rule nothing reaches on each of resources, one that blocks
// everything on "GET /blocked", and hotspot rules on "GET /hot" on its
// first argument and on the attachments "tenant" and "X-User".
func AllocRules(resources ...string) sluice.Rules {
	var rules sluice.Rules
	for _, res := range resources {
		rules.Flow = append(rules.Flow, flow.Rule{Resource: res, Threshold: 1e12})
	}
	rules.Flow = append(rules.Flow, flow.Rule{Resource: "GET /blocked", Threshold: 0})
	rules.Hotspot = []hotspot.Rule{
		{Resource: "GET /hot", ParamIndex: 0, Threshold: 1e12, Duration: time.Second},
		{Resource: "GET /hot", ParamKey: "tenant", Threshold: 1e12, Duration: time.Second},
		{Resource: "GET /hot", ParamKey: "X-User", Threshold: 1e12, Duration: time.Second},
	}
	return rules
}
