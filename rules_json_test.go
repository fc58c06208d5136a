package sluice_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sluice-go/sluice"
)

// json.Unmarshal into a Rules value is as strict as datasource.Decode:
// exact keys, each once.
func TestRulesJSONIsStrict(t *testing.T) {
	var r sluice.Rules
	if err := json.Unmarshal([]byte(`{"flow": [{"resource": "a", "threshold": 1}]}`), &r); err != nil || len(r.Flow) != 1 {
		t.Fatalf("a good rule set: %v, %+v", err, r)
	}
	for in, want := range map[string]string{
		`{"Flow": []}`:                                 `unknown key "Flow"`,
		`{"flow": [], "flow": []}`:                     `duplicate key "flow"`,
		`{"flow": [{"resource": "a", "thresold": 1}]}`: `unknown key "thresold"`,
	} {
		err := json.Unmarshal([]byte(in), &r)
		if !errors.Is(err, sluice.ErrBadJSON) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an ErrBadJSON error saying %s", in, err, want)
		}
	}
}
