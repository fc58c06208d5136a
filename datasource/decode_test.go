package datasource_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/base"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/sentinel"
)

// document is one rule set written three ways; each must decode to want.
var want = sluice.Rules{
	Flow: []flow.Rule{{Resource: "GET /orders", Threshold: 100, ControlBehavior: flow.Throttling,
		MaxQueueingTime: 500 * time.Millisecond}},
	Isolation: []isolation.Rule{{Resource: "db", Threshold: 8}},
	CircuitBreaker: []circuitbreaker.Rule{{Resource: "payments", Strategy: circuitbreaker.ErrorRatio,
		RetryTimeout: 5 * time.Second, Threshold: 0.5, StatInterval: 10 * time.Second}},
	Hotspot: []hotspot.Rule{{Resource: "GET /orders", ParamKey: "user", Threshold: 5,
		SpecificItems: []hotspot.SpecificItem{{Value: "vip", Threshold: 50}}}},
	System: []system.Rule{{MetricType: system.CPUUsage, TriggerCount: 0.8, Strategy: system.BBR}},
}

const documentJSON = `{
  "flow": [{"resource": "GET /orders", "threshold": 100, "controlBehavior": "Throttling", "maxQueueingTime": "500ms"}],
  "isolation": [{"resource": "db", "threshold": 8}],
  "circuitBreaker": [{"resource": "payments", "strategy": "ErrorRatio", "retryTimeout": "5s", "threshold": 0.5, "statInterval": "10s"}],
  "hotspot": [{"resource": "GET /orders", "paramKey": "user", "threshold": 5, "specificItems": [{"value": "vip", "threshold": 50}]}],
  "system": [{"metricType": "CPUUsage", "triggerCount": 0.8, "strategy": "BBR"}]
}`

const documentYAML = `
flow:
  - resource: GET /orders
    threshold: 100
    controlBehavior: Throttling
    maxQueueingTime: 500ms
isolation:
  - {resource: db, threshold: 8}
circuitBreaker:
  - resource: payments
    strategy: ErrorRatio
    retryTimeout: 5s
    threshold: 0.5
    statInterval: 10s
hotspot:
  - resource: GET /orders
    paramKey: user
    threshold: 5
    specificItems: [{value: vip, threshold: 50}]
system:
  - {metricType: CPUUsage, triggerCount: 0.8, strategy: BBR}
`

func TestDecodeDocument(t *testing.T) {
	for _, tc := range []struct {
		format datasource.Format
		data   string
	}{{datasource.JSON, documentJSON}, {datasource.YAML, documentYAML}} {
		got, err := datasource.Decode(datasource.All, tc.format, []byte(tc.data))
		if err != nil {
			t.Fatalf("%v: %v", tc.format, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v: got\n%+v\nwant\n%+v", tc.format, got, want)
		}
		eng := sluice.New(sluice.WithLogger(quiet))
		if err := eng.LoadRules(got); err != nil {
			t.Errorf("%v: the decoded rules do not load: %v", tc.format, err)
		}
		eng.Close()
	}
}

func TestDecodeFamilies(t *testing.T) {
	for _, tc := range []struct {
		kind datasource.Kind
		data string
		want sluice.Rules
	}{
		{datasource.Flow, `[{"resource":"a","threshold":10,"strategy":"WarmUp","warmUpPeriod":"30s"}]`,
			sluice.Rules{Flow: []flow.Rule{{Resource: "a", Threshold: 10, Strategy: flow.WarmUp, WarmUpPeriod: 30 * time.Second}}}},
		{datasource.Isolation, `[{"resource":"a","threshold":3}]`,
			sluice.Rules{Isolation: []isolation.Rule{{Resource: "a", Threshold: 3}}}},
		{datasource.CircuitBreaker, `[{"resource":"a","strategy":"SlowRequestRatio","retryTimeout":"1s","maxAllowedRT":"200ms","threshold":0.2}]`,
			sluice.Rules{CircuitBreaker: []circuitbreaker.Rule{{Resource: "a", RetryTimeout: time.Second,
				MaxAllowedRT: 200 * time.Millisecond, Threshold: 0.2}}}},
		{datasource.Hotspot, `[{"resource":"a","paramIndex":1,"threshold":2}]`,
			sluice.Rules{Hotspot: []hotspot.Rule{{Resource: "a", ParamIndex: 1, Threshold: 2}}}},
		{datasource.System, `[{"metricType":"Load","triggerCount":4}]`,
			sluice.Rules{System: []system.Rule{{MetricType: system.Load, TriggerCount: 4}}}},
	} {
		got, err := datasource.Decode(tc.kind, datasource.JSON, []byte(tc.data))
		if err != nil {
			t.Fatalf("%v: %v", tc.kind, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: got %+v, want %+v", tc.kind, got, tc.want)
		}
	}
}

// TestDecodeEmptyArrayClears: [] is an empty, non-nil slice; {} for All is
// a document with no rules.
func TestDecodeEmptyArrayClears(t *testing.T) {
	for _, f := range []datasource.Format{datasource.JSON, datasource.YAML, datasource.SentinelJSON} {
		r, err := datasource.Decode(datasource.Flow, f, []byte(" [ ] "))
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		if r.Flow == nil || len(r.Flow) != 0 {
			t.Errorf("%v: [] decoded to %#v, want an empty non-nil slice", f, r.Flow)
		}
	}
	r, err := datasource.Decode(datasource.All, datasource.JSON, []byte("{}"))
	if err != nil || !reflect.DeepEqual(r, sluice.Rules{}) {
		t.Errorf("{} decoded to %+v, %v", r, err)
	}
}

func TestDecodeBadPayloads(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   datasource.Kind
		format datasource.Format
		data   string
		want   string // in the message
	}{
		{"invalid JSON", datasource.Flow, datasource.JSON, `[{"resource":`, "unexpected EOF"},
		{"unknown field", datasource.Flow, datasource.JSON, `[{"resource":"a","treshold":10}]`, `"treshold"`},
		{"unknown field in YAML", datasource.Flow, datasource.YAML, "- resource: a\n  treshold: 10\n", `"treshold"`},
		{"unknown family", datasource.All, datasource.JSON, `{"flows":[]}`, `"flows"`},
		{"wrong type", datasource.Flow, datasource.JSON, `[{"resource":"a","threshold":"ten"}]`, "threshold"},
		{"object for an array", datasource.Flow, datasource.JSON, `{"resource":"a"}`, "want an array, got an object"},
		{"enum by number", datasource.Flow, datasource.JSON, `[{"resource":"a","controlBehavior":1}]`, "controlBehavior"},
		{"unknown enum name", datasource.Flow, datasource.JSON, `[{"resource":"a","controlBehavior":"Queue"}]`, "Reject, Throttling"},
		{"bad duration", datasource.Flow, datasource.JSON, `[{"resource":"a","maxQueueingTime":500}]`, "maxQueueingTime"},
		{"null", datasource.Flow, datasource.JSON, `null`, "null"},
		{"empty", datasource.Flow, datasource.JSON, " \n", "empty"},
		{"invalid YAML", datasource.Flow, datasource.YAML, "- resource: [a\n", "YAML syntax error at line 1: "},
		{"two YAML documents", datasource.Flow, datasource.YAML, "[]\n---\ngarbage: [\n", "YAML syntax error at line 3: "},
		{"two good YAML documents", datasource.Flow, datasource.YAML, "[]\n---\n[]\n", "more than one YAML document"},
		{"duplicate YAML key", datasource.Flow, datasource.YAML, "- resource: a\n  threshold: 1\n  threshold: 2\n", `YAML line 3: duplicate key "threshold"`},
		{"trailing data", datasource.Flow, datasource.JSON, `[] []`, "after the JSON value"},
		{"Sentinel JSON, invalid", datasource.Flow, datasource.SentinelJSON, `[{`, "sentinel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := datasource.Decode(tc.kind, tc.format, []byte(tc.data))
			if !errors.Is(err, datasource.ErrBadPayload) {
				t.Fatalf("error %v, want one wrapping ErrBadPayload", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodeUnsupported(t *testing.T) {
	for _, tc := range []struct {
		kind   datasource.Kind
		format datasource.Format
	}{{datasource.All, datasource.SentinelJSON}, {datasource.Kind(42), datasource.JSON}, {datasource.Flow, datasource.Format(9)}} {
		if _, err := datasource.Decode(tc.kind, tc.format, []byte("[]")); !errors.Is(err, datasource.ErrUnsupported) {
			t.Errorf("Decode(%v, %v): %v, want ErrUnsupported", tc.kind, tc.format, err)
		}
	}
}

// TestDecodeErrorChain: the cause stays reachable behind ErrBadPayload.
func TestDecodeErrorChain(t *testing.T) {
	_, err := datasource.Decode(datasource.Flow, datasource.SentinelJSON, []byte(`[{"resource":"a","controlBehavior":7}]`))
	var se *sentinel.Error
	if !errors.As(err, &se) || se.Field != "controlBehavior" || !errors.Is(err, datasource.ErrBadPayload) {
		t.Errorf("error %v: want ErrBadPayload and a *sentinel.Error naming controlBehavior", err)
	}
	_, err = datasource.Decode(datasource.Flow, datasource.JSON, []byte(`[{"resource":"a","threshold":"ten"}]`))
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		t.Errorf("error %v: want a *json.UnmarshalTypeError behind it", err)
	}
}

// TestDecodeErrorsNameTheRule: a payload that does not decode is named by
// family, rule index and key, in plain words (issue 12, item 13), in every
// format and in the All document.
func TestDecodeErrorsNameTheRule(t *testing.T) {
	const prefix = "datasource: bad payload: "
	for _, tc := range []struct {
		kind   datasource.Kind
		format datasource.Format
		data   string
		want   string // the whole message
	}{
		{datasource.Flow, datasource.JSON, `[{"resource":"a","threshold":1},{"resource":"b","thresold":2},{"resource":"c"}]`,
			`Flow JSON: flow rule #1: unknown key "thresold" (did you mean "threshold"?)`},
		{datasource.Flow, datasource.JSON, `[{"resource":"a","threshold":"10"}]`,
			`Flow JSON: flow rule #0: "threshold": want a number, got a string`},
		{datasource.Flow, datasource.YAML, "- resource: a\n- resource: b\n  maxQueueingTime: 500\n",
			`Flow YAML: flow rule #1: "maxQueueingTime": want a Go duration string such as "500ms", got 500`},
		{datasource.Flow, datasource.YAML, "# no rules yet\n\n  # none at all\n",
			`Flow YAML: no YAML document (only comments or blank lines)`},
		{datasource.Isolation, datasource.JSON, `[{"resource":"a","threshold":1.5}]`,
			`Isolation JSON: isolation rule #0: "threshold": want a whole number, got 1.5`},
		{datasource.CircuitBreaker, datasource.YAML, "- resource: a\n  strategy: 2\n",
			`CircuitBreaker YAML: circuit breaker rule #0: "strategy": want a string, got 2`},
		{datasource.Hotspot, datasource.JSON, `[{"resource":"a","specificItems":[{"value":"x"},{"value":{}}]}]`,
			`Hotspot JSON: hotspot rule #0: "specificItems[1].value": want a string, a number, true or false, got an object`},
		{datasource.System, datasource.JSON, `[{"metricType":"Load","triggerCount":1},{"metricType":"Load","TriggerCount":1}]`,
			`System JSON: system rule #1: unknown key "TriggerCount" (did you mean "triggerCount"?)`},
		{datasource.All, datasource.JSON, `{"flow":[{"resource":"a"}],"circuitBreaker":[{"resource":"a","retryTimeout":"1s"},{"resource":"b","retryTimeout":5}]}`,
			`All JSON: circuit breaker rule #1: "retryTimeout": want a Go duration string such as "500ms", got 5`},
		{datasource.All, datasource.YAML, "hotspot:\n  - resource: a\n    specificItems:\n      - valeu: vip\n",
			`All YAML: hotspot rule #0: unknown key "specificItems[0].valeu" (did you mean "value"?)`},
		{datasource.All, datasource.JSON, `{"Flow":[]}`, `All JSON: unknown key "Flow" (did you mean "flow"?)`},
		{datasource.All, datasource.JSON, `{"flow":[],"flow":[{"resource":"a"}]}`, `All JSON: duplicate key "flow"`},
		{datasource.All, datasource.JSON, `{"flow":{}}`, `All JSON: "flow": want an array, got an object`},
		{datasource.Flow, datasource.SentinelJSON, `[{"resource":"a"},{"resource":"b","thresold":2}]`,
			`Flow SentinelJSON: sentinel: flow rule 1 ("b"): unknown key "thresold" (did you mean "threshold"?)`},
		{datasource.Flow, datasource.SentinelJSON, `[{"resource":"a","threshold":"10"}]`,
			`Flow SentinelJSON: sentinel: flow rule 0 ("a"): "threshold": want a number, got a string`},
	} {
		_, err := datasource.Decode(tc.kind, tc.format, []byte(tc.data))
		if !errors.Is(err, datasource.ErrBadPayload) {
			t.Errorf("%v %v %s: error %v, want one wrapping ErrBadPayload", tc.kind, tc.format, tc.data, err)
			continue
		}
		if got := strings.TrimPrefix(err.Error(), prefix); got != tc.want {
			t.Errorf("%v %v %s:\n got %s\nwant %s", tc.kind, tc.format, tc.data, got, tc.want)
		}
	}
}

// TestDecodeErrorFields: the rule's index and the key are fields of a
// *base.DecodeError behind ErrBadPayload.
func TestDecodeErrorFields(t *testing.T) {
	_, err := datasource.Decode(datasource.Hotspot, datasource.YAML,
		[]byte("- resource: a\n- resource: b\n  specificItems: [{value: 1, threshold: x}]\n"))
	var de *base.DecodeError
	if !errors.As(err, &de) || de.Family != "hotspot" || de.Index != 1 || de.Key != "specificItems[0].threshold" {
		t.Fatalf("error %v (%+v): want a *base.DecodeError for hotspot rule 1, key specificItems[0].threshold", err, de)
	}
	if !errors.Is(err, base.ErrBadJSON) {
		t.Errorf("error %v does not match base.ErrBadJSON", err)
	}
}

// TestDecodeKeysExact: Sluice's JSON matches keys exactly and once, as its
// YAML does (issue 12, item 14); a key in another case used to load, and a
// repeated one to take the last value.
func TestDecodeKeysExact(t *testing.T) {
	for _, data := range []string{
		`[{"resource":"a","threshold":10,"Threshold":20}]`,
		`[{"resource":"a","threshold":10,"threshold":20}]`,
		`[{"Resource":"a","threshold":10}]`,
	} {
		for _, f := range []datasource.Format{datasource.JSON, datasource.YAML} {
			r, err := datasource.Decode(datasource.Flow, f, []byte(data)) // JSON is YAML too
			if !errors.Is(err, datasource.ErrBadPayload) {
				t.Errorf("%v %s: decoded to %+v, %v; want ErrBadPayload", f, data, r.Flow, err)
			}
		}
	}
}
