package base

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// item is a nested object, decoded by the walker.
type item struct {
	Value     any     `json:"value"`
	Threshold float64 `json:"threshold"`
}

// testFields is a rule's fields; testRule decodes them as rules do, with
// durations written as strings by a shallower field of the same key.
type testFields struct {
	Resource string        `json:"resource"`
	Count    int64         `json:"count,omitempty"`
	Max      uint32        `json:"max,omitempty"`
	Ratio    float64       `json:"ratio"`
	On       bool          `json:"on,omitempty"`
	Timeout  time.Duration `json:"timeout,omitempty"`
	Mode     testMode      `json:"mode,omitempty"`
	Items    []item        `json:"items,omitempty"`
	Raw      json.RawMessage
	Hidden   string `json:"-"`
	secret   string //nolint:unused // an unexported field is no key
}

// testMode is an enum written as a name.
type testMode uint8

func (m *testMode) UnmarshalText(b []byte) error {
	v, err := UnmarshalEnum("testMode", []string{"Off", "On"}, b)
	*m = testMode(v)
	return err
}

type testJSON struct {
	*testFields
	Timeout Duration `json:"timeout,omitempty"`
}

type testRule testFields

func (r *testRule) UnmarshalJSON(b []byte) error {
	j := testJSON{(*testFields)(r), Duration(r.Timeout)}
	if err := DecodeRule("test", b, &j); err != nil {
		return err
	}
	r.Timeout = time.Duration(j.Timeout)
	return nil
}

func TestDecodeStrictDecodes(t *testing.T) {
	var got []testRule
	in := `[{"resource":"a","count":-3,"max":7,"ratio":0.5,"on":true,"timeout":"1.5s","mode":"On",
		"items":[{"value":"vip","threshold":2}],"Raw":null}, {"resource":"b","ratio":1}]`
	if err := DecodeStrict([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	want := []testRule{{Resource: "a", Count: -3, Max: 7, Ratio: 0.5, On: true, Timeout: 1500 * time.Millisecond, Mode: 1,
		Items: []item{{Value: "vip", Threshold: 2}}, Raw: json.RawMessage("null")}, {Resource: "b", Ratio: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// Escapes, and brackets and quotes inside strings, are read as
	// encoding/json reads them.
	var esc testFields
	in = ` { "res\u006furce" : "a\"b]}" , "items" : [ { "value" : "[{\\" } , { "value" : 7 } ] , "Raw" : { "x" : [ 1 ] } } `
	if err := DecodeStrict([]byte(in), &esc); err != nil {
		t.Fatal(err)
	}
	if esc.Resource != `a"b]}` || len(esc.Items) != 2 || esc.Items[0].Value != `[{\` || esc.Items[1].Value != 7.0 ||
		string(esc.Raw) != `{ "x" : [ 1 ] }` {
		t.Fatalf("decoded %+v", esc)
	}
	var empty []testRule
	if err := DecodeStrict([]byte(" [ ] "), &empty); err != nil || empty == nil || len(empty) != 0 {
		t.Fatalf("[] decoded to %#v, %v; want an empty, non-nil slice", empty, err)
	}
}

func TestDecodeStrictErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		key      string // DecodeError.Key
		index    int    // DecodeError.Index
	}{
		{`[{"resource":"a"},{"resource":"b","rato":1},{}]`, `test rule #1: unknown key "rato" (did you mean "ratio"?)`, "rato", 1},
		{`[{"ratio":10,"Ratio":20}]`, `test rule #0: unknown key "Ratio" (did you mean "ratio"?)`, "Ratio", 0},
		{`[{"ratio":10,"ratio":20}]`, `test rule #0: duplicate key "ratio"`, "ratio", 0},
		{`[{"ratio":"ten"}]`, `test rule #0: "ratio": want a number, got a string`, "ratio", 0},
		{`[{"count":1.5}]`, `test rule #0: "count": want a whole number, got 1.5`, "count", 0},
		{`[{"count":1e30}]`, `"count": want a whole number, got 1e30 (out of range)`, "count", 0},
		{`[{"max":-1}]`, `"max": want a whole number >= 0, got -1`, "max", 0},
		{`[{"ratio":1e400}]`, `"ratio": want a number, got 1e400 (out of range)`, "ratio", 0},
		{`[{"on":"yes"}]`, `"on": want true or false, got a string`, "on", 0},
		{`[{"resource":5}]`, `"resource": want a string, got 5`, "resource", 0},
		{`[{"timeout":500}]`, `"timeout": want a Go duration string such as "500ms", got 500`, "timeout", 0},
		{`[{"timeout":"5 s"}]`, `"timeout": want a Go duration string such as "500ms", got "5 s"`, "timeout", 0},
		{`[{"mode":300}]`, `test rule #0: "mode": want a string, got 300`, "mode", 0},
		{`[{"mode":"Of"}]`, `"mode": unknown testMode "Of" (want one of Off, On)`, "mode", 0},
		{`[{"ratio":null}]`, `"ratio": want a number, got null`, "ratio", 0},
		{`[{"items":{}}]`, `"items": want an array, got an object`, "items", 0},
		{`[{"items":[{}, {"threshold":true}]}]`, `"items[1].threshold": want a number, got true`, "items[1].threshold", 0},
		{`[{"items":[{"valu":1}]}]`, `test rule #0: unknown key "items[0].valu" (did you mean "value"?)`, "items[0].valu", 0},
		{`[{}, 5]`, `test rule #1: want an object, got 5`, "", 1},
		{`[{"Hidden":"x"}]`, `unknown key "Hidden"`, "Hidden", 0},
		{`[{"secret":"x"}]`, `unknown key "secret"`, "secret", 0},
		{`[{"bogus":1}]`, `test rule #0: unknown key "bogus"`, "bogus", 0},
		{`{"resource":"a"}`, `want an array, got an object`, "", -1},
		{`null`, `want an array, got null`, "", -1},
		{`[] []`, `unexpected data after the JSON value`, "", -1},
		{"[\n  {\"resource\": \"a\",}\n]", `JSON syntax error at line 2, column 20: invalid character '}' looking for beginning of object key string`, "", -1},
		{`[{"resource":`, `(unexpected EOF)`, "", -1},
		{``, `no JSON value (the text is empty)`, "", -1},
	} {
		var rules []testRule
		err := DecodeStrict([]byte(tc.in), &rules)
		var de *DecodeError
		if !errors.As(err, &de) || !errors.Is(err, ErrBadJSON) {
			t.Errorf("%s: error %v, want a *DecodeError matching ErrBadJSON", tc.in, err)
			continue
		}
		if !strings.HasSuffix(err.Error(), tc.want) || de.Key != tc.key || de.Index != tc.index {
			t.Errorf("%s: error %q (key %q, index %d), want %q (key %q, index %d)",
				tc.in, err, de.Key, de.Index, tc.want, tc.key, tc.index)
		}
		if strings.Contains(err.Error(), "Go struct field") || strings.Contains(err.Error(), "json: ") {
			t.Errorf("%s: error %q speaks of Go internals", tc.in, err)
		}
	}
}

// TestDecodeStrictCauseChain: encoding/json's error stays behind the plain
// message.
func TestDecodeStrictCauseChain(t *testing.T) {
	var r testRule
	err := json.Unmarshal([]byte(`{"ratio":"ten"}`), &r)
	var te *json.UnmarshalTypeError
	var de *DecodeError
	if !errors.As(err, &te) || !errors.As(err, &de) || de.Family != "test" || de.Index != -1 {
		t.Fatalf("error %#v: want a *DecodeError of family test, index -1, over a *json.UnmarshalTypeError", err)
	}
	if want := `test rule: "ratio": want a number, got a string`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	var se *json.SyntaxError
	if err := DecodeStrict([]byte(`[1,,]`), &[]int{}); !errors.As(err, &se) {
		t.Errorf("error %v: want a *json.SyntaxError behind it", err)
	}
}

func TestDecodeFoldedKeys(t *testing.T) {
	var f testFields
	if err := DecodeFoldedKeys([]byte(`{"RESOURCE":"a","Ratio":2}`), &f); err != nil || f.Resource != "a" || f.Ratio != 2 {
		t.Fatalf("decoded %+v, %v", f, err)
	}
	err := DecodeFoldedKeys([]byte(`{"ratio":10,"Ratio":20}`), &f)
	if err == nil || err.Error() != `duplicate key "Ratio" (the same field as "ratio")` {
		t.Fatalf("error %v, want a duplicate key", err)
	}
	f = testFields{Resource: "kept", Items: []item{{}}}
	if err := DecodeFoldedKeys([]byte(`{"resource":null,"items":null}`), &f); err != nil || f.Resource != "kept" || f.Items != nil {
		t.Fatalf("decoded %+v, %v; want null to act as in encoding/json", f, err)
	}
	err = DecodeFoldedKeys([]byte(`{"items":[{"VALUE":1,"Value":2}]}`), &f)
	if err == nil || err.Error() != `duplicate key "items[0].Value" (the same field as "VALUE")` {
		t.Fatalf("error %v: folding must reach nested objects", err)
	}
}

// TestFieldsOfShadowing: a shallower field hides a deeper one of the same
// key; two at one depth hide each other unless exactly one is tagged.
func TestFieldsOfShadowing(t *testing.T) {
	type inner struct {
		A int `json:"a"`
		B int
		C int `json:"c"`
	}
	type Other struct {
		B int
		C int `json:"c"`
		D int `json:"b"`
	}
	type outer struct {
		inner
		*Other        // exported, so that it can be allocated
		A      string `json:"a"`
	}
	fs := fieldsOf(reflect.TypeFor[outer]())
	if want := []string{"a", "b"}; !reflect.DeepEqual(fs.names, want) {
		t.Fatalf("keys %v, want %v", fs.names, want)
	}
	var o outer
	if err := DecodeStrict([]byte(`{"a":"x","b":2}`), &o); err != nil || o.A != "x" || o.Other == nil || o.D != 2 {
		t.Fatalf("decoded %+v, %v", o, err)
	}
	if err := DecodeStrict([]byte(`{"c":1}`), &o); err == nil {
		t.Fatal("an ambiguous key decoded")
	}
}

func TestDecodeStrictBadTarget(t *testing.T) {
	var f testFields
	for _, v := range []any{f, (*testFields)(nil), nil} {
		if err := DecodeStrict([]byte(`{}`), v); !errors.Is(err, ErrBadJSON) {
			t.Errorf("DecodeStrict into %T: %v, want an error", v, err)
		}
	}
}

// TestDecodeErrorZero: a DecodeError built without a cause still has a
// message.
func TestDecodeErrorZero(t *testing.T) {
	if got := (&DecodeError{Family: "flow", Index: 2}).Error(); got != "flow rule #2: does not decode" {
		t.Errorf("Error() = %q", got)
	}
}

func TestNearest(t *testing.T) {
	names := []string{"resource", "threshold", "maxQueueingTime", "statIntervalInMs", "id"}
	for key, want := range map[string]string{
		"thresold": "threshold", "Threshold": "threshold", "maxQueueingTimeMs": "maxQueueingTime",
		"statIntervalMs": "statIntervalInMs", "ID": "id", "bogus": "", "x": "", "resourceName": "",
	} {
		if got := nearest(key, names); got != want {
			t.Errorf("nearest(%q) = %q, want %q", key, got, want)
		}
	}
}

// FuzzDecodeStrict: no input makes DecodeStrict panic, and what it accepts
// encoding/json reads to the same value.
func FuzzDecodeStrict(f *testing.F) {
	for _, seed := range []string{
		`{"resource":"a","count":-3,"max":7,"ratio":0.5,"on":true,"timeout":5,"mode":"On","items":[{"value":"x","threshold":1}],"Raw":[1,{"a":"]"}]}`,
		`{"resource":"a\u00e9\"","items":[{"value":null},{"value":{"k":[true]}}]}`,
		`{"ratio":1e400}`, `{"count":1.5}`, `{"ratio":10,"Ratio":20}`, `{"items":[{},{"threshold":"x"}]}`, `[`, `{"a"`, ` {} `,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got testFields
		if DecodeStrict(b, &got) != nil {
			return
		}
		var want testFields
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("DecodeStrict accepted %q, which encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: DecodeStrict read %+v, encoding/json %+v", b, got, want)
		}
	})
}
