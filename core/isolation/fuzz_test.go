package isolation_test

import (
	"github.com/sluice-go/sluice/core/internal/fuzzjson"
	"testing"

	"github.com/sluice-go/sluice/core/isolation"
)

// FuzzRuleJSON: no JSON text makes reading a isolation.Rule panic, json.Unmarshal and
// UnmarshalJSON agree, and what they read marshals and reads back the same
// (see fuzzjson.RoundTrip).
func FuzzRuleJSON(f *testing.F) {
	for _, s := range []string{
		`{"resource":"db","threshold":8}`,
		`{"id":"x","resource":"d.*","regex":true,"threshold":0}`,
		`{"threshold":-1}`,
		`{"resource":"a","threshold":1.5}`,
		`{"resource":"a","threshold":9223372036854775808}`,
		`{"resource":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzjson.RoundTrip[isolation.Rule](t, data, func(*isolation.Rule) {})
	})
}
