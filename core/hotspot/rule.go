// Package hotspot limits each value of an argument separately (each user ID,
// item ID or tenant) without a resource per value: a token bucket, an even
// spacing or an in-flight cap per value, over a bounded, scan-resistant set
// of the values seen.
package hotspot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sluice-go/sluice/core/base"
)

// MetricType says what a rule limits per value.
type MetricType uint8

const (
	// QPS limits the rate of permits per value. It is the default.
	QPS MetricType = iota
	// Concurrency limits the entries in flight per value.
	Concurrency
)

var metricNames = []string{"QPS", "Concurrency"}

// String returns the metric type's name.
func (m MetricType) String() string { return base.EnumName("MetricType", metricNames, uint8(m)) }

// MarshalText returns the metric type's name.
func (m MetricType) MarshalText() ([]byte, error) {
	return base.MarshalEnum("MetricType", metricNames, uint8(m))
}

// UnmarshalText parses a metric type's name.
func (m *MetricType) UnmarshalText(b []byte) error {
	v, err := base.UnmarshalEnum("MetricType", metricNames, b)
	*m = MetricType(v)
	return err
}

// ControlBehavior says what happens to an entry over a QPS threshold.
type ControlBehavior uint8

const (
	// Reject blocks it at once. It is the default.
	Reject ControlBehavior = iota
	// Throttling spaces each value's entries evenly, making an entry wait
	// for its turn for at most MaxQueueingTime. An entry of more permits
	// than its value's threshold (or of more than one, below a threshold of
	// one) is blocked at once: it would hold the value's queue for more
	// than a Duration.
	Throttling
)

var behaviorNames = []string{"Reject", "Throttling"}

// String returns the behaviour's name.
func (b ControlBehavior) String() string {
	return base.EnumName("ControlBehavior", behaviorNames, uint8(b))
}

// MarshalText returns the behaviour's name.
func (b ControlBehavior) MarshalText() ([]byte, error) {
	return base.MarshalEnum("ControlBehavior", behaviorNames, uint8(b))
}

// UnmarshalText parses a behaviour's name.
func (b *ControlBehavior) UnmarshalText(text []byte) error {
	v, err := base.UnmarshalEnum("ControlBehavior", behaviorNames, text)
	*b = ControlBehavior(v)
	return err
}

// Defaults and bounds.
const (
	DefaultDuration = time.Second
	// DefaultParamsMaxCapacity is how many distinct values a rule tracks
	// when ParamsMaxCapacity is 0.
	DefaultParamsMaxCapacity = 20000
	// MaxParamsMaxCapacity bounds ParamsMaxCapacity.
	MaxParamsMaxCapacity = 1 << 24
	// MaxQueueingTimeLimit bounds MaxQueueingTime.
	MaxQueueingTimeLimit = time.Hour
)

// SpecificItem overrides a rule's Threshold for one value. Value is a
// string, an integer, a float or a bool, matched by kind (every integer
// type is one kind: int 7 matches int64 7, but not 7.0). In JSON and YAML
// it is written as it appears: "vip", 42, 0.5, 2.0, true; a float is
// written with a fraction or an exponent (2.0 is a float, 2 an integer).
type SpecificItem struct {
	// Value is the value the item applies to. JSON/YAML key: value, a
	// string, a number, true or false.
	Value any `json:"value"`
	// Threshold replaces the rule's Threshold for Value, under the same
	// constraints (with the rule's BurstCount under QPS Reject). JSON/YAML
	// key: threshold.
	Threshold float64 `json:"threshold"`
}

// Rule limits each value of one argument of a resource's entries.
//
// The argument is the one under ParamKey among the entry's attachments
// (sluice.WithAttachment) if ParamKey is set, else the one at ParamIndex
// among its arguments (sluice.WithArgs). Attachment keys match exactly: an
// adapter's WithHeaderAttachment("X-User") attaches under "X-User". An
// entry without the argument (an index out of range, no such attachment) is
// not limited by the rule, and is counted (Limiter.NoValue, and
// sluice.Engine.Stats) and logged, once per rule; neither is one whose
// value cannot be counted (see KeyOf: nil, a value of a type that is not
// comparable, such as a slice, map or func, or one not equal to itself,
// such as a NaN of a named float type), which is skipped and counted
// (Limiter.Skipped).
//
// Under QPS, each value has a token bucket of Threshold + BurstCount
// tokens (BurstCount under Reject only) that refills continuously, one
// token every Duration / Threshold: a value that has spent its bucket gets
// its next permit that long after, not at the start of the next Duration.
// Sentinel Go refills instead once a whole Duration has passed since the
// last refill, by the tokens that time is worth, up to the bucket's size,
// so that a value can spend a full bucket at the end of one Duration and
// another at the start of the next, and waits up to a Duration for any
// token to come back.
type Rule struct {
	// ID names the rule in errors and logs. Optional. JSON/YAML key: id.
	ID string `json:"id,omitempty"`
	// Resource is the resource the rule guards, or a regular expression
	// (RE2, matched against the whole name) when Regex is true; each
	// matching resource then counts its values on its own. JSON/YAML key:
	// resource.
	Resource string `json:"resource"`
	// Regex makes Resource a pattern. JSON/YAML key: regex, true or false.
	Regex bool `json:"regex,omitempty"`
	// MetricType says what is limited per value. Default QPS. JSON/YAML
	// key: metricType, a name such as "Concurrency".
	MetricType MetricType `json:"metricType,omitempty"`
	// ControlBehavior applies to QPS. Default Reject. JSON/YAML key:
	// controlBehavior, a name such as "Throttling".
	ControlBehavior ControlBehavior `json:"controlBehavior,omitempty"`
	// ParamIndex picks the argument among WithArgs; a negative index counts
	// from the end (-1 is the last). JSON/YAML key: paramIndex, a whole
	// number.
	ParamIndex int `json:"paramIndex,omitempty"`
	// ParamKey, when set, picks the attachment with this key instead.
	// JSON/YAML key: paramKey.
	ParamKey string `json:"paramKey,omitempty"`
	// Threshold is the permits per Duration (QPS) or the entries in flight
	// (Concurrency, whole entries: 2.5 admits 2) allowed per value. Zero
	// blocks every value that has no SpecificItems entry. Under QPS Reject,
	// a value's bucket holds whole permits, so a Threshold in (0, 1) needs
	// a BurstCount that brings it to 1 or more; Throttling spaces
	// fractional rates exactly. A step of more than about 146 years per
	// permit, or a bucket deeper than that, saturates there (see
	// Limiter). JSON/YAML key: threshold.
	Threshold float64 `json:"threshold"`
	// BurstCount is extra permits a value's bucket holds under QPS Reject:
	// its capacity is Threshold + BurstCount. JSON/YAML key: burstCount.
	BurstCount float64 `json:"burstCount,omitempty"`
	// Duration is the window Threshold refills over. Zero means 1 s.
	// JSON/YAML key: duration, a Go duration string such as "1s".
	Duration time.Duration `json:"duration,omitempty"`
	// MaxQueueingTime is the longest an entry waits for its value's turn
	// under Throttling. Zero means spaced without waiting. JSON/YAML key:
	// maxQueueingTime, a Go duration string such as "500ms".
	MaxQueueingTime time.Duration `json:"maxQueueingTime,omitempty"`
	// ParamsMaxCapacity is how many distinct values are tracked at once;
	// past it, the values least worth keeping are forgotten (see Limiter).
	// Zero means DefaultParamsMaxCapacity. JSON/YAML key:
	// paramsMaxCapacity, a whole number.
	ParamsMaxCapacity int `json:"paramsMaxCapacity,omitempty"`
	// SpecificItems gives some values their own threshold. JSON/YAML key:
	// specificItems, an array of SpecificItem objects.
	SpecificItems []SpecificItem `json:"specificItems,omitempty"`
}

// Window returns Duration or its default.
func (r *Rule) Window() time.Duration {
	if r.Duration == 0 {
		return DefaultDuration
	}
	return r.Duration
}

// Capacity returns ParamsMaxCapacity or its default.
func (r *Rule) Capacity() int {
	if r.ParamsMaxCapacity == 0 {
		return DefaultParamsMaxCapacity
	}
	return r.ParamsMaxCapacity
}

// Validate checks the rule on its own. Its errors are *base.RuleError values
// that wrap base.ErrInvalidRule and name the offending field.
func (r *Rule) Validate() error {
	check := base.RuleCheck{Family: "hotspot", ID: r.ID, Resource: r.Resource}
	if err := check.CheckResource(r.Regex); err != nil {
		return err
	}
	bad := check.Fail
	finite := func(f float64) bool { return f >= 0 && !math.IsInf(f, 1) }
	switch {
	case int(r.MetricType) >= len(metricNames):
		return bad("MetricType", "unknown metric type %d", r.MetricType)
	case int(r.ControlBehavior) >= len(behaviorNames):
		return bad("ControlBehavior", "unknown behaviour %d", r.ControlBehavior)
	case r.MetricType == Concurrency && r.ControlBehavior != Reject:
		return bad("ControlBehavior", "only QPS rules can use Throttling")
	case !finite(r.Threshold):
		return bad("Threshold", "must be a finite number >= 0, got %v", r.Threshold)
	case !finite(r.BurstCount):
		return bad("BurstCount", "must be a finite number >= 0, got %v", r.BurstCount)
	case r.BurstCount != 0 && (r.MetricType != QPS || r.ControlBehavior != Reject):
		return bad("BurstCount", "only applies to QPS Reject")
	case r.wholeless(r.Threshold):
		return bad("Threshold", "%v with BurstCount %v is below 1: %s", r.Threshold, r.BurstCount, noWholePermit)
	case r.Duration != 0 && r.Duration < time.Millisecond:
		return bad("Duration", "must be 0 (1 s) or at least 1ms, got %v", r.Duration)
	case r.MaxQueueingTime < 0 || r.MaxQueueingTime > MaxQueueingTimeLimit:
		return bad("MaxQueueingTime", "must be between 0 and %v, got %v", MaxQueueingTimeLimit, r.MaxQueueingTime)
	case r.MaxQueueingTime != 0 && r.ControlBehavior != Throttling:
		return bad("MaxQueueingTime", "only applies to Throttling")
	case r.ParamsMaxCapacity < 0 || r.ParamsMaxCapacity > MaxParamsMaxCapacity:
		return bad("ParamsMaxCapacity", "must be between 0 and %d, got %d", MaxParamsMaxCapacity, r.ParamsMaxCapacity)
	}
	seen := map[Key]bool{}
	for i, it := range r.SpecificItems {
		k, ok := KeyOf(it.Value)
		if !ok || k.kind == kindOther {
			return bad("SpecificItems", "item %d: value %v (%T) is not a string, integer, float or bool", i, it.Value, it.Value)
		}
		if seen[k] {
			return bad("SpecificItems", "item %d: value %v appears twice", i, it.Value)
		}
		seen[k] = true
		if !finite(it.Threshold) {
			return bad("SpecificItems", "item %d: threshold must be a finite number >= 0, got %v", i, it.Threshold)
		}
		if r.wholeless(it.Threshold) {
			return bad("SpecificItems", "item %d: threshold %v with BurstCount %v is below 1: %s", i, it.Threshold, r.BurstCount, noWholePermit)
		}
	}
	return nil
}

const noWholePermit = "under QPS Reject a value's bucket would hold no whole permit and admit nothing " +
	"(for less than one permit per Duration, use Throttling or a longer Duration)"

// wholeless reports whether threshold, with the rule's BurstCount, makes a
// QPS Reject bucket that never holds a whole permit.
func (r *Rule) wholeless(threshold float64) bool {
	return r.MetricType == QPS && r.ControlBehavior == Reject && threshold > 0 && threshold+r.BurstCount < 1
}

// ruleFields is Rule without its methods, for the JSON form, in which
// ruleJSON's durations hide its own.
type ruleFields Rule

type ruleJSON struct {
	*ruleFields
	Duration        base.Duration `json:"duration,omitempty"`
	MaxQueueingTime base.Duration `json:"maxQueueingTime,omitempty"`
}

// MarshalJSON writes the rule with enums as names and durations as Go
// duration strings ("500ms").
func (r Rule) MarshalJSON() ([]byte, error) {
	return json.Marshal(ruleJSON{(*ruleFields)(&r), base.Duration(r.Duration), base.Duration(r.MaxQueueingTime)})
}

// UnmarshalJSON reads the form MarshalJSON writes, strictly (see
// base.DecodeStrict): keys as the fields' doc comments give them, case
// and all, each once. An error is a *base.DecodeError that names the key,
// such as `hotspot rule: "specificItems[1].value": want a string, a
// number, true or false, got an object`.
func (r *Rule) UnmarshalJSON(b []byte) error {
	j := ruleJSON{(*ruleFields)(r), base.Duration(r.Duration), base.Duration(r.MaxQueueingTime)}
	if err := base.DecodeRule("hotspot", b, &j); err != nil {
		return err
	}
	r.Duration = time.Duration(j.Duration)
	r.MaxQueueingTime = time.Duration(j.MaxQueueingTime)
	return nil
}

// MarshalJSON writes the item so that UnmarshalJSON reads back a value of
// the same kind: a float always with a fraction or an exponent (2.0, not
// 2, which would read back as an integer), a float32 as the float64 it is
// counted as (float32(0.1) as 0.10000000149011612).
func (it SpecificItem) MarshalJSON() ([]byte, error) {
	v := it.Value
	switch x := v.(type) {
	case float32:
		v = floatJSON(float64(x))
	case float64:
		v = floatJSON(x)
	}
	return json.Marshal(struct {
		Value     any     `json:"value"`
		Threshold float64 `json:"threshold"`
	}{v, it.Threshold})
}

// floatJSON is a float64 that marshals as encoding/json writes it, with
// ".0" added where that has neither a fraction nor an exponent.
type floatJSON float64

func (f floatJSON) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(float64(f))
	if err == nil && !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, err
}

// UnmarshalJSON reads an item strictly, as Rule.UnmarshalJSON does,
// keeping its value's kind: a JSON string is a string, a number without a
// fraction or exponent that fits an int64 is an int64, else one that fits
// a uint64 a uint64, any other number a float64 (2.0 and 2e0 are floats),
// true and false a bool. A missing value, null, an object or an array is
// an error.
func (it *SpecificItem) UnmarshalJSON(b []byte) error {
	var raw struct {
		Value     json.RawMessage `json:"value"`
		Threshold float64         `json:"threshold"`
	}
	if err := base.DecodeStrict(b, &raw); err != nil {
		return err
	}
	v, err := itemValue(raw.Value)
	if err != nil {
		return &base.DecodeError{Index: -1, Key: "value", Err: err}
	}
	it.Value, it.Threshold = v, raw.Threshold
	return nil
}

// itemValue reads a SpecificItem's value; raw is empty when the key is
// missing.
func itemValue(raw json.RawMessage) (any, error) {
	const want = "want a string, a number, true or false"
	if len(raw) == 0 {
		return nil, errors.New("missing: " + want)
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case 't', 'f':
		return raw[0] == 't', nil
	case '{':
		return nil, errors.New(want + ", got an object")
	case '[':
		return nil, errors.New(want + ", got an array")
	case 'n':
		return nil, errors.New(want + ", got null")
	}
	n := json.Number(raw)
	if i, err := n.Int64(); err == nil {
		return i, nil
	}
	if u, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
		return u, nil
	}
	if f, err := n.Float64(); err == nil {
		return f, nil
	}
	return nil, fmt.Errorf("want a number that fits a float64, got %s", raw)
}
