package sentinel

import (
	"time"

	"github.com/sluice-go/sluice/core/flow"
)

// sentinelFlowRule is Sentinel Go's flow.Rule (core/flow/rule.go) as JSON:
// its field names and Go types, so that it accepts exactly the JSON
// Sentinel Go's FlowRuleJsonArrayParser accepts, unknown fields aside.
type sentinelFlowRule struct {
	ID                     string  `json:"id,omitempty"`
	Resource               string  `json:"resource"`
	TokenCalculateStrategy int32   `json:"tokenCalculateStrategy"`
	ControlBehavior        int32   `json:"controlBehavior"`
	Threshold              float64 `json:"threshold"`
	RelationStrategy       int32   `json:"relationStrategy"`
	RefResource            string  `json:"refResource"`
	MaxQueueingTimeMs      uint32  `json:"maxQueueingTimeMs"`
	WarmUpPeriodSec        uint32  `json:"warmUpPeriodSec"`
	WarmUpColdFactor       uint32  `json:"warmUpColdFactor"`
	StatIntervalInMs       uint32  `json:"statIntervalInMs"`
	LowMemUsageThreshold   int64   `json:"lowMemUsageThreshold"`
	HighMemUsageThreshold  int64   `json:"highMemUsageThreshold"`
	MemLowWaterMarkBytes   int64   `json:"memLowWaterMarkBytes"`
	MemHighWaterMarkBytes  int64   `json:"memHighWaterMarkBytes"`
}

// FlowRules converts a JSON array of Sentinel Go flow rules (the JSON of
// Sentinel Go's flow.Rule, as its FlowRuleJsonArrayParser reads it) into
// Sluice flow rules, one for each, in order.
//
// Enums keep their meaning: tokenCalculateStrategy 0, 1, 2 become Direct,
// WarmUp, MemoryAdaptive; controlBehavior 0, 1 Reject, Throttling;
// relationStrategy 0, 1 CurrentResource, AssociatedResource.
// statIntervalInMs and maxQueueingTimeMs become durations in milliseconds,
// warmUpPeriodSec in seconds; statIntervalInMs 0 stays 0 (1 s in both
// libraries). A field that the rule's strategy or behaviour does not use,
// and that Sentinel Go therefore ignores, is dropped (see the package
// documentation for the full table).
//
// The rules are not validated: loading them does that. An error is an
// *Error; see the package documentation for what is refused.
func FlowRules(data []byte) ([]flow.Rule, error) {
	return convertArray("flow", data, func(s *sentinelFlowRule) string { return s.Resource }, convertFlow)
}

func convertFlow(id rule, s *sentinelFlowRule) (flow.Rule, error) {
	r := flow.Rule{ID: s.ID, Resource: s.Resource, Threshold: s.Threshold}
	switch s.TokenCalculateStrategy {
	case 0:
		r.Strategy = flow.Direct
	case 1:
		r.Strategy = flow.WarmUp
	case 2:
		r.Strategy = flow.MemoryAdaptive
	default:
		return r, id.enum("tokenCalculateStrategy", int64(s.TokenCalculateStrategy),
			"0 (Direct)", "1 (WarmUp)", "2 (MemoryAdaptive)")
	}
	switch s.ControlBehavior {
	case 0:
		r.ControlBehavior = flow.Reject
	case 1:
		r.ControlBehavior = flow.Throttling
	default:
		return r, id.enum("controlBehavior", int64(s.ControlBehavior), "0 (Reject)", "1 (Throttling)")
	}
	switch s.RelationStrategy {
	case 0:
		r.RelationStrategy = flow.CurrentResource
	case 1:
		// Sentinel Go's Throttling checker never reads the statistics the
		// relation selects, so it ignores the relation: dropped, unless
		// refResource is empty, which both libraries refuse.
		if r.ControlBehavior != flow.Throttling || s.RefResource == "" {
			r.RelationStrategy = flow.AssociatedResource
			r.RefResource = s.RefResource
		}
	default:
		return r, id.enum("relationStrategy", int64(s.RelationStrategy),
			"0 (CurrentResource)", "1 (AssociatedResource)")
	}
	r.StatInterval = time.Duration(s.StatIntervalInMs) * time.Millisecond
	if r.RelationStrategy == flow.AssociatedResource && s.StatIntervalInMs == 1000 {
		// Sentinel Go reads the ref resource's own 1 s metric for 0 and
		// 1000 alike; Sluice counts it over the engine's statistics window
		// (1 s by default), which a StatInterval of 0 says.
		r.StatInterval = 0
	}
	if r.ControlBehavior == flow.Throttling {
		r.MaxQueueingTime = time.Duration(s.MaxQueueingTimeMs) * time.Millisecond
	}
	if r.Strategy == flow.WarmUp {
		r.WarmUpPeriod = time.Duration(s.WarmUpPeriodSec) * time.Second
		// Sentinel Go replaces a factor <= 1 by 3 (and refuses 1); Sluice
		// reads 0 as 3 and refuses 1.
		r.WarmUpColdFactor = float64(s.WarmUpColdFactor)
	}
	if r.Strategy == flow.MemoryAdaptive {
		switch {
		case s.LowMemUsageThreshold <= 0:
			return r, id.unsupported("lowMemUsageThreshold",
				"lowMemUsageThreshold %d: Sentinel Go refuses a MemoryAdaptive rule unless it is > 0",
				s.LowMemUsageThreshold)
		case s.HighMemUsageThreshold <= 0 || s.HighMemUsageThreshold >= s.LowMemUsageThreshold:
			return r, id.unsupported("highMemUsageThreshold",
				"highMemUsageThreshold %d: Sentinel Go refuses a MemoryAdaptive rule unless it is > 0 and < lowMemUsageThreshold (%d)",
				s.HighMemUsageThreshold, s.LowMemUsageThreshold)
		case s.MemLowWaterMarkBytes < 0:
			return r, id.unsupported("memLowWaterMarkBytes",
				"memLowWaterMarkBytes %d: a negative byte count has no Sluice counterpart", s.MemLowWaterMarkBytes)
		case s.MemHighWaterMarkBytes < 0:
			return r, id.unsupported("memHighWaterMarkBytes",
				"memHighWaterMarkBytes %d: a negative byte count has no Sluice counterpart", s.MemHighWaterMarkBytes)
		}
		r.LowMemUsageThreshold = float64(s.LowMemUsageThreshold)
		r.HighMemUsageThreshold = float64(s.HighMemUsageThreshold)
		r.MemLowWaterMark = uint64(s.MemLowWaterMarkBytes)
		r.MemHighWaterMark = uint64(s.MemHighWaterMarkBytes)
	}
	return r, nil
}
