package datasource_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/datasource"
)

// itemValues are hotspot item values of every kind, as a decoder gives
// them back.
var itemValues = []any{"vip", "2.0", int64(2), int64(-7), uint64(1 << 63), 2.0, -3.0,
	math.Copysign(0, -1), 0.5, 1e21, 1e-7, 1000.0, true, false}

// TestHotspotItemKindsRoundTrip pushes rules out of Engine.Rules, through
// JSON, and back in as JSON and as YAML (JSON is YAML): each item comes
// back with the same value of the same Go type, so that it matches the same
// arguments.
func TestHotspotItemKindsRoundTrip(t *testing.T) {
	eng := sluice.New(sluice.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer eng.Close()
	rule := hotspot.Rule{Resource: "r", Threshold: 5}
	for i, v := range itemValues {
		rule.SpecificItems = append(rule.SpecificItems, hotspot.SpecificItem{Value: v, Threshold: float64(i)})
	}
	if err := eng.LoadHotspotRules([]hotspot.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(eng.Rules())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []datasource.Format{datasource.JSON, datasource.YAML} {
		back, err := datasource.Decode(datasource.All, f, out)
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		checkItems(t, f.String(), back.Hotspot, itemValues)
		if err := eng.LoadRules(back); err != nil {
			t.Fatalf("%v: pushing the rules back: %v", f, err)
		}
	}
}

// A YAML document in block style decodes its values to the kinds its JSON
// twin does: 2.0 is a float, 2 an integer.
func TestYAMLFloatsStayFloats(t *testing.T) {
	const doc = `
- resource: r
  threshold: 5.0
  specificItems:
    - {value: vip, threshold: 0}
    - {value: "2.0", threshold: 1}
    - {value: 2, threshold: 2}
    - {value: -7, threshold: 3}
    - {value: 9223372036854775808, threshold: 4}
    - {value: 2.0, threshold: 5}
    - {value: -3.0, threshold: 6}
    - {value: -0.0, threshold: 7}
    - {value: .5, threshold: 8}
    - {value: 1e21, threshold: 9}
    - {value: 1.0e-7, threshold: 10}
    - {value: 1e3, threshold: 11}
    - {value: true, threshold: 12}
    - {value: false, threshold: 13}
`
	r, err := datasource.Decode(datasource.Hotspot, datasource.YAML, []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	checkItems(t, "YAML", r.Hotspot, itemValues)
	if r.Hotspot[0].Threshold != 5 {
		t.Fatalf("threshold %v", r.Hotspot[0].Threshold)
	}
	if _, err := datasource.Decode(datasource.Hotspot, datasource.YAML, []byte("- {resource: r, threshold: .inf}\n")); err == nil ||
		!strings.Contains(err.Error(), "+Inf has no JSON form") {
		t.Fatalf("an infinite threshold: %v", err)
	}
}

func checkItems(t *testing.T, from string, rules []hotspot.Rule, want []any) {
	t.Helper()
	if len(rules) != 1 || len(rules[0].SpecificItems) != len(want) {
		t.Fatalf("%s: read back %+v", from, rules)
	}
	for i, it := range rules[0].SpecificItems {
		w := want[i]
		same := reflect.TypeOf(it.Value) == reflect.TypeOf(w) && it.Value == w
		if f, ok := w.(float64); ok && same { // -0 == 0: compare the bits
			same = math.Float64bits(f) == math.Float64bits(it.Value.(float64))
		}
		if !same || it.Threshold != float64(i) {
			t.Errorf("%s: item %d: %v (%T), want %v (%T)", from, i, it.Value, it.Value, w, w)
		}
	}
}
