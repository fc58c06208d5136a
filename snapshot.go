package sluice

import (
	"cmp"
	"slices"
	"time"

	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/stat"
)

// ResourceSnapshot is what the engine has counted for one resource since it
// first tracked it, and the state of the rules on it now. The counts are
// exact and cumulative: each reading of one is at least the one before (a
// Prometheus counter), so the traffic of an interval is the difference of
// two snapshots. Read one with Engine.Snapshot.
type ResourceSnapshot struct {
	Resource string
	// Passed and Blocked count permits (entries times their batch count,
	// as the QPS figures of Stats do) admitted and refused; Completed and
	// Errors those that exited, and exited with an error (as the engine's
	// error classifier judges it).
	Passed, Blocked, Completed, Errors int64
	// Blocks splits Blocked by block type and rule, sorted by type, then
	// rule ID. A block by a custom checker is of BlockTypeCustom under the
	// rule "" (or the ID of the rule its own BlockError names).
	Blocks []BlockCount
	// ResponseTime is the distribution of the response times of the
	// Completed permits, from the call to Entry (so including any queueing
	// wait) to Exit.
	ResponseTime RTHistogram
	// InFlight is the number of entries in flight now (Stats.Concurrency).
	InFlight int64
	// Flow is each flow rule on the resource, in rule order, with the
	// threshold in force now.
	Flow []FlowStats
	// CircuitBreakers and Hotspots are as in Stats.
	CircuitBreakers []BreakerStats
	Hotspots        []HotspotStats
}

// BlockCount is the count of the permits blocked by one rule.
type BlockCount struct {
	Type BlockType
	// Rule is the ID of the rule that blocked, "" when it has none. A
	// resource counts at most 64 (type, rule) pairs; blocks past them
	// count under their type and "".
	Rule    string
	Blocked int64
}

// FlowStats is a flow rule on a resource with the threshold it holds the
// resource to now.
type FlowStats struct {
	Rule flow.Rule
	// Threshold is the permits allowed per Rule.Interval() now: the rule's
	// Threshold, or under WarmUp and MemoryAdaptive what those strategies
	// allow at this moment.
	Threshold float64
}

// PerSecond returns the threshold in permits per second.
func (f FlowStats) PerSecond() float64 { return f.Threshold / f.Rule.Interval().Seconds() }

// RTBuckets is the number of buckets of an RTHistogram.
const RTBuckets = stat.RTBuckets

// RTBound returns the upper bound, inclusive, of bucket i of an
// RTHistogram: 0.5, 1, 2, 5, 10, 20, 50, 100, 200 and 500 ms, then 1, 2, 5
// and 10 s for i from 0 to RTBuckets-2. The last bucket, past 10 s, has no
// bound: RTBound returns a negative duration for it and for any other i.
func RTBound(i int) time.Duration { return stat.RTBound(i) }

// RTHistogram is a distribution of response times in fixed buckets, counted
// in permits (an entry of batch n counts n times, as in Completed).
type RTHistogram struct {
	// Counts[i] counts the response times at most RTBound(i) and over
	// RTBound(i-1); Counts[RTBuckets-1] those over 10 s. They are not
	// cumulative (a Prometheus bucket "le" is the sum of Counts[0..i]).
	Counts [RTBuckets]int64
	// Sum is the sum of the response times, in seconds.
	Sum float64
}

// Count returns the number of response times counted.
func (h *RTHistogram) Count() int64 {
	var n int64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) of the response times,
// interpolating linearly inside the bucket it falls in, as Prometheus's
// histogram_quantile does; a quantile in the last bucket reads as 10 s. It
// returns 0 for an empty histogram.
func (h *RTHistogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := min(max(q, 0), 1) * float64(total)
	var below int64
	for i, c := range h.Counts {
		if c == 0 || float64(below+c) < rank {
			below += c
			continue
		}
		if i == RTBuckets-1 {
			return RTBound(i - 1)
		}
		lower := time.Duration(0)
		if i > 0 {
			lower = RTBound(i - 1)
		}
		f := (rank - float64(below)) / float64(c)
		return lower + time.Duration(f*float64(RTBound(i)-lower))
	}
	return RTBound(RTBuckets - 2)
}

// Snapshot returns what the engine has counted for a tracked resource and
// the state of its rules, and false if the engine has never tracked it.
// The empty name reads UnnamedResource, and UntrackedResources reads the
// blocks of the resources past the bound (Blocks and Blocked only).
//
// It takes no lock that Entry takes, and allocates only the slices of the
// rules and blocks it returns: reading 10,000 resources once a second is
// cheap (see the benchmark module).
func (e *Engine) Snapshot(name string) (ResourceSnapshot, bool) {
	if name == "" {
		name = UnnamedResource
	}
	if name == UntrackedResources {
		s := ResourceSnapshot{Resource: name, Blocks: blocksOf(&e.untrackedBlocks)}
		for _, b := range s.Blocks {
			s.Blocked += b.Blocked
		}
		return s, true
	}
	v, ok := e.resources.Load(name)
	if !ok {
		return ResourceSnapshot{}, false
	}
	r := v.(*resource)
	t := r.node.Totals()
	s := ResourceSnapshot{
		Resource: r.name,
		Passed:   t.Pass, Blocked: t.Block, Completed: t.Complete, Errors: t.Error,
		Blocks:       blocksOf(&r.blocks),
		ResponseTime: RTHistogram{Counts: t.RT, Sum: t.RTSeconds},
		InFlight:     r.node.Concurrency(),
	}
	var st ResourceStats
	b := e.ruleStats(r, &st)
	s.CircuitBreakers, s.Hotspots = st.CircuitBreakers, st.Hotspots
	if len(b.flow) > 0 {
		now := e.clock.Nanos()
		s.Flow = make([]FlowStats, len(b.flow))
		for i, fb := range b.flow {
			s.Flow[i] = FlowStats{Rule: *fb.c.Rule(), Threshold: fb.c.Threshold(now)}
		}
	}
	return s, true
}

// blocksOf reads c, sorted by type and rule.
func blocksOf(c *blockCounts) []BlockCount {
	var out []BlockCount
	c.each(func(bc *blockCount) {
		out = append(out, BlockCount{Type: bc.typ, Rule: bc.rule, Blocked: bc.n.Load()})
	})
	slices.SortFunc(out, func(a, b BlockCount) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

// EngineSnapshot is what the engine as a whole has counted, and its state
// now. Read it with Engine.EngineSnapshot.
type EngineSnapshot struct {
	// Resources is the number of tracked resources.
	Resources int
	// RuleLoads counts the rule loads that took effect (LoadRules and the
	// Load*Rules calls, those of rule sources included), RuleRejections
	// those refused for an invalid rule, since New.
	RuleLoads, RuleRejections int64
	// Rules is the number of rules in force, by family.
	Rules RuleCounts
	// Inbound is what the engine counted of every Inbound entry, whatever
	// its resource (those past the bound included), since New. Unlike a
	// resource's counts, these are entries, not permits: a batch entry
	// counts once, as system rules count it.
	Inbound InboundTotals
	// System is the system readings and inbound rates now, as SystemStats
	// returns them (BBRLimit included).
	System SystemStats
}

// RuleCounts is a number of rules by family.
type RuleCounts struct {
	Flow, Isolation, CircuitBreaker, Hotspot, System int
}

// InboundTotals is what the engine counted of Inbound entries.
type InboundTotals struct {
	Passed, Blocked, Completed, Errors int64
	ResponseTime                       RTHistogram
	// InFlight is the number of inbound entries in flight now.
	InFlight int64
}

// EngineSnapshot returns what the engine as a whole has counted and its
// state now. It takes no lock that Entry takes.
func (e *Engine) EngineSnapshot() EngineSnapshot {
	rs := e.rules.Load()
	t := e.inbound.node.Totals()
	return EngineSnapshot{
		Resources:      int(e.resourceCount.Load()),
		RuleLoads:      e.ruleLoads.Load(),
		RuleRejections: e.ruleRejections.Load(),
		Rules: RuleCounts{Flow: len(rs.src.Flow), Isolation: len(rs.src.Isolation),
			CircuitBreaker: len(rs.src.CircuitBreaker), Hotspot: len(rs.src.Hotspot), System: len(rs.src.System)},
		Inbound: InboundTotals{Passed: t.Pass, Blocked: t.Block, Completed: t.Complete, Errors: t.Error,
			ResponseTime: RTHistogram{Counts: t.RT, Sum: t.RTSeconds}, InFlight: e.inbound.node.Concurrency()},
		System: e.SystemStats(),
	}
}
