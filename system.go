package sluice

import (
	"fmt"
	"time"

	"github.com/sluice-go/sluice/core/system"
)

// systemBinding is a system rule with its block errors for one resource.
type systemBinding struct {
	rule    *system.Rule
	blocked *BlockError
}

func (e *Engine) bindSystem(b *binding, name string) {
	for _, sr := range b.rules.system {
		rule := sr
		reason := fmt.Sprintf("%v above %v", rule.MetricType, rule.TriggerCount)
		if rule.Strategy == system.BBR {
			reason += ", and more inbound entries in flight than the service completes (BBR)"
		}
		b.system = append(b.system, systemBinding{rule: &rule,
			blocked: &BlockError{Resource: name, Type: BlockTypeSystem, Rule: &rule, Reason: reason}})
	}
}

// checkSystem runs the system rules for an Inbound entry and returns the
// error of the first that blocks it, or nil.
func (e *Engine) checkSystem(b *binding, now int64) error {
	for i := range b.system {
		sb := &b.system[i]
		v, ok := e.systemMetric(sb.rule.MetricType, now)
		if !ok || v <= sb.rule.TriggerCount {
			continue
		}
		if sb.rule.Strategy == system.BBR && e.inbound.bbrAdmits(now) {
			continue
		}
		return sb.blocked
	}
	return nil
}

// systemMetric returns the value of m now, and false for no reading.
func (e *Engine) systemMetric(m system.MetricType, now int64) (float64, bool) {
	switch m {
	case system.Load:
		return e.sampler.metrics[metricLoad].load()
	case system.CPUUsage:
		return e.sampler.metrics[metricCPU].load()
	case system.MemoryUsage:
		return e.sampler.metrics[metricMemory].load()
	case system.AvgRT:
		return e.inbound.read(&e.inbound.avgRTms, now), true
	case system.Concurrency:
		return float64(e.inbound.node.Concurrency()), true
	case system.InboundQPS:
		return e.inbound.read(&e.inbound.qps, now), true
	}
	return 0, false
}

// SystemStats is a reading of what system rules check: the latest sample
// of the machine metrics, and the statistics of every Inbound entry,
// whatever its resource, over the last second.
type SystemStats struct {
	// Readings is the latest sample of load, CPU and memory usage. The
	// engine samples only while system rules on those metrics are loaded,
	// every WithSystemSampleInterval; otherwise it holds no reading.
	system.Readings
	// Sampling reports whether the sampler is running.
	Sampling bool
	// PassQPS, BlockQPS, CompleteQPS and ErrorQPS are inbound permits
	// admitted, blocked, exited and exited with an error, per second over
	// the last second.
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
	r := e.inbound.node.Rates(now)
	peak, minRT := e.inbound.node.Peak(now, time.Second, system.BBRWindows)
	e.sampler.mu.Lock()
	running := e.sampler.running
	e.sampler.mu.Unlock()
	return SystemStats{
		Readings:    e.sampler.readings(),
		Sampling:    running,
		PassQPS:     r.Pass,
		BlockQPS:    r.Block,
		CompleteQPS: r.Complete,
		ErrorQPS:    r.Error,
		AvgRT:       r.AvgRT,
		MinRT:       r.MinRT,
		Concurrency: e.inbound.node.Concurrency(),
		BBRLimit:    float64(peak) * minRT.Seconds(),
	}
}
