package sluice

import (
	"slices"
	"time"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/hotspot"
)

// ResourceStats is a reading of one resource's statistics over the engine's
// statistics interval (by default the last second), ending now. The window
// keeps its counts in buckets (by default 100 ms); the part of the oldest
// bucket still inside the interval is counted pro rata.
type ResourceStats struct {
	Resource string
	// PassQPS, BlockQPS, CompleteQPS and ErrorQPS are permits (entries
	// times batch count) admitted, blocked, exited and exited with an error,
	// per second over the window.
	PassQPS, BlockQPS, CompleteQPS, ErrorQPS float64
	// AvgRT is the mean response time, from the call to Entry (so including
	// any queueing wait) to Exit, of the permits that exited in the window,
	// and MinRT the smallest; both are 0 if none did.
	AvgRT, MinRT time.Duration
	// Concurrency is the number of entries in flight now, counting those
	// waiting in a Throttling queue.
	Concurrency int64
	// CircuitBreakers is the state of each circuit breaker on the resource,
	// in rule order.
	CircuitBreakers []BreakerStats
	// Hotspots is what each hotspot rule on the resource knows, in rule
	// order.
	Hotspots []HotspotStats
}

// HotspotStats is what one hotspot rule on a resource knows, counted since
// the rule was loaded.
type HotspotStats struct {
	Rule hotspot.Rule
	// Tracked is how many values the rule holds now.
	Tracked int
	// Skipped counts the entries let through unlimited because their
	// value could not be counted (nil, or a slice, map or func).
	Skipped int64
	// NoValue counts the entries that carried no value for the rule: no
	// attachment under its ParamKey (keys match exactly), or no argument
	// at its ParamIndex. The rule does not limit them; the first one is
	// logged as a warning.
	NoValue int64
}

// BreakerStats is the state of one circuit breaker.
type BreakerStats struct {
	Rule  circuitbreaker.Rule
	State circuitbreaker.State
	// Value is what the breaker compares with Rule.Threshold while Closed,
	// over its window now: the slow or error ratio (0 with no calls), or
	// the error count; Calls is the calls that completed in the window.
	// The window restarts empty when the breaker closes after probing.
	Value float64
	Calls int64
	// Transitions counts the breaker's state changes since its rule was
	// loaded (a reload of an equal rule keeps them).
	Transitions BreakerTransitions
}

// BreakerTransitions counts a breaker's state changes, one field per
// change it can make.
type BreakerTransitions struct {
	ClosedToOpen, OpenToHalfOpen, HalfOpenToOpen, HalfOpenToClosed int64
}

// Stats returns the statistics of a tracked resource, and false if the
// engine has never tracked it. The empty name reads UnnamedResource.
func (e *Engine) Stats(name string) (ResourceStats, bool) {
	if name == "" {
		name = UnnamedResource
	}
	v, ok := e.resources.Load(name)
	if !ok {
		return ResourceStats{}, false
	}
	r := v.(*resource)
	st := e.stats(r)
	e.ruleStats(r, &st)
	return st, true
}

// Resources returns the names of every tracked resource, sorted.
func (e *Engine) Resources() []string {
	var names []string
	e.resources.Range(func(k, _ any) bool {
		names = append(names, k.(string))
		return true
	})
	slices.Sort(names)
	return names
}

func (e *Engine) stats(r *resource) ResourceStats {
	rt := r.node.Rates(e.clock.Nanos())
	return ResourceStats{
		Resource:    r.name,
		PassQPS:     rt.Pass,
		BlockQPS:    rt.Block,
		CompleteQPS: rt.Complete,
		ErrorQPS:    rt.Error,
		AvgRT:       rt.AvgRT,
		MinRT:       rt.MinRT,
		Concurrency: r.node.Concurrency(),
	}
}

// ruleStats adds to st what r's rules in force know: breaker states and
// what each hotspot rule counted. It returns the binding it read.
func (e *Engine) ruleStats(r *resource, st *ResourceStats) *binding {
	rs := e.rules.Load()
	b := r.bound.Load()
	if b == nil || b.rules != rs {
		b = e.bind(r, rs)
	}
	now := e.clock.Nanos()
	for _, bb := range b.breakers {
		br := bb.b
		value, calls := br.Reading(now)
		st.CircuitBreakers = append(st.CircuitBreakers, BreakerStats{Rule: *br.Rule(), State: br.State(),
			Value: value, Calls: calls, Transitions: BreakerTransitions{
				ClosedToOpen:     br.Transitions(circuitbreaker.Closed, circuitbreaker.Open),
				OpenToHalfOpen:   br.Transitions(circuitbreaker.Open, circuitbreaker.HalfOpen),
				HalfOpenToOpen:   br.Transitions(circuitbreaker.HalfOpen, circuitbreaker.Open),
				HalfOpenToClosed: br.Transitions(circuitbreaker.HalfOpen, circuitbreaker.Closed),
			}})
	}
	for _, hb := range b.hotspots {
		st.Hotspots = append(st.Hotspots, HotspotStats{Rule: *hb.l.Rule(), Tracked: hb.l.Tracked(),
			Skipped: hb.l.Skipped(), NoValue: hb.l.NoValue()})
	}
	return b
}
