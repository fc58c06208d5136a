package sentinel

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sluice-go/sluice/core/hotspot"
)

// sentinelHotspotRule is the JSON Sentinel Go's
// HotSpotParamRuleJsonArrayParser reads (ext/datasource.HotspotRule), plus
// paramKey from Sentinel Go's hotspot.Rule.
type sentinelHotspotRule struct {
	ID                string                  `json:"id,omitempty"`
	Resource          string                  `json:"resource"`
	MetricType        int32                   `json:"metricType"`
	ControlBehavior   int32                   `json:"controlBehavior"`
	ParamIndex        int                     `json:"paramIndex"`
	ParamKey          string                  `json:"paramKey"`
	Threshold         int64                   `json:"threshold"`
	MaxQueueingTimeMs int64                   `json:"maxQueueingTimeMs"`
	BurstCount        int64                   `json:"burstCount"`
	DurationInSec     int64                   `json:"durationInSec"`
	ParamsMaxCapacity int64                   `json:"paramsMaxCapacity"`
	SpecificItems     []sentinelSpecificValue `json:"specificItems"`
}

// sentinelSpecificValue is Sentinel Go's ext/datasource.SpecificValue: a
// value written as a string, with its kind.
type sentinelSpecificValue struct {
	ValKind   int    `json:"valKind"`
	ValStr    string `json:"valStr"`
	Threshold int64  `json:"threshold"`
}

// Sentinel Go's hotspot cache sizes (core/hotspot/params_metric.go), used
// when paramsMaxCapacity is not set.
const (
	sentinelParamsCapacityBase  = 4000
	sentinelParamsMaxCapacity   = 20000
	sentinelConcurrencyMaxCount = 4000
)

// HotspotRules converts a JSON array of Sentinel Go hot-parameter rules, in
// the JSON Sentinel Go's HotSpotParamRuleJsonArrayParser reads, into Sluice
// hotspot rules, one for each, in order.
//
// metricType 0 is Concurrency and 1 is QPS (Sentinel Go's order, the
// reverse of Sluice's). controlBehavior 0, 1 become Reject, Throttling; a
// Concurrency rule is always Reject, since Sentinel Go ignores its
// controlBehavior. durationInSec becomes Duration (seconds) and
// maxQueueingTimeMs MaxQueueingTime (milliseconds); like burstCount, each
// is dropped where Sentinel Go ignores it. paramsMaxCapacity <= 0 becomes
// the capacity Sentinel Go would use: min(20000, 4000 × durationInSec) for
// QPS, 4000 for Concurrency.
//
// specificItems is Sentinel Go's array of {"valKind", "valStr",
// "threshold"}: valKind 0 (KindInt) gives an int64 value, 1 (KindString) a
// string, 2 (KindBool) a bool, 3 (KindFloat64) a float64 rounded to 5
// decimals as Sentinel Go rounds it. When two items give the same value,
// the last one's threshold wins, as in Sentinel Go's map; the value keeps
// the place of its first item.
//
// An error is an *Error.
func HotspotRules(data []byte) ([]hotspot.Rule, error) {
	return convertArray("hotspot", data, func(s *sentinelHotspotRule) string { return s.Resource }, convertHotspot)
}

func convertHotspot(id rule, s *sentinelHotspotRule) (hotspot.Rule, error) {
	r := hotspot.Rule{
		ID:         s.ID,
		Resource:   s.Resource,
		ParamIndex: s.ParamIndex,
		ParamKey:   s.ParamKey,
		Threshold:  float64(s.Threshold),
	}
	switch s.MetricType {
	case 0:
		r.MetricType = hotspot.Concurrency
	case 1:
		r.MetricType = hotspot.QPS
	default:
		return r, id.enum("metricType", int64(s.MetricType), "0 (Concurrency)", "1 (QPS)")
	}
	switch s.ControlBehavior {
	case 0:
		r.ControlBehavior = hotspot.Reject
	case 1:
		if r.MetricType == hotspot.QPS {
			r.ControlBehavior = hotspot.Throttling
		}
	default:
		return r, id.enum("controlBehavior", int64(s.ControlBehavior), "0 (Reject)", "1 (Throttling)")
	}
	if s.ParamIndex > 0 && s.ParamKey != "" {
		return r, id.unsupported("paramKey",
			"paramKey %q with paramIndex %d: Sentinel Go refuses a rule with both, while Sluice would use paramKey",
			s.ParamKey, s.ParamIndex)
	}
	var err error
	if r.MetricType == hotspot.QPS {
		if s.DurationInSec <= 0 {
			return r, id.unsupported("durationInSec",
				"durationInSec %d: Sentinel Go refuses a QPS rule unless it is > 0, while Sluice would read 0 as 1s",
				s.DurationInSec)
		}
		if r.Duration, err = id.seconds("durationInSec", s.DurationInSec); err != nil {
			return r, err
		}
		if r.ControlBehavior == hotspot.Throttling {
			if r.MaxQueueingTime, err = id.millis("maxQueueingTimeMs", s.MaxQueueingTimeMs); err != nil {
				return r, err
			}
		} else {
			r.BurstCount = float64(s.BurstCount)
		}
	}
	switch {
	case s.ParamsMaxCapacity > math.MaxInt:
		return r, id.unsupported("paramsMaxCapacity", "paramsMaxCapacity %d does not fit in an int", s.ParamsMaxCapacity)
	case s.ParamsMaxCapacity > 0:
		r.ParamsMaxCapacity = int(s.ParamsMaxCapacity)
	case r.MetricType == hotspot.QPS:
		// Sentinel Go's newBaseTrafficShapingController; durationInSec > 0 here.
		r.ParamsMaxCapacity = sentinelParamsMaxCapacity
		if s.DurationInSec < sentinelParamsMaxCapacity/sentinelParamsCapacityBase {
			r.ParamsMaxCapacity = int(sentinelParamsCapacityBase * s.DurationInSec)
		}
	default:
		r.ParamsMaxCapacity = sentinelConcurrencyMaxCount
	}
	if r.SpecificItems, err = specificItems(id, s.SpecificItems); err != nil {
		return r, err
	}
	return r, nil
}

// specificItems converts Sentinel Go's specific values as its
// parseSpecificItems does, but fails where it would log and skip an item.
func specificItems(id rule, src []sentinelSpecificValue) ([]hotspot.SpecificItem, error) {
	if len(src) == 0 {
		return nil, nil
	}
	out := make([]hotspot.SpecificItem, 0, len(src))
	at := make(map[any]int, len(src))
	for i, it := range src {
		bad := func(kind string, err error) error {
			return id.fail(ErrUnknownValue, "specificItems",
				"specificItems[%d]: valStr %q is not a %s (valKind %d): %v", i, it.ValStr, kind, it.ValKind, err)
		}
		var v any
		switch it.ValKind {
		case 0: // KindInt: strconv.Atoi
			n, err := strconv.Atoi(it.ValStr)
			if err != nil {
				return nil, bad("KindInt", err)
			}
			v = int64(n)
		case 1: // KindString
			v = it.ValStr
		case 2: // KindBool: strconv.ParseBool
			b, err := strconv.ParseBool(it.ValStr)
			if err != nil {
				return nil, bad("KindBool", err)
			}
			v = b
		case 3: // KindFloat64: strconv.ParseFloat, then rounded to 5 decimals
			f, err := strconv.ParseFloat(it.ValStr, 64)
			if err != nil {
				return nil, bad("KindFloat64", err)
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, bad("KindFloat64", fmt.Errorf("%v is not a finite number", f))
			}
			if f, err = strconv.ParseFloat(fmt.Sprintf("%.5f", f), 64); err != nil {
				return nil, bad("KindFloat64", err)
			}
			v = f
		default:
			return nil, id.fail(ErrUnknownValue, "specificItems",
				"specificItems[%d]: valKind %d is not one of 0 (KindInt), 1 (KindString), 2 (KindBool), 3 (KindFloat64)",
				i, it.ValKind)
		}
		item := hotspot.SpecificItem{Value: v, Threshold: float64(it.Threshold)}
		if j, dup := at[v]; dup {
			out[j] = item
			continue
		}
		at[v] = len(out)
		out = append(out, item)
	}
	return out, nil
}
