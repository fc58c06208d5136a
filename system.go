package sluice

import (
	"fmt"
	"time"

	"github.com/sluice-go/sluice/core/system"
)

// systemBinding is a system rule with its block error for one resource.
type systemBinding struct {
	rule    *system.Rule
	blocked *BlockError
}

// compileSystem makes the rule set's system bindings, whose block errors
// name no resource: templates for bindSystem.
func compileSystem(rules []system.Rule) []systemBinding {
	out := make([]systemBinding, len(rules))
	for i := range rules {
		rule := rules[i]
		reason := fmt.Sprintf("%v above %v", rule.MetricType, rule.TriggerCount)
		if rule.Strategy == system.BBR {
			reason += ", and more inbound entries in flight than the service completes (BBR)"
		}
		out[i] = systemBinding{rule: &rule, blocked: &BlockError{Type: BlockTypeSystem, Rule: &rule, Reason: reason}}
	}
	return out
}

// bindSystem gives b the rule set's system rules, with block errors naming
// the resource.
func (e *Engine) bindSystem(b *binding, name string) {
	for _, sb := range b.rules.system {
		be := *sb.blocked
		be.Resource = name
		b.system = append(b.system, systemBinding{rule: sb.rule, blocked: &be})
	}
}

// checkSystem runs the system rules of b for an Inbound entry and returns
// the block error of the first that blocks it, or nil.
func (e *Engine) checkSystem(b *binding, now int64) error {
	if i := e.systemBlocking(b.system, now); i >= 0 {
		return b.system[i].blocked
	}
	return nil
}

// checkSystemUntracked is checkSystem for an Inbound entry to an untracked
// resource: its block error, made on the spot, names the resource.
func (e *Engine) checkSystemUntracked(rs *ruleSet, name string, now int64) error {
	if i := e.systemBlocking(rs.system, now); i >= 0 {
		be := *rs.system[i].blocked
		be.Resource = name
		return &be
	}
	return nil
}

// systemBlocking returns the index of the first rule of rules that blocks
// an Inbound entry now, or -1.
func (e *Engine) systemBlocking(rules []systemBinding, now int64) int {
	for i := range rules {
		r := rules[i].rule
		v, ok := e.systemMetric(r.MetricType, now)
		if !ok || v <= r.TriggerCount {
			continue
		}
		if r.Strategy == system.BBR && e.inbound.bbrAdmits(now) {
			continue
		}
		return i
	}
	return -1
}

// systemMetric returns the value of m now, and false for no reading.
func (e *Engine) systemMetric(m system.MetricType, now int64) (float64, bool) {
	switch m {
	case system.Load:
		return e.sampler.current(metricLoad, now)
	case system.CPUUsage:
		return e.sampler.current(metricCPU, now)
	case system.MemoryUsage:
		return e.sampler.current(metricMemory, now)
	case system.AvgRT:
		return e.inbound.reading(now).avgRTms, true
	case system.Concurrency:
		return float64(e.inbound.node.Concurrency()), true
	case system.InboundQPS:
		return e.inbound.reading(now).qps, true
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
	// the last second. They count entries, not permits (WithBatchCount),
	// and include the entries to resources past the engine's bound.
	PassQPS, BlockQPS, CompleteQPS, ErrorQPS float64
	// AvgRT and MinRT are the mean and smallest response times of the
	// inbound entries that exited in the last second.
	AvgRT, MinRT time.Duration
	// Concurrency is the number of inbound entries in flight now (entries
	// still waiting in a Throttling queue are not counted).
	Concurrency int64
	// BBRLimit is maxCompletedPerSecond × minRT over the last
	// system.BBRWindows seconds: under a BBR rule above its trigger, an
	// inbound entry is admitted while the entries in flight are at most
	// this many.
	BBRLimit float64
}

// SystemStats returns the system readings and the inbound statistics.
func (e *Engine) SystemStats() SystemStats {
	now := e.clock.Nanos()
	in, r := e.inbound.compute(now)
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
		BBRLimit:    in.bbrLimit,
	}
}
