package sluice

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/core/system"
)

// systemBinding is a system rule with its block error for one resource.
type systemBinding struct {
	rule    *system.Rule
	blocked *BlockError
	// slots and tightest, for a NoAdaptive Concurrency rule: the entries
	// in flight allowed by the tightest such rule of the set, and its index,
	// which a block names. An entry reserves its slot once, against it.
	slots    int64
	tightest int
	// since, for an InboundQPS rule, is when the rule set's first such
	// check came (+ 1; 0: none yet), shared by the set's bindings.
	since *atomic.Int64
}

// compileSystem makes the rule set's system bindings, whose block errors
// name no resource: templates for bindSystem.
func compileSystem(rules []system.Rule) []systemBinding {
	out := make([]systemBinding, len(rules))
	tightest := -1
	since := new(atomic.Int64)
	for i := range rules {
		rule := rules[i]
		reason := fmt.Sprintf("%v above %v", rule.MetricType, rule.TriggerCount)
		if rule.Strategy == system.BBR {
			reason += ", and more inbound entries in flight than the service completes (BBR)"
		}
		out[i] = systemBinding{rule: &rule, blocked: &BlockError{Type: BlockTypeSystem, Rule: &rule, Reason: reason},
			since: since}
		if exactConcurrency(&rule) && (tightest < 0 || rule.TriggerCount < rules[tightest].TriggerCount) {
			tightest = i
		}
	}
	for i := range out {
		if exactConcurrency(out[i].rule) {
			out[i].slots = int64(min(math.Floor(rules[tightest].TriggerCount), 1<<62))
			out[i].tightest = tightest
		}
	}
	return out
}

// exactConcurrency reports whether r holds the entries in flight to its
// trigger exactly: a NoAdaptive Concurrency rule.
func exactConcurrency(r *system.Rule) bool {
	return r.MetricType == system.Concurrency && r.Strategy == system.NoAdaptive
}

// bindSystem gives b the rule set's system rules, with block errors naming
// the resource.
func (e *Engine) bindSystem(b *binding, name string) {
	for _, sb := range b.rules.system {
		be := *sb.blocked
		be.Resource = name
		sb.blocked = &be
		b.system = append(b.system, sb)
	}
}

// checkSystem runs the system rules of b for an Inbound entry and returns
// the block error of the first that blocks it, or nil; h holds what the
// check took of the inbound statistics (given back if it blocks).
func (e *Engine) checkSystem(b *binding, now int64, h *inboundHold) error {
	if i := e.systemBlocking(b.system, now, h); i >= 0 {
		return b.system[i].blocked
	}
	return nil
}

// checkSystemUntracked is checkSystem for an Inbound entry to an untracked
// resource: its block error, made on the spot, names the resource.
func (e *Engine) checkSystemUntracked(rs *ruleSet, name string, now int64, h *inboundHold) error {
	if i := e.systemBlocking(rs.system, now, h); i >= 0 {
		be := *rs.system[i].blocked
		be.Resource = strings.Clone(name) // the caller's string may live on its stack
		return &be
	}
	return nil
}

// systemBlocking returns the index of the first rule of rules that blocks
// an Inbound entry now, or -1. The entry's own reservations, a slot under a
// NoAdaptive Concurrency rule and a pass under InboundQPS rules, go into h;
// when a rule blocks, they are given back.
//
// Every reading counts this entry: Concurrency is the entries in flight
// besides it plus one, InboundQPS the entries admitted over the last second
// with it (in the tally, exact; in the rule set's first second, the inbound
// statistics too, which count the entries admitted before it).
func (e *Engine) systemBlocking(rules []systemBinding, now int64, h *inboundHold) int {
	in := &e.inbound
	qps := int64(-1)
	for i := range rules {
		sb := &rules[i]
		r := sb.rule
		var v float64
		ok := true
		switch r.MetricType {
		case system.Concurrency:
			if exactConcurrency(r) {
				if h.slot || in.reserveSlot(h, sb.slots) {
					continue
				}
				h.release()
				return sb.tightest
			}
			v = float64(e.inflightBesides(h) + 1)
		case system.InboundQPS:
			if qps < 0 {
				qps = in.reservePass(h, now)
				if sb.firstSecond(now) {
					qps = max(qps, in.passed(now)+1)
				}
			}
			v = float64(qps)
		case system.AvgRT:
			v = in.avgRTms(now)
		default:
			v, ok = e.systemMetric(r.MetricType, now)
		}
		if !ok || v <= r.TriggerCount {
			continue
		}
		if r.Strategy == system.BBR && bbrAdmits(e.inflightBesides(h), in.settled(now).bbrLimit) {
			continue
		}
		h.release()
		return i
	}
	return -1
}

// firstSecond reports whether now is within the first second (and the
// slack of its buckets) of the rule set's InboundQPS checks: until then, the
// tally may lack entries admitted under an older rule set.
func (sb *systemBinding) firstSecond(now int64) bool {
	first := sb.since.Load()
	if first == 0 {
		sb.since.CompareAndSwap(0, max(now, 0)+1)
		first = sb.since.Load()
	}
	return now-(first-1) < int64(inboundInterval)+2*inboundBucket
}

// inflightBesides returns the inbound entries in flight, the one holding h
// not counted.
func (e *Engine) inflightBesides(h *inboundHold) int64 {
	n := e.inbound.node.Concurrency()
	if h.slot {
		n--
	}
	return n
}

// systemMetric returns the value of a machine metric now, and false for no
// reading.
func (e *Engine) systemMetric(m system.MetricType, now int64) (float64, bool) {
	switch m {
	case system.Load:
		return e.sampler.current(metricLoad, now)
	case system.CPUUsage:
		return e.sampler.current(metricCPU, now)
	case system.MemoryUsage:
		return e.sampler.current(metricMemory, now)
	}
	return 0, false
}

// SystemStats is a reading of what system rules check: the latest sample
// of the machine metrics, and the statistics of every Inbound entry,
// whatever its resource, over the last second.
type SystemStats struct {
	// Readings is the latest sample of load, CPU and memory usage. The
	// engine samples only while system rules on those metrics are loaded,
	// every WithSystemSampleInterval; otherwise it holds no reading. A
	// sample older than three intervals (a reader that hangs) is no
	// reading.
	system.Readings
	// Sampling reports whether the sampler is running.
	Sampling bool
	// PassQPS, BlockQPS, CompleteQPS and ErrorQPS are inbound entries
	// admitted, blocked, exited and exited with an error, per second over
	// exactly the last second (the oldest bucket counted pro rata; system
	// rules read whole buckets, see system.InboundQPS). They count entries,
	// not permits (WithBatchCount), and include the entries to resources
	// past the engine's bound.
	PassQPS, BlockQPS, CompleteQPS, ErrorQPS float64
	// AvgRT and MinRT are the mean and smallest response times of the
	// inbound entries that exited in the last second.
	AvgRT, MinRT time.Duration
	// Concurrency is the number of inbound entries in flight now: from
	// when they passed their checks (a wait in a Throttling queue
	// included) until Exit.
	Concurrency int64
	// BBRLimit is maxCompletedPerSecond × minRT over the last
	// system.BBRWindows seconds, minRT the smallest mean response time of
	// one 100 ms bucket (see system.BBR): under a BBR rule above its
	// trigger, an inbound entry is admitted while the entries in flight
	// besides it are at most one or at most this many.
	BBRLimit float64
}

// SystemStats returns the system readings and the inbound statistics.
func (e *Engine) SystemStats() SystemStats {
	now := e.clock.Nanos()
	r := e.inbound.node.Rates(now)
	return SystemStats{
		Readings:    e.sampler.readings(now),
		Sampling:    e.sampler.running.Load(),
		PassQPS:     r.Pass,
		BlockQPS:    r.Block,
		CompleteQPS: r.Complete,
		ErrorQPS:    r.Error,
		AvgRT:       r.AvgRT,
		MinRT:       r.MinRT,
		Concurrency: e.inbound.node.Concurrency(),
		BBRLimit:    e.inbound.bbrLimit(now),
	}
}
