package flow_test

import (
	"github.com/sluice-go/sluice/core/internal/fuzzjson"
	"testing"

	"github.com/sluice-go/sluice/core/flow"
)

// FuzzRuleJSON: no JSON text makes reading a flow.Rule panic, json.Unmarshal and
// UnmarshalJSON agree, and what they read marshals and reads back the same
// (see fuzzjson.RoundTrip).
func FuzzRuleJSON(f *testing.F) {
	for _, s := range []string{
		`{"resource":"GET /orders","threshold":100,"controlBehavior":"Throttling","maxQueueingTime":"500ms"}`,
		`{"resource":"a","threshold":10,"strategy":"WarmUp","warmUpPeriod":"30s","warmUpColdFactor":2.5}`,
		`{"id":"m","resource":"a","strategy":"MemoryAdaptive","lowMemUsageThreshold":100,"highMemUsageThreshold":10,"memLowWaterMark":1073741824,"memHighWaterMark":2147483648,"statInterval":"100ms"}`,
		`{"resource":"low","threshold":20,"relationStrategy":"AssociatedResource","refResource":"high"}`,
		`{"resource":"^GET /api/.*$","regex":true,"threshold":5}`,
		`{"resource":"a","threshold":1e308,"statInterval":"-1ns"}`,
		`{"resource":"a","threshold":-0}`,
		`{"resource":"a","thresold":1}`,
		`{"resource":"a","Threshold":1}`,
		`{"resource":"a"}}`,
		`{"resource":"a","strategy":1}`,
		`null`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzjson.RoundTrip[flow.Rule](t, data, func(*flow.Rule) {})
	})
}
