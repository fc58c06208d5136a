// Package isolation holds concurrency-isolation rules: a cap on how many
// entries to a resource may be in flight at once, exact under any
// contention.
package isolation

import "github.com/sluice-go/sluice/core/base"

// Rule caps the entries to a resource that may be in flight at once.
//
// An entry is in flight from a passed Entry to its Exit, whatever its batch
// count. With several rules on one resource, the smallest Threshold is the
// one in force.
type Rule struct {
	// ID names the rule in errors and logs. Optional. JSON/YAML key: id.
	ID string `json:"id,omitempty"`
	// Resource is the resource the rule guards, or a regular expression
	// (RE2, matched against the whole name) when Regex is true.
	// JSON/YAML key: resource.
	Resource string `json:"resource"`
	// Regex makes Resource a pattern: the rule then applies to each
	// resource whose name matches it, with its own count for each.
	// JSON/YAML key: regex, true or false.
	Regex bool `json:"regex,omitempty"`
	// Threshold is the most entries in flight at once. Zero blocks every
	// entry. JSON/YAML key: threshold, a whole number.
	Threshold int64 `json:"threshold"`
}

// Validate checks the rule on its own. Its errors are *base.RuleError values
// that wrap base.ErrInvalidRule and name the offending field.
func (r *Rule) Validate() error {
	check := base.RuleCheck{Family: "isolation", ID: r.ID, Resource: r.Resource}
	if err := check.CheckResource(r.Regex); err != nil {
		return err
	}
	bad := check.Fail
	if r.Threshold < 0 {
		return bad("Threshold", "must be >= 0, got %d", r.Threshold)
	}
	return nil
}

type ruleFields Rule

// UnmarshalJSON reads a rule strictly (see base.DecodeStrict): keys as
// the fields' doc comments give them, case and all, each once. An error is
// a *base.DecodeError that names the key.
func (r *Rule) UnmarshalJSON(b []byte) error {
	return base.DecodeRule("isolation", b, (*ruleFields)(r))
}
