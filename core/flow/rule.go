// Package flow holds QPS flow-control rules and the controllers that enforce
// them: Reject (a hard cap per interval), Throttling (even spacing with a
// bounded queue), WarmUp (a cold start that ramps up to the threshold) and
// MemoryAdaptive (a threshold that falls as memory use rises).
package flow

import (
	"encoding/json"
	"math"
	"time"

	"github.com/sluice-go/sluice/core/base"
)

// Strategy says how a rule's threshold is worked out.
type Strategy uint8

const (
	// Direct uses Threshold as it is. It is the default.
	Direct Strategy = iota
	// WarmUp starts a cold resource at Threshold / WarmUpColdFactor and
	// raises it to Threshold over WarmUpPeriod of sustained traffic (see
	// WarmUpRate for the exact curve).
	WarmUp
	// MemoryAdaptive slides the threshold from LowMemUsageThreshold down to
	// HighMemUsageThreshold as the process's memory use rises from
	// MemLowWaterMark to MemHighWaterMark. Threshold is not used.
	MemoryAdaptive
)

var strategyNames = []string{"Direct", "WarmUp", "MemoryAdaptive"}

// String returns the strategy's name.
func (s Strategy) String() string { return base.EnumName("Strategy", strategyNames, uint8(s)) }

// MarshalText returns the strategy's name, such as "WarmUp".
func (s Strategy) MarshalText() ([]byte, error) {
	return base.MarshalEnum("Strategy", strategyNames, uint8(s))
}

// UnmarshalText parses a strategy's name.
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := base.UnmarshalEnum("Strategy", strategyNames, b)
	*s = Strategy(v)
	return err
}

// ControlBehavior says what happens to an entry over the threshold.
type ControlBehavior uint8

const (
	// Reject blocks entries over the threshold at once. It is the default.
	// Passes are counted in a sliding window of 10 buckets (100 ms each by
	// default): every StatInterval that starts on a bucket edge holds at
	// most Threshold passes, exactly, however many goroutines race. An
	// interval that starts between edges can hold more: at worst twice the
	// threshold, with a full burst at the end of one bucket and another as
	// the bucket ten later opens (0.9 intervals apart); spread traffic
	// stays within about 1.1 times. Throttling spaces entries instead.
	Reject ControlBehavior = iota
	// Throttling spaces entries evenly: an entry of n permits occupies
	// n × StatInterval / Threshold, and the next entry starts when it ends.
	// A span longer than a time.Duration holds (about 292 years, as at
	// 1e-10 per second) never ends: the first entry passes, no later one.
	// An entry waits for its start for at most MaxQueueingTime, or is
	// blocked at once. An entry of more permits than the threshold in force
	// (or of more than one, below a threshold of one) is blocked at once,
	// as under Reject: it would hold the queue for more than a StatInterval.
	Throttling
)

var behaviorNames = []string{"Reject", "Throttling"}

// String returns the behaviour's name.
func (b ControlBehavior) String() string {
	return base.EnumName("ControlBehavior", behaviorNames, uint8(b))
}

// MarshalText returns the behaviour's name, such as "Throttling".
func (b ControlBehavior) MarshalText() ([]byte, error) {
	return base.MarshalEnum("ControlBehavior", behaviorNames, uint8(b))
}

// UnmarshalText parses a behaviour's name.
func (b *ControlBehavior) UnmarshalText(text []byte) error {
	v, err := base.UnmarshalEnum("ControlBehavior", behaviorNames, text)
	*b = ControlBehavior(v)
	return err
}

// RelationStrategy says whose traffic a rule counts.
type RelationStrategy uint8

const (
	// CurrentResource counts the rule's own resource. It is the default.
	CurrentResource RelationStrategy = iota
	// AssociatedResource blocks the rule's resource while RefResource's
	// passed traffic over the engine's statistics window (see
	// sluice.WithStatWindow; 1 s by default), plus this entry's batch, would
	// exceed Threshold. StatInterval must be left 0. It lets a low-priority resource give way to a
	// high-priority one that shares a dependency.
	AssociatedResource
)

var relationNames = []string{"CurrentResource", "AssociatedResource"}

// String returns the relation strategy's name.
func (r RelationStrategy) String() string {
	return base.EnumName("RelationStrategy", relationNames, uint8(r))
}

// MarshalText returns the relation strategy's name.
func (r RelationStrategy) MarshalText() ([]byte, error) {
	return base.MarshalEnum("RelationStrategy", relationNames, uint8(r))
}

// UnmarshalText parses a relation strategy's name.
func (r *RelationStrategy) UnmarshalText(b []byte) error {
	v, err := base.UnmarshalEnum("RelationStrategy", relationNames, b)
	*r = RelationStrategy(v)
	return err
}

// Defaults applied to zero fields, and bounds.
const (
	DefaultStatInterval = time.Second
	// MinStatInterval is the shortest StatInterval a rule may set.
	MinStatInterval = time.Millisecond
	// MaxQueueingTimeLimit is the longest MaxQueueingTime a rule may set.
	MaxQueueingTimeLimit    = time.Hour
	DefaultWarmUpColdFactor = 3
	// statBuckets is the number of buckets a Reject window is cut into
	// (with the default interval, 100 ms each): every StatInterval that
	// starts on a bucket edge holds at most Threshold passes; one that
	// starts between edges may hold up to twice that (see Reject).
	statBuckets = 10
)

// Rule limits the rate of entries to a resource.
//
// The zero value of every field but Resource and Threshold is a sensible
// default: Direct strategy, Reject behaviour, a 1 s interval, the rule's own
// resource counted.
type Rule struct {
	// ID names the rule in errors and logs. Optional. JSON/YAML key: id.
	ID string `json:"id,omitempty"`
	// Resource is the resource the rule guards, or a regular expression
	// (RE2 syntax, matched against the whole name) when Regex is true.
	// JSON/YAML key: resource.
	Resource string `json:"resource"`
	// Regex makes Resource a pattern: the rule then applies to each
	// resource whose name matches it, with its own count for each.
	// JSON/YAML key: regex, true or false.
	Regex bool `json:"regex,omitempty"`
	// Threshold is the number of permits (entries times their batch count)
	// allowed per StatInterval. Zero blocks everything. Under Reject only
	// whole permits pass, so a threshold in (0, 1) is invalid (10.5 admits
	// 10); Throttling spaces fractional rates exactly. Not used by
	// MemoryAdaptive. JSON/YAML key: threshold.
	Threshold float64 `json:"threshold"`
	// Strategy says how the threshold is worked out. Default Direct.
	// JSON/YAML key: strategy, a name such as "WarmUp".
	Strategy Strategy `json:"strategy,omitempty"`
	// ControlBehavior says what happens over the threshold. Default Reject.
	// JSON/YAML key: controlBehavior, a name such as "Throttling".
	ControlBehavior ControlBehavior `json:"controlBehavior,omitempty"`
	// StatInterval is the interval Threshold is counted over. Zero means 1 s;
	// otherwise at least MinStatInterval. With Reject it is counted in a
	// sliding window of 10 buckets, so it must be a multiple of 10 ns.
	// JSON/YAML key: statInterval, a Go duration string such as "1s".
	StatInterval time.Duration `json:"statInterval,omitempty"`
	// MaxQueueingTime is the longest an entry may wait for its turn under
	// Throttling; an entry that would wait longer is blocked at once. Zero
	// means entries are spaced but never wait. At most MaxQueueingTimeLimit.
	// JSON/YAML key: maxQueueingTime, a Go duration string such as "500ms".
	MaxQueueingTime time.Duration `json:"maxQueueingTime,omitempty"`
	// WarmUpPeriod is how long sustained traffic takes to raise a cold
	// resource to Threshold under WarmUp. Required with WarmUp.
	// JSON/YAML key: warmUpPeriod, a Go duration string such as "30s".
	WarmUpPeriod time.Duration `json:"warmUpPeriod,omitempty"`
	// WarmUpColdFactor is Threshold divided by the cold starting rate under
	// WarmUp. Zero means 3; otherwise it must be greater than 1.
	// JSON/YAML key: warmUpColdFactor.
	WarmUpColdFactor float64 `json:"warmUpColdFactor,omitempty"`
	// RelationStrategy says whose traffic is counted. Default
	// CurrentResource. JSON/YAML key: relationStrategy, a name such as
	// "AssociatedResource".
	RelationStrategy RelationStrategy `json:"relationStrategy,omitempty"`
	// RefResource is the resource counted under AssociatedResource.
	// JSON/YAML key: refResource.
	RefResource string `json:"refResource,omitempty"`
	// LowMemUsageThreshold is the threshold (per StatInterval) under
	// MemoryAdaptive while memory use is at or below MemLowWaterMark.
	// JSON/YAML key: lowMemUsageThreshold.
	LowMemUsageThreshold float64 `json:"lowMemUsageThreshold,omitempty"`
	// HighMemUsageThreshold is the threshold under MemoryAdaptive while
	// memory use is at or above MemHighWaterMark. It must not exceed
	// LowMemUsageThreshold. JSON/YAML key: highMemUsageThreshold.
	HighMemUsageThreshold float64 `json:"highMemUsageThreshold,omitempty"`
	// MemLowWaterMark and MemHighWaterMark, in bytes, bound the memory range
	// over which MemoryAdaptive slides linearly between the two thresholds.
	// JSON/YAML key: memLowWaterMark, a whole number.
	MemLowWaterMark uint64 `json:"memLowWaterMark,omitempty"`
	// MemHighWaterMark: see MemLowWaterMark. JSON/YAML key:
	// memHighWaterMark, a whole number.
	MemHighWaterMark uint64 `json:"memHighWaterMark,omitempty"`
}

// Interval returns StatInterval, or its default when it is zero.
func (r *Rule) Interval() time.Duration {
	if r.StatInterval == 0 {
		return DefaultStatInterval
	}
	return r.StatInterval
}

// ColdFactor returns WarmUpColdFactor, or its default when it is zero.
func (r *Rule) ColdFactor() float64 {
	if r.WarmUpColdFactor == 0 {
		return DefaultWarmUpColdFactor
	}
	return r.WarmUpColdFactor
}

// Validate checks the rule on its own. Its errors are *base.RuleError values
// that wrap base.ErrInvalidRule and name the offending field.
func (r *Rule) Validate() error {
	check := base.RuleCheck{Family: "flow", ID: r.ID, Resource: r.Resource}
	if err := check.CheckResource(r.Regex); err != nil {
		return err
	}
	bad := check.Fail
	switch {
	case !finiteNonNegative(r.Threshold):
		return bad("Threshold", "must be a finite number >= 0, got %v", r.Threshold)
	case int(r.Strategy) >= len(strategyNames):
		return bad("Strategy", "unknown strategy %d", r.Strategy)
	case int(r.ControlBehavior) >= len(behaviorNames):
		return bad("ControlBehavior", "unknown behaviour %d", r.ControlBehavior)
	case int(r.RelationStrategy) >= len(relationNames):
		return bad("RelationStrategy", "unknown relation strategy %d", r.RelationStrategy)
	case r.StatInterval != 0 && (r.StatInterval < MinStatInterval || r.StatInterval%statBuckets != 0):
		return bad("StatInterval", "must be 0 (1 s) or at least %v and a multiple of %d ns, got %v",
			MinStatInterval, statBuckets, r.StatInterval)
	case r.MaxQueueingTime < 0 || r.MaxQueueingTime > MaxQueueingTimeLimit:
		return bad("MaxQueueingTime", "must be between 0 and %v, got %v", MaxQueueingTimeLimit, r.MaxQueueingTime)
	case r.MaxQueueingTime > 0 && r.ControlBehavior != Throttling:
		return bad("MaxQueueingTime", "only applies to ControlBehavior Throttling")
	}
	switch r.Strategy {
	case WarmUp:
		switch {
		case r.WarmUpPeriod <= 0:
			return bad("WarmUpPeriod", "must be > 0 with Strategy WarmUp, got %v", r.WarmUpPeriod)
		case r.WarmUpColdFactor != 0 && !(r.WarmUpColdFactor > 1) || math.IsInf(r.WarmUpColdFactor, 0):
			return bad("WarmUpColdFactor", "must be > 1 (or 0 for the default 3), got %v", r.WarmUpColdFactor)
		}
	case MemoryAdaptive:
		switch {
		case !finiteNonNegative(r.LowMemUsageThreshold):
			return bad("LowMemUsageThreshold", "must be a finite number >= 0, got %v", r.LowMemUsageThreshold)
		case !finiteNonNegative(r.HighMemUsageThreshold) || r.HighMemUsageThreshold > r.LowMemUsageThreshold:
			return bad("HighMemUsageThreshold", "must be >= 0 and <= LowMemUsageThreshold (%v), got %v",
				r.LowMemUsageThreshold, r.HighMemUsageThreshold)
		case r.MemLowWaterMark == 0:
			return bad("MemLowWaterMark", "must be > 0 with Strategy MemoryAdaptive")
		case r.MemHighWaterMark <= r.MemLowWaterMark:
			return bad("MemHighWaterMark", "must be > MemLowWaterMark (%d), got %d", r.MemLowWaterMark, r.MemHighWaterMark)
		}
	}
	if r.Strategy != WarmUp && (r.WarmUpPeriod != 0 || r.WarmUpColdFactor != 0) {
		return bad("WarmUpPeriod", "only applies to Strategy WarmUp")
	}
	if r.ControlBehavior == Reject {
		if field, v := r.fractionalThreshold(); field != "" {
			return bad(field, "%v admits no whole permit per StatInterval under Reject; use a longer "+
				"StatInterval (for WarmUp, Threshold / WarmUpColdFactor must be >= 1)", v)
		}
	}
	if r.RelationStrategy == AssociatedResource {
		switch {
		case r.RefResource == "":
			return bad("RefResource", "must be set with AssociatedResource")
		case r.StatInterval != 0:
			return bad("StatInterval", "AssociatedResource counts RefResource over the engine's statistics window; leave StatInterval 0")
		case r.ControlBehavior != Reject || r.Strategy == WarmUp:
			return bad("RelationStrategy", "AssociatedResource works with ControlBehavior Reject and Strategy Direct or MemoryAdaptive")
		}
	} else if r.RefResource != "" {
		return bad("RefResource", "only applies to RelationStrategy AssociatedResource")
	}
	return nil
}

// fractionalThreshold returns the field and value of a threshold in (0, 1),
// which Reject, admitting whole permits only, would turn into zero; or "".
func (r *Rule) fractionalThreshold() (string, float64) {
	fractional := func(v float64) bool { return v > 0 && v < 1 }
	switch r.Strategy {
	case WarmUp:
		if cold := r.Threshold / r.ColdFactor(); fractional(cold) {
			return "Threshold", cold
		}
	case MemoryAdaptive:
		if fractional(r.LowMemUsageThreshold) {
			return "LowMemUsageThreshold", r.LowMemUsageThreshold
		}
		if fractional(r.HighMemUsageThreshold) {
			return "HighMemUsageThreshold", r.HighMemUsageThreshold
		}
	default:
		if fractional(r.Threshold) {
			return "Threshold", r.Threshold
		}
	}
	return "", 0
}

func finiteNonNegative(f float64) bool { return f >= 0 && !math.IsInf(f, 1) }

// ruleFields is Rule without its methods, for the JSON form, in which
// ruleJSON's durations hide its own.
type ruleFields Rule

type ruleJSON struct {
	*ruleFields
	StatInterval    base.Duration `json:"statInterval,omitempty"`
	MaxQueueingTime base.Duration `json:"maxQueueingTime,omitempty"`
	WarmUpPeriod    base.Duration `json:"warmUpPeriod,omitempty"`
}

// MarshalJSON writes the rule with enums as names and durations as Go
// duration strings ("500ms").
func (r Rule) MarshalJSON() ([]byte, error) {
	return json.Marshal(ruleJSON{(*ruleFields)(&r), base.Duration(r.StatInterval),
		base.Duration(r.MaxQueueingTime), base.Duration(r.WarmUpPeriod)})
}

// UnmarshalJSON reads the form MarshalJSON writes, strictly (see
// base.DecodeStrict): keys as the fields' doc comments give them, case
// and all, each once. An error is a *base.DecodeError that names the key,
// such as `flow rule: unknown key "thresold" (did you mean "threshold"?)`.
func (r *Rule) UnmarshalJSON(b []byte) error {
	j := ruleJSON{(*ruleFields)(r), base.Duration(r.StatInterval),
		base.Duration(r.MaxQueueingTime), base.Duration(r.WarmUpPeriod)}
	if err := base.DecodeRule("flow", b, &j); err != nil {
		return err
	}
	r.StatInterval = time.Duration(j.StatInterval)
	r.MaxQueueingTime = time.Duration(j.MaxQueueingTime)
	r.WarmUpPeriod = time.Duration(j.WarmUpPeriod)
	return nil
}
