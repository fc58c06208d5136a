// Package system holds adaptive system-protection rules and the readers of
// the machine metrics they check: the last line of defence when a service's
// capacity is not known in advance. When the machine (or the container) is
// saturated, a system rule admits only as much inbound traffic as the
// service is currently completing.
//
// System rules apply to Inbound entries only (sluice.WithTrafficType
// (sluice.Inbound)); the adapters mark server-side traffic Inbound. An
// Outbound entry is never checked against them.
//
// CPU and memory usage are ratios in [0, 1] of what is available to this
// process: inside a container, its cgroup's CPU quota and memory limit
// (cgroup v2 or v1, the tightest limit of the process's cgroup and its
// ancestors); outside one, the host's CPUs and memory.
package system

import (
	"encoding/json"
	"math"

	"github.com/sluice-go/sluice/core/base"
)

// MetricType names what a rule measures.
type MetricType uint8

const (
	// Load is the 1-minute load average of the machine (inside a
	// container too: Linux does not keep one per cgroup). It is the zero
	// value.
	Load MetricType = iota
	// CPUUsage is the CPU usage ratio in [0, 1] of the CPU available to
	// the process (its cgroup quota, or the host's CPUs).
	CPUUsage
	// MemoryUsage is the memory usage ratio in [0, 1] of the memory
	// available to the process (its cgroup limit, or the host's memory).
	MemoryUsage
	// AvgRT is the mean response time, in milliseconds, of the inbound
	// entries that exited in the last second: the current 100 ms bucket of
	// the engine's inbound statistics and the nine before it, read live at
	// each entry (an exit counts for the next entry). A rule acts while the
	// mean is above TriggerCount (Sentinel Go: at or above).
	AvgRT
	// Concurrency is the number of inbound entries in flight, the entry
	// being checked included: an entry counts from when it passes its
	// checks (its wait in a Throttling queue included) until Exit. A
	// NoAdaptive rule so holds at most ⌊TriggerCount⌋ entries in flight,
	// exactly, however many race for the last slots (each entry reserves
	// its slot; with several such rules, the tightest holds). For a whole
	// number that is what Sentinel Go admits (n < threshold).
	Concurrency
	// InboundQPS is the number of inbound entries admitted in the last
	// second (the current 100 ms bucket and the nine before it), the entry
	// being checked included, read live at each entry. A NoAdaptive rule so
	// admits at most ⌊TriggerCount⌋ entries in any such second, exactly,
	// however many race (each entry reserves its pass); entries admitted
	// before the rule was loaded count too. For a whole number that is what
	// Sentinel Go admits (qps < threshold). As the buckets are 100 ms, a
	// sliding second that straddles two such seconds may see up to twice
	// that.
	InboundQPS
)

var metricNames = []string{"Load", "CPUUsage", "MemoryUsage", "AvgRT", "Concurrency", "InboundQPS"}

// String returns the metric's name.
func (m MetricType) String() string { return base.EnumName("MetricType", metricNames, uint8(m)) }

// MarshalText returns the metric's name, such as "CPUUsage".
func (m MetricType) MarshalText() ([]byte, error) {
	return base.MarshalEnum("MetricType", metricNames, uint8(m))
}

// UnmarshalText parses a metric's name.
func (m *MetricType) UnmarshalText(b []byte) error {
	v, err := base.UnmarshalEnum("MetricType", metricNames, b)
	*m = MetricType(v)
	return err
}

// Strategy says what a rule does while its metric is above TriggerCount.
type Strategy uint8

const (
	// NoAdaptive blocks every inbound entry while the metric is above
	// TriggerCount. It is the default.
	NoAdaptive Strategy = iota
	// BBR, while the metric is above TriggerCount, still admits an
	// inbound entry if the inbound entries already in flight (this one not
	// counted) are at most one, or at most maxCompletedPerSecond × minRT:
	// what the service has shown it can complete (Little's law).
	// maxCompletedPerSecond is the largest number of inbound entries (not
	// permits) that exited in any of the last BBRWindows whole seconds, and
	// minRT the smallest mean response time of the entries that exited in
	// one 100 ms bucket of those seconds (as go-zero and Kratos take it):
	// the mean of a bucket, not one call's time, so that a route far
	// cheaper than the rest (a health check) does not drive the limit to
	// nothing. The seconds end at the start of the current bucket of the
	// engine's inbound statistics, and the limit is worked out again once
	// per bucket. With nothing completed yet the limit is 0, so entries
	// pass while at most one other is in flight, as in Sentinel Go.
	BBR
)

// BBRWindows is the number of one-second windows over which BBR looks for
// the most completions per second and the smallest response time.
const BBRWindows = 10

var strategyNames = []string{"NoAdaptive", "BBR"}

// String returns the strategy's name.
func (s Strategy) String() string { return base.EnumName("Strategy", strategyNames, uint8(s)) }

// MarshalText returns the strategy's name, such as "BBR".
func (s Strategy) MarshalText() ([]byte, error) {
	return base.MarshalEnum("Strategy", strategyNames, uint8(s))
}

// UnmarshalText parses a strategy's name.
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := base.UnmarshalEnum("Strategy", strategyNames, b)
	*s = Strategy(v)
	return err
}

// Rule protects the whole service: it applies to every Inbound entry,
// whatever its resource, and to no Outbound entry.
//
// A rule blocks nothing while its metric has no reading: a reader that
// failed, the first sample of CPU usage not taken yet, or a sample older
// than three sample intervals (a reader that hangs).
//
// The inbound statistics (AvgRT, Concurrency, InboundQPS, and BBR's
// completions) count entries, not permits: an entry with a batch count
// counts once. They include entries to resources past the engine's bound.
type Rule struct {
	// ID names the rule in errors and logs. Optional. JSON/YAML key: id.
	ID string `json:"id,omitempty"`
	// MetricType is what the rule measures. Default Load. JSON/YAML key:
	// metricType, a name such as "CPUUsage".
	MetricType MetricType `json:"metricType"`
	// TriggerCount is the value of the metric above which the rule acts:
	// a ratio in [0, 1] for CPUUsage and MemoryUsage, a load average for
	// Load, milliseconds for AvgRT, entries for Concurrency, entries per
	// second for InboundQPS. It must be finite and >= 0. JSON/YAML key:
	// triggerCount.
	TriggerCount float64 `json:"triggerCount"`
	// Strategy says what the rule does above TriggerCount. Default
	// NoAdaptive. JSON/YAML key: strategy, a name such as "BBR".
	Strategy Strategy `json:"strategy,omitempty"`
}

// Validate checks the rule on its own. Its errors are *base.RuleError values
// that wrap base.ErrInvalidRule and name the offending field.
func (r *Rule) Validate() error {
	bad := base.RuleCheck{Family: "system", ID: r.ID}.Fail
	switch {
	case int(r.MetricType) >= len(metricNames):
		return bad("MetricType", "unknown metric type %d", r.MetricType)
	case int(r.Strategy) >= len(strategyNames):
		return bad("Strategy", "unknown strategy %d", r.Strategy)
	case math.IsNaN(r.TriggerCount) || math.IsInf(r.TriggerCount, 0) || r.TriggerCount < 0:
		return bad("TriggerCount", "must be a finite number >= 0, got %v", r.TriggerCount)
	case (r.MetricType == CPUUsage || r.MetricType == MemoryUsage) && r.TriggerCount > 1:
		return bad("TriggerCount", "%v is a ratio in [0, 1] (0.8 means 80%%), got %v", r.MetricType, r.TriggerCount)
	}
	return nil
}

type ruleFields Rule

// UnmarshalJSON reads a rule strictly (see base.DecodeStrict): keys as
// the fields' doc comments give them, case and all, each once. An error is
// a *base.DecodeError that names the key.
func (r *Rule) UnmarshalJSON(b []byte) error {
	return base.DecodeRule("system", b, (*ruleFields)(r))
}

var _ json.Unmarshaler = (*Rule)(nil)
