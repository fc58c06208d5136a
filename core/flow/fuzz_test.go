package flow_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sluice-go/sluice/core/flow"
)

// FuzzRuleJSON: no JSON text makes reading a flow.Rule panic, json.Unmarshal and
// UnmarshalJSON agree, and what they read marshals and reads back the same
// (see fzRoundTrip).
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
		fzRoundTrip[flow.Rule](t, data, func(*flow.Rule) {})
	})
}

// fzRoundTrip checks one JSON text against type T: neither json.Unmarshal
// nor (*T).UnmarshalJSON called on the text itself panics, and they agree;
// what they accept marshals to JSON that reads back to the same value
// (norm makes equal what only differs in a nil or empty slice), and whose
// marshalling is the same text; Validate does not panic.
func fzRoundTrip[T any, P interface {
	*T
	json.Unmarshaler
	Validate() error
}](t *testing.T, data []byte, norm func(*T)) {
	var v, direct T
	err := json.Unmarshal(data, &v)
	errDirect := P(&direct).UnmarshalJSON(data)
	if (err == nil) != (errDirect == nil) {
		t.Fatalf("%q: json.Unmarshal says %v, UnmarshalJSON %v", data, err, errDirect)
	}
	if err != nil {
		return
	}
	norm(&v)
	norm(&direct)
	if !reflect.DeepEqual(v, direct) {
		t.Fatalf("%q: json.Unmarshal reads %#v, UnmarshalJSON %#v", data, v, direct)
	}
	_ = P(&v).Validate()
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%q read as %#v, which does not marshal: %v", data, v, err)
	}
	var back T
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("%q read as %#v, marshalled to %s, which does not read back: %v", data, v, out, err)
	}
	norm(&back)
	if !reflect.DeepEqual(v, back) {
		t.Fatalf("%q read as\n%#v\nmarshalled to %s, which reads back as\n%#v", data, v, out, back)
	}
	if again, _ := json.Marshal(back); string(again) != string(out) {
		t.Fatalf("%#v marshals to %s, then to %s", v, out, again)
	}
}
