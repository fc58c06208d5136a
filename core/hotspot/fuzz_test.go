package hotspot_test

import (
	"encoding/json"
	"github.com/sluice-go/sluice/core/internal/fuzzjson"
	"testing"

	"github.com/sluice-go/sluice/core/hotspot"
)

// FuzzRuleJSON: no JSON text makes reading a hotspot.Rule panic,
// json.Unmarshal and UnmarshalJSON agree, and what they read marshals and
// reads back the same (see fuzzjson.RoundTrip), each item's value of the same
// kind (issue 13, item 8).
func FuzzRuleJSON(f *testing.F) {
	for _, s := range []string{
		`{"resource":"GET /orders","paramKey":"user","threshold":5,"specificItems":[{"value":"vip","threshold":50}]}`,
		`{"resource":"a","paramIndex":-1,"metricType":"Concurrency","threshold":2,"paramsMaxCapacity":3}`,
		`{"resource":"a","controlBehavior":"Throttling","threshold":3,"duration":"100ms","maxQueueingTime":"20ms","specificItems":[{"value":7,"threshold":1},{"value":2.5,"threshold":2},{"value":true,"threshold":0},{"value":-9223372036854775808,"threshold":1}]}`,
		`{"resource":"a","threshold":1,"burstCount":4,"specificItems":[{"value":1e3,"threshold":1},{"value":2.0,"threshold":1},{"value":9223372036854775808,"threshold":1}]}`,
		`{"resource":"a","specificItems":[]}`,
		`{"resource":"a","specificItems":[{"value":{}}]}`,
		`{"resource":"a","specificItems":[{"threshold":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzjson.RoundTrip[hotspot.Rule](t, data, func(r *hotspot.Rule) {
			if len(r.SpecificItems) == 0 {
				r.SpecificItems = nil // omitted when empty
			}
		})
	})
}

// FuzzSpecificItemJSON is FuzzRuleJSON for one hotspot.SpecificItem.
func FuzzSpecificItemJSON(f *testing.F) {
	for _, s := range []string{
		`{"value":"vip","threshold":50}`,
		`{"value":7,"threshold":1}`,
		`{"value":2.0,"threshold":1}`,
		`{"value":-0.0}`,
		`{"value":1e400}`,
		`{"value":"\u00e9\n"}`,
		`{"value":false,"threshold":-1}`,
		`{"value":null}`,
		`{"value":12345678901234567890}`,
		`{"value":1E2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzjson.RoundTrip[fzItem](t, data, func(*fzItem) {})
	})
}

// fzItem is a SpecificItem with the Validate that fzRoundTrip calls: the
// rule's, for a rule holding only this item.
type fzItem hotspot.SpecificItem

func (it *fzItem) UnmarshalJSON(b []byte) error { return (*hotspot.SpecificItem)(it).UnmarshalJSON(b) }
func (it fzItem) MarshalJSON() ([]byte, error)  { return json.Marshal(hotspot.SpecificItem(it)) }
func (it *fzItem) Validate() error {
	r := hotspot.Rule{Resource: "a", SpecificItems: []hotspot.SpecificItem{hotspot.SpecificItem(*it)}}
	return r.Validate()
}
