// Package adaptertest holds test helpers shared by Sluice's adapters.
package adaptertest

import (
	"context"
	"testing"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/system"
)

// HeldResource is the resource of the inbound entry ShedAllInbound holds.
const HeldResource = "held"

// ShedAllInbound makes eng refuse every further inbound entry with a system
// rule, until t ends: it holds one inbound entry (to HeldResource) in
// flight, above a Concurrency trigger of 0, and loads that rule in place of
// eng's rules.
func ShedAllInbound(t testing.TB, eng *sluice.Engine) {
	t.Helper()
	p, err := eng.Entry(context.Background(), HeldResource, sluice.WithTrafficType(sluice.Inbound))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Exit)
	if err := eng.LoadRules(sluice.Rules{System: []system.Rule{{MetricType: system.Concurrency, TriggerCount: 0}}}); err != nil {
		t.Fatal(err)
	}
}
