package sentinel

import (
	"github.com/sluice-go/sluice/core/isolation"
)

// sentinelIsolationRule is Sentinel Go's isolation.Rule as JSON.
type sentinelIsolationRule struct {
	ID         string `json:"id,omitempty"`
	Resource   string `json:"resource"`
	MetricType int32  `json:"metricType"`
	Threshold  uint32 `json:"threshold"`
}

// IsolationRules converts a JSON array of Sentinel Go isolation rules (the
// JSON of Sentinel Go's isolation.Rule, as its IsolationRuleJsonArrayParser
// reads it) into Sluice isolation rules, one for each, in order.
//
// metricType must be 0 (Concurrency), the only one Sentinel Go has; it has
// no Sluice field, since concurrency is all an isolation rule limits.
// threshold becomes Threshold. threshold 0 is refused: Sentinel Go does not
// load such a rule, while in Sluice it would block every entry.
//
// An error is an *Error.
func IsolationRules(data []byte) ([]isolation.Rule, error) {
	return convertArray("isolation", data, func(s *sentinelIsolationRule) string { return s.Resource }, convertIsolation)
}

func convertIsolation(id rule, s *sentinelIsolationRule) (isolation.Rule, error) {
	r := isolation.Rule{ID: s.ID, Resource: s.Resource, Threshold: int64(s.Threshold)}
	if s.MetricType != 0 {
		return r, id.enum("metricType", int64(s.MetricType), "0 (Concurrency)")
	}
	if s.Threshold == 0 {
		return r, id.unsupported("threshold",
			"threshold 0: Sentinel Go refuses the rule, while Sluice would block every entry")
	}
	return r, nil
}
