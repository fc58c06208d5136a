// Package fuzzjson holds the JSON round-trip check shared by the rule
// families' fuzz targets.
package fuzzjson

import (
	"encoding/json"
	"reflect"
	"testing"
)

// RoundTrip checks one JSON text against type T: neither json.Unmarshal
// nor (*T).UnmarshalJSON called on the text itself panics, and they agree;
// what they accept marshals to JSON that reads back to the same value
// (norm makes equal what only differs in a nil or empty slice), and whose
// marshalling is the same text; Validate does not panic.
func RoundTrip[T any, P interface {
	*T
	json.Unmarshaler
	Validate() error
}](t testing.TB, data []byte, norm func(*T)) {
	t.Helper()
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
