package benchmark

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	scb "github.com/alibaba/sentinel-golang/core/circuitbreaker"
	sflow "github.com/alibaba/sentinel-golang/core/flow"
	shotspot "github.com/alibaba/sentinel-golang/core/hotspot"
	siso "github.com/alibaba/sentinel-golang/core/isolation"
	ssystem "github.com/alibaba/sentinel-golang/core/system"
	sds "github.com/alibaba/sentinel-golang/ext/datasource"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/system"
	"github.com/sluice-go/sluice/datasource/sentinel"
)

// The tests below cross-check package datasource/sentinel against Sentinel
// Go itself: each good fixture is parsed by Sentinel Go's own parser
// (ext/datasource) and by the converter, and the two must agree field by
// field, enums compared by their names. This proves that the field names
// and integer values the converter reads are Sentinel Go's.

func sentinelFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "datasource", "sentinel", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ms(n uint64) time.Duration { return time.Duration(n) * time.Millisecond }

// parseBoth reads fixture file with Sentinel Go's parser and with ours,
// and checks they found the same, non-zero, number of rules.
func parseBoth[S, O any](t *testing.T, file string, theirParser func([]byte) (any, error),
	ourParser func([]byte) ([]O, error)) ([]*S, []O) {
	t.Helper()
	data := sentinelFixture(t, file)
	parsed, err := theirParser(data)
	if err != nil {
		t.Fatal(err)
	}
	theirs := parsed.([]*S)
	ours, err := ourParser(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(ours) != len(theirs) || len(ours) == 0 {
		t.Fatalf("%d rules converted, Sentinel Go parsed %d", len(ours), len(theirs))
	}
	return theirs, ours
}

// checker compares one field of rule i of a family.
func checker(t *testing.T, family string, i int) func(field string, got, want any) {
	return func(field string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s rule %d %s: ours %v, Sentinel Go %v", family, i, field, got, want)
		}
	}
}

func TestSentinelCompatFlow(t *testing.T) {
	theirs, ours := parseBoth[sflow.Rule](t, "flow.json", sds.FlowRuleJsonArrayParser, sentinel.FlowRules)
	for i, s := range theirs {
		o := ours[i]
		check := checker(t, "flow", i)
		check("id", o.ID, s.ID)
		check("resource", o.Resource, s.Resource)
		check("threshold", o.Threshold, s.Threshold)
		check("tokenCalculateStrategy", o.Strategy.String(), s.TokenCalculateStrategy.String())
		check("controlBehavior", o.ControlBehavior.String(), s.ControlBehavior.String())
		check("relationStrategy", o.RelationStrategy.String(), s.RelationStrategy.String())
		check("statIntervalInMs", o.StatInterval, ms(uint64(s.StatIntervalInMs)))
		if s.RelationStrategy == sflow.AssociatedResource {
			check("refResource", o.RefResource, s.RefResource)
		}
		if s.ControlBehavior == sflow.Throttling {
			check("maxQueueingTimeMs", o.MaxQueueingTime, ms(uint64(s.MaxQueueingTimeMs)))
		}
		if s.TokenCalculateStrategy == sflow.WarmUp {
			check("warmUpPeriodSec", o.WarmUpPeriod, time.Duration(s.WarmUpPeriodSec)*time.Second)
			check("warmUpColdFactor", o.WarmUpColdFactor, float64(s.WarmUpColdFactor))
		}
		if s.TokenCalculateStrategy == sflow.MemoryAdaptive {
			check("lowMemUsageThreshold", o.LowMemUsageThreshold, float64(s.LowMemUsageThreshold))
			check("highMemUsageThreshold", o.HighMemUsageThreshold, float64(s.HighMemUsageThreshold))
			check("memLowWaterMarkBytes", o.MemLowWaterMark, uint64(s.MemLowWaterMarkBytes))
			check("memHighWaterMarkBytes", o.MemHighWaterMark, uint64(s.MemHighWaterMarkBytes))
		}
	}
}

func TestSentinelCompatIsolation(t *testing.T) {
	theirs, ours := parseBoth[siso.Rule](t, "isolation.json", sds.IsolationRuleJsonArrayParser, sentinel.IsolationRules)
	for i, s := range theirs {
		o := ours[i]
		if o.ID != s.ID || o.Resource != s.Resource || o.Threshold != int64(s.Threshold) || s.MetricType != siso.Concurrency {
			t.Errorf("isolation rule %d: ours %+v, Sentinel Go %+v", i, o, *s)
		}
	}
}

func TestSentinelCompatCircuitBreaker(t *testing.T) {
	theirs, ours := parseBoth[scb.Rule](t, "circuitbreaker.json", sds.CircuitBreakerRuleJsonArrayParser, sentinel.CircuitBreakerRules)
	for i, s := range theirs {
		o := ours[i]
		check := checker(t, "circuit breaker", i)
		if err := scb.IsValidRule(s); err != nil {
			t.Errorf("rule %d: Sentinel Go refuses the fixture: %v", i, err)
		}
		check("id", o.ID, s.Id)
		check("resource", o.Resource, s.Resource)
		check("strategy", o.Strategy.String(), s.Strategy.String())
		check("retryTimeoutMs", o.RetryTimeout, ms(uint64(s.RetryTimeoutMs)))
		check("minRequestAmount", o.MinRequestAmount, int64(s.MinRequestAmount))
		check("statIntervalMs", o.StatInterval, ms(uint64(s.StatIntervalMs)))
		check("probeNum", o.ProbeNum, int64(s.ProbeNum))
		// Sentinel Go's effective bucket count (getRuleStatSlidingWindowBucketCount).
		buckets := s.StatSlidingWindowBucketCount
		if buckets == 0 || s.StatIntervalMs%buckets != 0 {
			buckets = 1
		}
		check("statSlidingWindowBucketCount", o.StatBuckets, int(buckets))
		if s.Strategy == scb.ErrorCount {
			check("threshold", o.Threshold, float64(uint64(s.Threshold)))
		} else {
			check("threshold", o.Threshold, s.Threshold)
		}
		if o.Strategy == circuitbreaker.SlowRequestRatio {
			check("maxAllowedRtMs", o.MaxAllowedRT, ms(s.MaxAllowedRtMs))
		} else {
			check("maxAllowedRtMs", o.MaxAllowedRT, time.Duration(0))
		}
	}
}

func compareHotspot(t *testing.T, ours []hotspot.Rule, theirs []*shotspot.Rule) {
	t.Helper()
	if len(ours) != len(theirs) || len(ours) == 0 {
		t.Fatalf("%d rules converted, Sentinel Go parsed %d", len(ours), len(theirs))
	}
	for i, s := range theirs {
		o := ours[i]
		check := checker(t, "hotspot", i)
		if err := shotspot.IsValidRule(s); err != nil {
			t.Errorf("rule %d: Sentinel Go refuses the fixture: %v", i, err)
		}
		check("id", o.ID, s.ID)
		check("resource", o.Resource, s.Resource)
		check("metricType", o.MetricType.String(), s.MetricType.String())
		check("paramIndex", o.ParamIndex, s.ParamIndex)
		check("paramKey", o.ParamKey, s.ParamKey)
		check("threshold", o.Threshold, float64(s.Threshold))
		if s.MetricType == shotspot.QPS {
			check("controlBehavior", o.ControlBehavior.String(), s.ControlBehavior.String())
			check("durationInSec", o.Duration, time.Duration(s.DurationInSec)*time.Second)
			if s.ControlBehavior == shotspot.Throttling {
				check("maxQueueingTimeMs", o.MaxQueueingTime, ms(uint64(s.MaxQueueingTimeMs)))
			} else {
				check("burstCount", o.BurstCount, float64(s.BurstCount))
			}
			want := s.ParamsMaxCapacity
			if want <= 0 {
				want = int64(math.Min(float64(shotspot.ParamsMaxCapacity), float64(shotspot.ParamsCapacityBase*s.DurationInSec)))
			}
			check("paramsMaxCapacity", int64(o.ParamsMaxCapacity), want)
		} else {
			check("controlBehavior", o.ControlBehavior, hotspot.Reject)
			want := s.ParamsMaxCapacity
			if want <= 0 {
				want = shotspot.ConcurrencyMaxCount
			}
			check("paramsMaxCapacity", int64(o.ParamsMaxCapacity), want)
		}
		// Sentinel Go keys its map by int, string, bool or float64; Sluice
		// keeps integers as int64.
		got := map[any]int64{}
		for _, it := range o.SpecificItems {
			v := it.Value
			if n, ok := v.(int64); ok {
				v = int(n)
			}
			got[v] = int64(it.Threshold)
		}
		want := s.SpecificItems
		if want == nil {
			want = map[any]int64{}
		}
		check("specificItems", got, want)
	}
}

func TestSentinelCompatHotspot(t *testing.T) {
	data := sentinelFixture(t, "hotspot.json")
	parsed, err := sds.HotSpotParamRuleJsonArrayParser(data)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := sentinel.HotspotRules(data)
	if err != nil {
		t.Fatal(err)
	}
	compareHotspot(t, ours, parsed.([]*shotspot.Rule))

	// Sentinel Go's datasource parser (v1.0.4) drops paramKey, so the
	// fixture that uses it, which has no specificItems, is read into
	// Sentinel Go's hotspot.Rule directly.
	data = sentinelFixture(t, "hotspot_paramkey.json")
	var theirs []*shotspot.Rule
	if err := json.Unmarshal(data, &theirs); err != nil {
		t.Fatal(err)
	}
	if ours, err = sentinel.HotspotRules(data); err != nil {
		t.Fatal(err)
	}
	compareHotspot(t, ours, theirs)
}

func TestSentinelCompatSystem(t *testing.T) {
	theirs, ours := parseBoth[ssystem.Rule](t, "system.json", sds.SystemRuleJsonArrayParser, sentinel.SystemRules)
	// Sentinel Go's MetricType names, by Sluice's.
	names := map[system.MetricType]string{system.Load: "load", system.AvgRT: "avgRT",
		system.Concurrency: "concurrency", system.InboundQPS: "inboundQPS", system.CPUUsage: "cpuUsage"}
	for i, s := range theirs {
		o := ours[i]
		if err := ssystem.IsValidSystemRule(s); err != nil {
			t.Errorf("rule %d: Sentinel Go refuses the fixture: %v", i, err)
		}
		if o.ID != s.ID || names[o.MetricType] != s.MetricType.String() {
			t.Errorf("system rule %d: ours %+v, Sentinel Go %+v", i, o, *s)
		}
		// BBR only where Sentinel Go applies it: Load and CpuUsage.
		bbr := s.Strategy == ssystem.BBR && (s.MetricType == ssystem.Load || s.MetricType == ssystem.CpuUsage)
		if (o.Strategy == system.BBR) != bbr {
			t.Errorf("system rule %d strategy: ours %v, Sentinel Go %v on %v", i, o.Strategy, s.Strategy, s.MetricType)
		}
		// Sentinel Go blocks at >= triggerCount on the count before the
		// entry; Sluice counts the entry and blocks above TriggerCount.
		want := s.TriggerCount
		switch s.MetricType {
		case ssystem.Concurrency, ssystem.InboundQPS:
			want = math.Ceil(want)
		case ssystem.AvgRT:
			want = math.Nextafter(want, 0)
		}
		if o.TriggerCount != want {
			t.Errorf("system rule %d triggerCount: ours %v, want %v", i, o.TriggerCount, want)
		}
	}
}
