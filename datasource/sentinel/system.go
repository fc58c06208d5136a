package sentinel

import (
	"math"

	"github.com/sluice-go/sluice/core/system"
)

// sentinelSystemRule is Sentinel Go's system.Rule as JSON.
type sentinelSystemRule struct {
	ID           string  `json:"id,omitempty"`
	MetricType   uint32  `json:"metricType"`
	TriggerCount float64 `json:"triggerCount"`
	Strategy     int32   `json:"strategy"`
}

// SystemRules converts a JSON array of Sentinel Go system rules (the JSON
// of Sentinel Go's system.Rule, as its SystemRuleJsonArrayParser reads it)
// into Sluice system rules, one for each, in order.
//
// metricType 0, 1, 2, 3, 4 (Sentinel Go's Load, AvgRT, Concurrency,
// InboundQPS, CpuUsage) become Load, AvgRT, Concurrency, InboundQPS,
// CPUUsage. strategy 1 is BBR and -1 (NoAdaptive) or 0 (what Sentinel Go
// reads when the field is left out, and treats as no adaptive strategy)
// NoAdaptive; Sentinel Go applies BBR to Load and CpuUsage only, so for the
// other metrics strategy 1 becomes NoAdaptive.
//
// Sentinel Go blocks on AvgRT, Concurrency and InboundQPS when the metric
// (the count before the entry asking) is >= triggerCount, so it admits up to
// ceil(triggerCount) entries in flight, or per second. Sluice counts the
// entry asking and admits floor(TriggerCount), so TriggerCount is
// ceil(triggerCount): the same entries pass, 0 included (every inbound entry
// blocked). Sluice blocks on AvgRT when it is > TriggerCount, so
// TriggerCount is the largest float64 below triggerCount, which blocks at
// exactly the same readings; triggerCount 0 on AvgRT (Sentinel Go: block
// every inbound entry, even with no response time yet) has no Sluice
// counterpart and is refused.
//
// An error is an *Error.
func SystemRules(data []byte) ([]system.Rule, error) {
	return convertArray("system", data, func(s *sentinelSystemRule) string { return "" }, convertSystem)
}

func convertSystem(id rule, s *sentinelSystemRule) (system.Rule, error) {
	r := system.Rule{ID: s.ID, TriggerCount: s.TriggerCount}
	switch s.MetricType {
	case 0:
		r.MetricType = system.Load
	case 1:
		r.MetricType = system.AvgRT
	case 2:
		r.MetricType = system.Concurrency
	case 3:
		r.MetricType = system.InboundQPS
	case 4:
		r.MetricType = system.CPUUsage
	default:
		return r, id.enum("metricType", int64(s.MetricType),
			"0 (Load)", "1 (AvgRT)", "2 (Concurrency)", "3 (InboundQPS)", "4 (CpuUsage)")
	}
	switch s.Strategy {
	case -1, 0:
		r.Strategy = system.NoAdaptive
	case 1:
		if r.MetricType == system.Load || r.MetricType == system.CPUUsage {
			r.Strategy = system.BBR
		}
	default:
		return r, id.enum("strategy", int64(s.Strategy), "-1 (NoAdaptive)", "0 (NoAdaptive, the default)", "1 (BBR)")
	}
	if math.IsInf(s.TriggerCount, 0) || math.IsNaN(s.TriggerCount) || s.TriggerCount < 0 {
		return r, nil // refused by the engine, as by Sentinel Go
	}
	switch r.MetricType {
	case system.Concurrency, system.InboundQPS:
		r.TriggerCount = math.Ceil(s.TriggerCount)
	case system.AvgRT:
		if s.TriggerCount == 0 {
			return r, id.unsupported("triggerCount",
				"triggerCount 0 on metricType 1 (AvgRT): Sentinel Go then blocks every inbound entry (it blocks at >= triggerCount); Sluice blocks only above TriggerCount")
		}
		r.TriggerCount = math.Nextafter(s.TriggerCount, 0)
	}
	return r, nil
}
