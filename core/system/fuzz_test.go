package system_test

import (
	"github.com/sluice-go/sluice/core/internal/fuzzjson"
	"testing"

	"github.com/sluice-go/sluice/core/system"
)

// FuzzRuleJSON: no JSON text makes reading a system.Rule panic, json.Unmarshal and
// UnmarshalJSON agree, and what they read marshals and reads back the same
// (see fuzzjson.RoundTrip).
func FuzzRuleJSON(f *testing.F) {
	for _, s := range []string{
		`{"metricType":"CPUUsage","triggerCount":0.8,"strategy":"BBR"}`,
		`{"metricType":"Load","triggerCount":4}`,
		`{"metricType":"Concurrency","triggerCount":100}`,
		`{"metricType":"InboundQPS","triggerCount":1000.5}`,
		`{"id":"m","metricType":"MemoryUsage","triggerCount":0.9}`,
		`{"metricType":"AvgRT","triggerCount":-1,"strategy":"NoAdaptive"}`,
		`{"metricType":4}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzjson.RoundTrip[system.Rule](t, data, func(*system.Rule) {})
	})
}
