package circuitbreaker_test

import (
	"github.com/sluice-go/sluice/core/internal/fuzzjson"
	"testing"

	"github.com/sluice-go/sluice/core/circuitbreaker"
)

// FuzzRuleJSON: no JSON text makes reading a circuitbreaker.Rule panic, json.Unmarshal and
// UnmarshalJSON agree, and what they read marshals and reads back the same
// (see fuzzjson.RoundTrip).
func FuzzRuleJSON(f *testing.F) {
	for _, s := range []string{
		`{"resource":"payments","strategy":"ErrorRatio","retryTimeout":"5s","threshold":0.5,"statInterval":"10s"}`,
		`{"resource":"a","strategy":"SlowRequestRatio","retryTimeout":"1s","maxAllowedRT":"200ms","threshold":0.2,"probeNum":3,"minRequestAmount":5,"statBuckets":4}`,
		`{"resource":"a","strategy":"ErrorCount","retryTimeout":"2562047h47m16.854775807s","threshold":3}`,
		`{"resource":"a","strategy":"ErrorCount","retryTimeout":"1.5h","threshold":3,"statBuckets":-1}`,
		`{"resource":"a","retryTimeout":5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzjson.RoundTrip[circuitbreaker.Rule](t, data, func(*circuitbreaker.Rule) {})
	})
}
