// Package circuitbreaker holds circuit-breaking rules and the breakers that
// enforce them: a breaker opens when calls to a resource are too slow or
// fail too often, blocks every call while open, then lets a few probe calls
// through to decide whether to close again.
package circuitbreaker

import (
	"encoding/json"
	"math"
	"time"

	"github.com/sluice-go/sluice/core/base"
)

// Strategy says what trips a breaker.
type Strategy uint8

const (
	// SlowRequestRatio trips when the share of completed calls slower than
	// MaxAllowedRT reaches Threshold. It is the zero value.
	SlowRequestRatio Strategy = iota
	// ErrorRatio trips when the share of completed calls that failed
	// reaches Threshold.
	ErrorRatio
	// ErrorCount trips when the number of failed calls in the window
	// reaches Threshold.
	ErrorCount
)

var strategyNames = []string{"SlowRequestRatio", "ErrorRatio", "ErrorCount"}

// String returns the strategy's name.
func (s Strategy) String() string { return base.EnumName("Strategy", strategyNames, uint8(s)) }

// MarshalText returns the strategy's name, such as "ErrorRatio".
func (s Strategy) MarshalText() ([]byte, error) {
	return base.MarshalEnum("Strategy", strategyNames, uint8(s))
}

// UnmarshalText parses a strategy's name.
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := base.UnmarshalEnum("Strategy", strategyNames, b)
	*s = Strategy(v)
	return err
}

// Defaults applied to zero fields.
const (
	DefaultStatInterval = time.Second
	// DefaultStatBuckets cuts the interval into sliding buckets, so that a
	// burst straddling a bucket edge is still counted whole (a single
	// bucket, Sentinel's default, splits it between two windows).
	DefaultStatBuckets = 10
	DefaultProbeNum    = 1

	// MinStatInterval, MaxStatBuckets and MaxProbeNum bound what a rule may
	// set.
	MinStatInterval = time.Millisecond
	MaxStatBuckets  = 1000
	MaxProbeNum     = 1 << 16
)

// Rule configures a circuit breaker on a resource.
//
// The breaker counts the calls that complete (Exit) in a sliding window of
// StatInterval. It is Closed at first and lets every call through. When a
// call completes and the window holds at least MinRequestAmount calls whose
// slow or error ratio (or error count) is >= Threshold, it opens: every call
// is blocked for RetryTimeout. Then it is half-open: at most ProbeNum calls
// at a time pass as probes. ProbeNum successful probes close it, with its
// statistics restarted from zero; a failed (or, for SlowRequestRatio, slow)
// probe opens it again for another RetryTimeout. A probe whose call never
// runs (a later check blocked it) gives its slot back at once, and one still
// in flight after RetryTimeout (its caller never exited) gives it to the
// next caller, so a breaker never stays half-open for want of probes; such a
// lost probe no longer counts when it completes, and never frees the slot
// its successor holds.
//
// What counts as failed is the engine's error classifier's call (see
// sluice.WithErrorClassifier); for SlowRequestRatio only the response time
// counts.
type Rule struct {
	// ID names the rule in errors, logs and state changes. Optional.
	// JSON/YAML key: id.
	ID string `json:"id,omitempty"`
	// Resource is the resource the rule guards, or a regular expression
	// (RE2, matched against the whole name) when Regex is true; each
	// matching resource then gets a breaker of its own. JSON/YAML key:
	// resource.
	Resource string `json:"resource"`
	// Regex makes Resource a pattern. JSON/YAML key: regex, true or false.
	Regex bool `json:"regex,omitempty"`
	// Strategy says what trips the breaker. Default SlowRequestRatio.
	// JSON/YAML key: strategy, a name such as "ErrorRatio".
	Strategy Strategy `json:"strategy"`
	// RetryTimeout is how long the breaker stays open before it lets
	// probes through. Required, > 0. One that reaches past the clock's
	// range (math.MaxInt64 nanoseconds since the Unix epoch, in 2262) keeps
	// the breaker open until then. JSON/YAML key: retryTimeout, a Go
	// duration string such as "5s".
	RetryTimeout time.Duration `json:"retryTimeout"`
	// MinRequestAmount is the fewest completed calls in the window that can
	// trip the breaker. Zero means 1. JSON/YAML key: minRequestAmount, a
	// whole number.
	MinRequestAmount int64 `json:"minRequestAmount,omitempty"`
	// StatInterval is the span of the sliding window. Zero means 1 s;
	// otherwise at least MinStatInterval. JSON/YAML key: statInterval, a
	// Go duration string such as "10s".
	StatInterval time.Duration `json:"statInterval,omitempty"`
	// StatBuckets is the number of buckets the window slides by. Zero means
	// 10; at most MaxStatBuckets, and it must divide StatInterval exactly.
	// JSON/YAML key: statBuckets, a whole number.
	StatBuckets int `json:"statBuckets,omitempty"`
	// MaxAllowedRT: a call is slow when its response time is strictly
	// greater. Required (> 0) for SlowRequestRatio, unused otherwise.
	// JSON/YAML key: maxAllowedRT, a Go duration string such as "200ms".
	MaxAllowedRT time.Duration `json:"maxAllowedRT,omitempty"`
	// Threshold is a ratio in (0, 1] for the ratio strategies, or a count
	// (>= 1) for ErrorCount. JSON/YAML key: threshold.
	Threshold float64 `json:"threshold"`
	// ProbeNum is how many probes may be in flight at once when half-open,
	// and how many must succeed to close the breaker. Zero means 1; at most
	// MaxProbeNum. JSON/YAML key: probeNum, a whole number.
	ProbeNum int64 `json:"probeNum,omitempty"`
}

// Interval returns StatInterval or its default.
func (r *Rule) Interval() time.Duration {
	if r.StatInterval == 0 {
		return DefaultStatInterval
	}
	return r.StatInterval
}

// Buckets returns StatBuckets or its default.
func (r *Rule) Buckets() int {
	if r.StatBuckets == 0 {
		return DefaultStatBuckets
	}
	return r.StatBuckets
}

// Probes returns ProbeNum or its default.
func (r *Rule) Probes() int64 {
	if r.ProbeNum == 0 {
		return DefaultProbeNum
	}
	return r.ProbeNum
}

// MinRequests returns MinRequestAmount, at least 1.
func (r *Rule) MinRequests() int64 { return max(r.MinRequestAmount, 1) }

// Validate checks the rule on its own. Its errors are *base.RuleError values
// that wrap base.ErrInvalidRule and name the offending field.
func (r *Rule) Validate() error {
	check := base.RuleCheck{Family: "circuit breaker", ID: r.ID, Resource: r.Resource}
	if err := check.CheckResource(r.Regex); err != nil {
		return err
	}
	bad := check.Fail
	switch {
	case int(r.Strategy) >= len(strategyNames):
		return bad("Strategy", "unknown strategy %d", r.Strategy)
	case r.RetryTimeout <= 0:
		return bad("RetryTimeout", "must be > 0, got %v", r.RetryTimeout)
	case r.MinRequestAmount < 0:
		return bad("MinRequestAmount", "must be >= 0, got %d", r.MinRequestAmount)
	case r.StatInterval != 0 && r.StatInterval < MinStatInterval:
		return bad("StatInterval", "must be 0 (1 s) or at least %v, got %v", MinStatInterval, r.StatInterval)
	case r.StatBuckets < 0 || r.StatBuckets > MaxStatBuckets || int64(r.Interval())%int64(r.Buckets()) != 0:
		return bad("StatBuckets", "must be between 0 and %d and divide StatInterval (%v) exactly, got %d",
			MaxStatBuckets, r.Interval(), r.StatBuckets)
	case r.ProbeNum < 0 || r.ProbeNum > MaxProbeNum:
		return bad("ProbeNum", "must be between 0 and %d, got %d", MaxProbeNum, r.ProbeNum)
	case math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0):
		return bad("Threshold", "must be a finite number, got %v", r.Threshold)
	}
	switch r.Strategy {
	case SlowRequestRatio, ErrorRatio:
		if !(r.Threshold > 0 && r.Threshold <= 1) {
			return bad("Threshold", "must be a ratio in (0, 1] for %v, got %v", r.Strategy, r.Threshold)
		}
	case ErrorCount:
		if r.Threshold < 1 {
			return bad("Threshold", "must be a count >= 1 for ErrorCount, got %v", r.Threshold)
		}
	}
	if r.Strategy == SlowRequestRatio && r.MaxAllowedRT <= 0 {
		return bad("MaxAllowedRT", "must be > 0 for SlowRequestRatio, got %v", r.MaxAllowedRT)
	}
	if r.Strategy != SlowRequestRatio && r.MaxAllowedRT != 0 {
		return bad("MaxAllowedRT", "only applies to SlowRequestRatio")
	}
	return nil
}

// ruleFields is Rule without its methods, for the JSON form, in which
// ruleJSON's durations hide its own.
type ruleFields Rule

type ruleJSON struct {
	*ruleFields
	RetryTimeout base.Duration `json:"retryTimeout"`
	StatInterval base.Duration `json:"statInterval,omitempty"`
	MaxAllowedRT base.Duration `json:"maxAllowedRT,omitempty"`
}

// MarshalJSON writes the rule with the strategy as a name and durations as
// Go duration strings ("500ms").
func (r Rule) MarshalJSON() ([]byte, error) {
	return json.Marshal(ruleJSON{(*ruleFields)(&r), base.Duration(r.RetryTimeout),
		base.Duration(r.StatInterval), base.Duration(r.MaxAllowedRT)})
}

// UnmarshalJSON reads the form MarshalJSON writes, strictly (see
// base.DecodeStrict): keys as the fields' doc comments give them, case
// and all, each once. An error is a *base.DecodeError that names the key.
func (r *Rule) UnmarshalJSON(b []byte) error {
	j := ruleJSON{(*ruleFields)(r), base.Duration(r.RetryTimeout),
		base.Duration(r.StatInterval), base.Duration(r.MaxAllowedRT)}
	if err := base.DecodeRule("circuit breaker", b, &j); err != nil {
		return err
	}
	r.RetryTimeout = time.Duration(j.RetryTimeout)
	r.StatInterval = time.Duration(j.StatInterval)
	r.MaxAllowedRT = time.Duration(j.MaxAllowedRT)
	return nil
}
