package hotspot

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// A rule's SpecificItems marshal to JSON that reads back as the same
// values, of the same kinds, matching the same arguments: a float without
// a fraction stays a float, an integer above MaxInt64 an integer.
func TestSpecificItemKindsRoundTripThroughJSON(t *testing.T) {
	values := []any{"vip", "2", int64(42), int64(-7), uint64(1 << 63), uint64(math.MaxUint64),
		2.0, -3.0, math.Copysign(0, -1), 0.5, 1e21, 1e-7, 123456789.0, true, false}
	r := Rule{Resource: "r", Threshold: 5}
	for i, v := range values {
		r.SpecificItems = append(r.SpecificItems, SpecificItem{Value: v, Threshold: float64(i)})
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `{"value":2.0,"threshold":6}`) {
		t.Errorf("2.0 written without its fraction: %s", out)
	}
	var back Rule
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if len(back.SpecificItems) != len(values) {
		t.Fatalf("%d items read back, want %d", len(back.SpecificItems), len(values))
	}
	for i, it := range back.SpecificItems {
		want := values[i]
		if reflect.TypeOf(it.Value) != reflect.TypeOf(want) || key(t, it.Value) != key(t, want) || it.Threshold != float64(i) {
			t.Errorf("item %d: %v (%T), want %v (%T)", i, it.Value, it.Value, want, want)
		}
	}
	// A float32 reads back as the float64 it is counted as: the same key.
	f32 := Rule{Resource: "r", SpecificItems: []SpecificItem{{Value: float32(0.1)}, {Value: float32(2)}}}
	out, _ = json.Marshal(f32)
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	for i, it := range back.SpecificItems {
		if _, ok := it.Value.(float64); !ok || key(t, it.Value) != key(t, f32.SpecificItems[i].Value) {
			t.Errorf("float32 item %d: %v (%T) read back from %s", i, it.Value, it.Value, out)
		}
	}
}
