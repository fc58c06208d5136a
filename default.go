package sluice

import (
	"context"
	"sync/atomic"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

var defaultEngine atomic.Pointer[Engine]

// Default returns the engine the package-level functions use. It is made on
// first use with New() and needs no set-up.
func Default() *Engine {
	if e := defaultEngine.Load(); e != nil {
		return e
	}
	return makeDefault()
}

func makeDefault() *Engine {
	defaultEngine.CompareAndSwap(nil, New())
	return defaultEngine.Load()
}

// Entry calls Default().Entry.
func Entry(ctx context.Context, resource string, opts ...EntryOption) (Permit, error) {
	return Default().Entry(ctx, resource, opts...)
}

// Do calls Default().Do.
func Do(ctx context.Context, resource string, fn func(context.Context) error, opts ...EntryOption) error {
	return Default().Do(ctx, resource, fn, opts...)
}

// LoadRules calls Default().LoadRules.
func LoadRules(r Rules) error { return Default().LoadRules(r) }

// LoadFlowRules calls Default().LoadFlowRules.
func LoadFlowRules(rules []flow.Rule) error { return Default().LoadFlowRules(rules) }

// LoadIsolationRules calls Default().LoadIsolationRules.
func LoadIsolationRules(rules []isolation.Rule) error { return Default().LoadIsolationRules(rules) }

// LoadCircuitBreakerRules calls Default().LoadCircuitBreakerRules.
func LoadCircuitBreakerRules(rules []circuitbreaker.Rule) error {
	return Default().LoadCircuitBreakerRules(rules)
}

// LoadHotspotRules calls Default().LoadHotspotRules.
func LoadHotspotRules(rules []hotspot.Rule) error { return Default().LoadHotspotRules(rules) }

// LoadSystemRules calls Default().LoadSystemRules.
func LoadSystemRules(rules []system.Rule) error { return Default().LoadSystemRules(rules) }

// Stats calls Default().Stats.
func Stats(resource string) (ResourceStats, bool) { return Default().Stats(resource) }
