package flow

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluice-go/sluice/core/base"
)

func TestValidateNamesTheField(t *testing.T) {
	ok := Rule{Resource: "r", Threshold: 1}
	warm := Rule{Resource: "r", Threshold: 3, Strategy: WarmUp, WarmUpPeriod: time.Second}
	mem := Rule{Resource: "r", Strategy: MemoryAdaptive, LowMemUsageThreshold: 10, HighMemUsageThreshold: 5,
		MemLowWaterMark: 1, MemHighWaterMark: 2}
	with := func(r Rule, f func(*Rule)) Rule { f(&r); return r }
	cases := []struct {
		rule  Rule
		field string
	}{
		{with(ok, func(r *Rule) { r.Resource = "" }), "Resource"},
		{with(ok, func(r *Rule) { r.Regex, r.Resource = true, "a(b" }), "Resource"},
		{with(ok, func(r *Rule) { r.Threshold = -1 }), "Threshold"},
		{with(ok, func(r *Rule) { r.Threshold = math.NaN() }), "Threshold"},
		{with(ok, func(r *Rule) { r.Threshold = math.Inf(1) }), "Threshold"},
		{with(ok, func(r *Rule) { r.Strategy = 9 }), "Strategy"},
		{with(ok, func(r *Rule) { r.ControlBehavior = 9 }), "ControlBehavior"},
		{with(ok, func(r *Rule) { r.RelationStrategy = 9 }), "RelationStrategy"},
		{with(ok, func(r *Rule) { r.StatInterval = -time.Second }), "StatInterval"},
		{with(ok, func(r *Rule) { r.StatInterval = 15 }), "StatInterval"},
		{with(ok, func(r *Rule) { r.ControlBehavior, r.MaxQueueingTime = Throttling, -1 }), "MaxQueueingTime"},
		{with(ok, func(r *Rule) { r.MaxQueueingTime = time.Second }), "MaxQueueingTime"},
		{with(warm, func(r *Rule) { r.WarmUpPeriod = 0 }), "WarmUpPeriod"},
		{with(warm, func(r *Rule) { r.WarmUpColdFactor = 1 }), "WarmUpColdFactor"},
		{with(warm, func(r *Rule) { r.WarmUpColdFactor = math.NaN() }), "WarmUpColdFactor"},
		{with(ok, func(r *Rule) { r.WarmUpPeriod = time.Second }), "WarmUpPeriod"},
		{with(mem, func(r *Rule) { r.LowMemUsageThreshold = -1 }), "LowMemUsageThreshold"},
		{with(mem, func(r *Rule) { r.HighMemUsageThreshold = 11 }), "HighMemUsageThreshold"},
		{with(mem, func(r *Rule) { r.MemLowWaterMark = 0 }), "MemLowWaterMark"},
		{with(mem, func(r *Rule) { r.MemHighWaterMark = 1 }), "MemHighWaterMark"},
		{with(ok, func(r *Rule) { r.RelationStrategy = AssociatedResource }), "RefResource"},
		{with(ok, func(r *Rule) { r.RefResource = "x" }), "RefResource"},
		{with(warm, func(r *Rule) { r.RelationStrategy, r.RefResource = AssociatedResource, "x" }), "RelationStrategy"},
		{with(ok, func(r *Rule) {
			r.RelationStrategy, r.RefResource, r.StatInterval = AssociatedResource, "x", 2*time.Second
		}), "StatInterval"},
		{with(ok, func(r *Rule) { r.Threshold = 0.5 }), "Threshold"},
		{with(warm, func(r *Rule) { r.Threshold = 2 }), "Threshold"}, // cold rate 2/3 < 1 permit
		{with(mem, func(r *Rule) { r.HighMemUsageThreshold = 0.5 }), "HighMemUsageThreshold"},
		{with(ok, func(r *Rule) { r.StatInterval = 100 * time.Microsecond }), "StatInterval"},
		{with(ok, func(r *Rule) { r.ControlBehavior, r.MaxQueueingTime = Throttling, 2*time.Hour }), "MaxQueueingTime"},
	}
	for i, tc := range cases {
		err := tc.rule.Validate()
		var re *base.RuleError
		if !errors.As(err, &re) || !errors.Is(err, base.ErrInvalidRule) {
			t.Errorf("case %d (%s): error %v, want a RuleError wrapping ErrInvalidRule", i, tc.field, err)
			continue
		}
		if re.Field != tc.field || re.Family != "flow" {
			t.Errorf("case %d: field %q family %q, want %q flow (%v)", i, re.Field, re.Family, tc.field, err)
		}
	}
	for _, r := range []Rule{ok, warm, mem, {Resource: "api/.*", Regex: true, Threshold: 0},
		{Resource: "r", Threshold: 5, RelationStrategy: AssociatedResource, RefResource: "x"},
		{Resource: "r", Threshold: 5, ControlBehavior: Throttling, MaxQueueingTime: time.Second},
		{Resource: "r", Threshold: 0.5, ControlBehavior: Throttling}, // one every 2 s
		{Resource: "r", Threshold: 10.5}} {
		if err := r.Validate(); err != nil {
			t.Errorf("valid rule %+v: %v", r, err)
		}
	}
}

func TestRuleJSON(t *testing.T) {
	r := Rule{ID: "a", Resource: "GET /x", Threshold: 10, Strategy: WarmUp, ControlBehavior: Throttling,
		MaxQueueingTime: 500 * time.Millisecond, WarmUpPeriod: 10 * time.Second, StatInterval: 2 * time.Second}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"strategy":"WarmUp"`, `"controlBehavior":"Throttling"`,
		`"maxQueueingTime":"500ms"`, `"warmUpPeriod":"10s"`, `"statInterval":"2s"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	var back Rule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != r {
		t.Fatalf("round trip: %+v, want %+v", back, r)
	}
	for in, want := range map[string]string{
		`{"resource":"r","threshold":1,"burst":3}`:                `flow rule: unknown key "burst"`,
		`{"resource":"r","strategy":"Lukewarm"}`:                  `flow rule: "strategy": unknown Strategy "Lukewarm"`,
		`{"resource":"r","maxQueueingTime":500}`:                  `flow rule: "maxQueueingTime": want a Go duration string such as "500ms", got 500`,
		`{"resource":"r","maxQueueingTime":"half a second"}`:      `"maxQueueingTime": want a Go duration string such as "500ms", got "half a second"`,
		`{"resource":"r","controlBehavior":"throttling"} {"x":1}`: `after the JSON value`,
		// Keys match exactly and once (issue 12, items 13 and 14).
		`{"resource":"r","threshold":10,"Threshold":20}`:           `flow rule: unknown key "Threshold" (did you mean "threshold"?)`,
		`{"resource":"r","threshold":10,"threshold":20}`:           `flow rule: duplicate key "threshold"`,
		`{"resource":"r","thresold":10}`:                           `flow rule: unknown key "thresold" (did you mean "threshold"?)`,
		`{"resource":"r","threshold":"ten"}`:                       `flow rule: "threshold": want a number, got a string`,
		`{"resource":"r","statInterval":"1s","StatInterval":"2s"}`: `unknown key "StatInterval" (did you mean "statInterval"?)`,
		`{"resource":"r","memLowWaterMark":-1}`:                    `"memLowWaterMark": want a whole number >= 0, got -1`,
	} {
		var r Rule
		err := json.Unmarshal([]byte(in), &r)
		if in == `{"resource":"r","controlBehavior":"throttling"} {"x":1}` {
			err = r.UnmarshalJSON([]byte(in)) // json.Unmarshal itself rejects trailing data first
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Unmarshal(%s) = %v, want an error containing %q", in, err, want)
		}
		if err != nil && (strings.Contains(err.Error(), "Go struct field") || strings.Contains(err.Error(), "json: ")) {
			t.Errorf("Unmarshal(%s) = %v, which speaks of Go internals", in, err)
		}
	}
}
