package isolation

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-go/sluice/core/base"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		rule  Rule
		field string
	}{
		{Rule{Threshold: 1}, "Resource"},
		{Rule{Resource: "(", Regex: true, Threshold: 1}, "Resource"},
		{Rule{Resource: "r", Threshold: -1}, "Threshold"},
	} {
		var re *base.RuleError
		err := tc.rule.Validate()
		if !errors.As(err, &re) || re.Field != tc.field || !errors.Is(err, base.ErrInvalidRule) {
			t.Errorf("%+v: %v, want a RuleError on %s", tc.rule, err, tc.field)
		}
	}
	for _, r := range []Rule{{Resource: "r"}, {Resource: "a.*", Regex: true, Threshold: 3}} {
		if err := r.Validate(); err != nil {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

func TestJSON(t *testing.T) {
	var r Rule
	if err := json.Unmarshal([]byte(`{"id":"i","resource":"r","threshold":4}`), &r); err != nil || r != (Rule{ID: "i", Resource: "r", Threshold: 4}) {
		t.Fatalf("%+v, %v", r, err)
	}
	err := json.Unmarshal([]byte(`{"resource":"r","maxConcurrency":4}`), &r)
	if err == nil || !strings.Contains(err.Error(), "maxConcurrency") {
		t.Fatalf("unknown field: %v", err)
	}
}
