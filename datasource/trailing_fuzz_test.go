package datasource_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
	"github.com/sluice-go/sluice/datasource"
	"github.com/sluice-go/sluice/datasource/sentinel"
)

// Templates for TestTrailingDataRefused: one valid payload each, with @
// marking every place where extra text can be put: inside a rule (after
// its last value), inside a nested object (a hotspot item), after a rule
// inside its array, after an array inside the document, and after the
// whole payload. Removing the marks gives a payload the decoder accepts.
const (
	flowRuleT      = `{"resource":"a","threshold":1@}`
	isolationRuleT = `{"resource":"a","threshold":1@}`
	breakerRuleT   = `{"resource":"a","strategy":"ErrorCount","retryTimeout":"1s"@,"threshold":1@}`
	hotspotRuleT   = `{"resource":"a","threshold":1,"specificItems":[{"value":"v","threshold":2@}@]@}`
	systemRuleT    = `{"metricType":"Load","triggerCount":1@}`
	documentT      = `{"flow":[` + flowRuleT + `@]@,"hotspot":[` + hotspotRuleT + `@]@}@`

	sentinelFlowT      = `{"resource":"a","threshold":1@}`
	sentinelIsolationT = `{"resource":"a","metricType":0,"threshold":1@}`
	sentinelBreakerT   = `{"resource":"a","strategy":2,"retryTimeoutMs":1000,"statIntervalMs":1000,"threshold":1@}`
	sentinelHotspotT   = `{"resource":"a","metricType":1,"threshold":1,"durationInSec":1,` +
		`"specificItems":[{"valKind":1,"valStr":"v","threshold":2@}@]@}`
	sentinelSystemT = `{"metricType":0,"triggerCount":1@}`

	// YAML in block style: marks after a number (where a plain scalar
	// would swallow text, making it a string the field refuses) and after
	// the document.
	flowYAMLT     = "- resource: a\n  threshold: 1@\n@"
	documentYAMLT = "flow:\n  - resource: a\n    threshold: 1@\nhotspot:\n  - resource: a\n    specificItems:\n      - {value: v, threshold: 2@}@\n@"
)

// trailingJunk is what TestTrailingDataRefused puts at each mark: the
// closers json.Decoder.More stops in front of, whole JSON values, and
// text that is no JSON at all.
var trailingJunk = []string{
	// closers
	"]", "}", "]]", "}}", "]}}}", "}}0", "}]", "]}", "\n]", " } ",
	// values
	"0", " 0", "[]", " {}", "null", ` "x"`, "true", `[{"resource":"b"}]`, `{"flow":[]}`,
	// garbage
	"x", ",", " ,", ";", "\x00", "//", "/*c*/", "\n---\n", "\n...\nx", "\xff", ":", "]]]]]]]]]]",
}

// arr wraps a rule template as an array with marks after the rule and
// after the array.
func arr(rule string) string { return "[" + rule + "@]@" }

// trailingDecoder is one way Sluice reads rule text.
type trailingDecoder struct {
	name   string
	tmpl   string
	yaml   bool // the text is read as YAML, where a trailing comma in a flow collection is valid
	decode func([]byte) error
}

func decodeAs(k datasource.Kind, f datasource.Format) func([]byte) error {
	return func(b []byte) error {
		_, err := datasource.Decode(k, f, b)
		if err != nil && !errors.Is(err, datasource.ErrBadPayload) {
			return errors.New("error does not wrap ErrBadPayload: " + err.Error())
		}
		return err
	}
}

// unmarshal is json.Unmarshal into a new T.
func unmarshal[T any](b []byte) error {
	var v T
	return json.Unmarshal(b, &v)
}

// direct calls (*T).UnmarshalJSON itself, without encoding/json checking
// the text first, as a caller holding a json.RawMessage might.
func direct[T any, P interface {
	*T
	json.Unmarshaler
}](b []byte) error {
	var v T
	return P(&v).UnmarshalJSON(b)
}

func trailingDecoders() []trailingDecoder {
	ds := []trailingDecoder{}
	families := []struct {
		kind           datasource.Kind
		rule, sentinel string
	}{
		{datasource.Flow, flowRuleT, sentinelFlowT},
		{datasource.Isolation, isolationRuleT, sentinelIsolationT},
		{datasource.CircuitBreaker, breakerRuleT, sentinelBreakerT},
		{datasource.Hotspot, hotspotRuleT, sentinelHotspotT},
		{datasource.System, systemRuleT, sentinelSystemT},
	}
	for _, f := range families {
		for _, format := range []datasource.Format{datasource.Auto, datasource.JSON, datasource.YAML} {
			ds = append(ds, trailingDecoder{"Decode " + f.kind.String() + " " + format.String(),
				arr(f.rule), format == datasource.YAML, decodeAs(f.kind, format)})
		}
		ds = append(ds, trailingDecoder{"Decode " + f.kind.String() + " SentinelJSON",
			arr(f.sentinel), false, decodeAs(f.kind, datasource.SentinelJSON)})
	}
	for _, format := range []datasource.Format{datasource.Auto, datasource.JSON, datasource.YAML} {
		ds = append(ds, trailingDecoder{"Decode All " + format.String(), documentT, format == datasource.YAML,
			decodeAs(datasource.All, format)})
	}
	ds = append(ds,
		trailingDecoder{"Decode Flow YAML (block)", flowYAMLT, true, decodeAs(datasource.Flow, datasource.YAML)},
		trailingDecoder{"Decode All YAML (block)", documentYAMLT, true, decodeAs(datasource.All, datasource.YAML)},

		trailingDecoder{"json.Unmarshal sluice.Rules", documentT, false, unmarshal[sluice.Rules]},
		trailingDecoder{"json.Unmarshal *sluice.Rules", documentT, false, unmarshal[*sluice.Rules]},
		trailingDecoder{"(*sluice.Rules).UnmarshalJSON", documentT, false, direct[sluice.Rules]},
		trailingDecoder{"json.Unmarshal flow.Rule", flowRuleT + "@", false, unmarshal[flow.Rule]},
		trailingDecoder{"json.Unmarshal isolation.Rule", isolationRuleT + "@", false, unmarshal[isolation.Rule]},
		trailingDecoder{"json.Unmarshal circuitbreaker.Rule", breakerRuleT + "@", false, unmarshal[circuitbreaker.Rule]},
		trailingDecoder{"json.Unmarshal hotspot.Rule", hotspotRuleT + "@", false, unmarshal[hotspot.Rule]},
		trailingDecoder{"json.Unmarshal system.Rule", systemRuleT + "@", false, unmarshal[system.Rule]},
		trailingDecoder{"json.Unmarshal hotspot.SpecificItem", `{"value":1,"threshold":2@}@`, false, unmarshal[hotspot.SpecificItem]},
		trailingDecoder{"json.Unmarshal []flow.Rule", arr(flowRuleT), false, unmarshal[[]flow.Rule]},
		trailingDecoder{"json.Unmarshal []isolation.Rule", arr(isolationRuleT), false, unmarshal[[]isolation.Rule]},
		trailingDecoder{"json.Unmarshal []circuitbreaker.Rule", arr(breakerRuleT), false, unmarshal[[]circuitbreaker.Rule]},
		trailingDecoder{"json.Unmarshal []hotspot.Rule", arr(hotspotRuleT), false, unmarshal[[]hotspot.Rule]},
		trailingDecoder{"json.Unmarshal []system.Rule", arr(systemRuleT), false, unmarshal[[]system.Rule]},
		trailingDecoder{"json.Unmarshal []*flow.Rule", arr(flowRuleT), false, unmarshal[[]*flow.Rule]},
		trailingDecoder{"(*flow.Rule).UnmarshalJSON", flowRuleT + "@", false, direct[flow.Rule]},
		trailingDecoder{"(*isolation.Rule).UnmarshalJSON", isolationRuleT + "@", false, direct[isolation.Rule]},
		trailingDecoder{"(*circuitbreaker.Rule).UnmarshalJSON", breakerRuleT + "@", false, direct[circuitbreaker.Rule]},
		trailingDecoder{"(*hotspot.Rule).UnmarshalJSON", hotspotRuleT + "@", false, direct[hotspot.Rule]},
		trailingDecoder{"(*system.Rule).UnmarshalJSON", systemRuleT + "@", false, direct[system.Rule]},
		trailingDecoder{"(*hotspot.SpecificItem).UnmarshalJSON", `{"value":1,"threshold":2@}@`, false, direct[hotspot.SpecificItem]},

		trailingDecoder{"sentinel.FlowRules", arr(sentinelFlowT), false, func(b []byte) error { _, err := sentinel.FlowRules(b); return err }},
		trailingDecoder{"sentinel.IsolationRules", arr(sentinelIsolationT), false, func(b []byte) error { _, err := sentinel.IsolationRules(b); return err }},
		trailingDecoder{"sentinel.CircuitBreakerRules", arr(sentinelBreakerT), false, func(b []byte) error { _, err := sentinel.CircuitBreakerRules(b); return err }},
		trailingDecoder{"sentinel.HotspotRules", arr(sentinelHotspotT), false, func(b []byte) error { _, err := sentinel.HotspotRules(b); return err }},
		trailingDecoder{"sentinel.SystemRules", arr(sentinelSystemT), false, func(b []byte) error { _, err := sentinel.SystemRules(b); return err }},
	)
	return ds
}

// trailingCase is a template with junk at one of its marks.
type trailingCase struct {
	where string // the text just before the junk
	data  string
}

// expandTrailing returns tmpl without marks, and every case of junk at
// one mark (the other marks removed).
func expandTrailing(tmpl string, yaml bool) (string, []trailingCase) {
	parts := strings.Split(tmpl, "@")
	var cases []trailingCase
	for i := 1; i < len(parts); i++ {
		before, after := strings.Join(parts[:i], ""), strings.Join(parts[i:], "")
		where := "after the payload"
		if after != "" && strings.TrimSpace(after) != "" {
			where = "after …" + before[max(0, len(before)-14):]
		}
		for _, junk := range trailingJunk {
			// A trailing comma in a YAML flow collection ([a,] or {a: 1,})
			// is YAML, not trailing data.
			if yaml && strings.TrimSpace(junk) == "," && strings.TrimSpace(after) != "" {
				continue
			}
			// A digit after a number's digits is more of the number.
			if isDigit(before[len(before)-1]) && isDigit(junk[0]) {
				continue
			}
			cases = append(cases, trailingCase{where, before + junk + after})
		}
	}
	return strings.Join(parts, ""), cases
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// TestTrailingDataRefused: every decoder of rule text refuses anything
// after the value it reads, at the top level and nested in a rule:
// closers (issue 13, item 13: `[…]]`, `[]}}}`, `{"flow":[]}}` and
// `{…}}0` in a rule were accepted, because json.Decoder.More is false in
// front of ] or }), further values and garbage.
func TestTrailingDataRefused(t *testing.T) {
	for _, d := range trailingDecoders() {
		t.Run(d.name, func(t *testing.T) {
			valid, cases := expandTrailing(d.tmpl, d.yaml)
			if err := d.decode([]byte(valid)); err != nil {
				t.Fatalf("the valid payload %q is refused: %v", valid, err)
			}
			for _, c := range cases {
				if err := d.decode([]byte(c.data)); err == nil {
					t.Errorf("accepted %q (extra text %s)", c.data, c.where)
				}
			}
		})
	}
}

// TestTrailingDataIssueExamples: the payloads of issue 13, item 13, as
// written there, for every kind and format they apply to.
func TestTrailingDataIssueExamples(t *testing.T) {
	rule := `{"resource":"a","threshold":1}`
	for _, tc := range []struct {
		kind datasource.Kind
		data string
	}{
		{datasource.Flow, `[` + rule + `]]`},
		{datasource.Flow, `[]}}}`},
		{datasource.Flow, `[]]`},
		{datasource.Flow, `[` + rule + `}}0]`},
		{datasource.Flow, `[` + rule + `}}0] {"anything":1}`},
		{datasource.All, `{"flow":[]}}`},
		{datasource.All, `{"flow":[]}} trailing garbage`},
		{datasource.All, `{"flow":[` + rule + `}}0]}`},
		{datasource.All, `{}}`},
		{datasource.All, `{}]`},
	} {
		for _, f := range []datasource.Format{datasource.Auto, datasource.JSON, datasource.YAML, datasource.SentinelJSON} {
			if tc.kind == datasource.All && f == datasource.SentinelJSON {
				continue
			}
			if r, err := datasource.Decode(tc.kind, f, []byte(tc.data)); !errors.Is(err, datasource.ErrBadPayload) {
				t.Errorf("Decode(%v, %v, %q) = %+v, %v; want ErrBadPayload", tc.kind, f, tc.data, r, err)
			}
		}
		if tc.kind == datasource.All {
			if err := unmarshal[sluice.Rules]([]byte(tc.data)); err == nil {
				t.Errorf("json.Unmarshal(%q, *sluice.Rules) accepted it", tc.data)
			}
		} else if err := unmarshal[[]flow.Rule]([]byte(tc.data)); err == nil {
			t.Errorf("json.Unmarshal(%q, *[]flow.Rule) accepted it", tc.data)
		}
	}
}
