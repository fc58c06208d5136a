package datasource_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice"
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
		{"object for an array", datasource.Flow, datasource.JSON, `{"resource":"a"}`, "cannot unmarshal object"},
		{"enum by number", datasource.Flow, datasource.JSON, `[{"resource":"a","controlBehavior":1}]`, "controlBehavior"},
		{"unknown enum name", datasource.Flow, datasource.JSON, `[{"resource":"a","controlBehavior":"Queue"}]`, "Reject, Throttling"},
		{"bad duration", datasource.Flow, datasource.JSON, `[{"resource":"a","maxQueueingTime":500}]`, "maxQueueingTime"},
		{"null", datasource.Flow, datasource.JSON, `null`, "null"},
		{"empty", datasource.Flow, datasource.JSON, " \n", "empty"},
		{"invalid YAML", datasource.Flow, datasource.YAML, "- resource: [a\n", "yaml"},
		{"two YAML documents", datasource.Flow, datasource.YAML, "[]\n---\ngarbage: [\n", "yaml"},
		{"two good YAML documents", datasource.Flow, datasource.YAML, "[]\n---\n[]\n", "more than one YAML document"},
		{"duplicate YAML key", datasource.Flow, datasource.YAML, "- resource: a\n  threshold: 1\n  threshold: 2\n", "threshold"},
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
