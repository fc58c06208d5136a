package sentinel

import (
	"math"
	"time"

	"github.com/sluice-go/sluice/core/circuitbreaker"
)

// sentinelBreakerRule is Sentinel Go's circuitbreaker.Rule as JSON.
type sentinelBreakerRule struct {
	ID                           string  `json:"id,omitempty"`
	Resource                     string  `json:"resource"`
	Strategy                     uint32  `json:"strategy"`
	RetryTimeoutMs               uint32  `json:"retryTimeoutMs"`
	MinRequestAmount             uint64  `json:"minRequestAmount"`
	StatIntervalMs               uint32  `json:"statIntervalMs"`
	StatSlidingWindowBucketCount uint32  `json:"statSlidingWindowBucketCount"`
	MaxAllowedRtMs               uint64  `json:"maxAllowedRtMs"`
	Threshold                    float64 `json:"threshold"`
	ProbeNum                     uint64  `json:"probeNum"`
}

// CircuitBreakerRules converts a JSON array of Sentinel Go circuit-breaker
// rules (the JSON of Sentinel Go's circuitbreaker.Rule, as its
// CircuitBreakerRuleJsonArrayParser reads it) into Sluice rules, one for
// each, in order.
//
// strategy 0, 1, 2 become SlowRequestRatio, ErrorRatio, ErrorCount.
// retryTimeoutMs, statIntervalMs and maxAllowedRtMs become durations in
// milliseconds; maxAllowedRtMs is dropped unless the strategy is
// SlowRequestRatio, the only one Sentinel Go reads it for.
// statSlidingWindowBucketCount becomes StatBuckets, with Sentinel Go's
// reading: 0, or a count that does not divide statIntervalMs, is 1 bucket
// (Sluice's zero would be 10). For ErrorCount the threshold is truncated to
// a whole number, as Sentinel Go does. statIntervalMs 0 is refused:
// Sentinel Go does not load such a rule, while Sluice would read 0 as 1 s.
//
// An error is an *Error.
func CircuitBreakerRules(data []byte) ([]circuitbreaker.Rule, error) {
	return convertArray("circuit breaker", data, func(s *sentinelBreakerRule) string { return s.Resource }, convertBreaker)
}

func convertBreaker(id rule, s *sentinelBreakerRule) (circuitbreaker.Rule, error) {
	r := circuitbreaker.Rule{
		ID:           s.ID,
		Resource:     s.Resource,
		RetryTimeout: time.Duration(s.RetryTimeoutMs) * time.Millisecond,
		StatInterval: time.Duration(s.StatIntervalMs) * time.Millisecond,
		Threshold:    s.Threshold,
	}
	switch s.Strategy {
	case 0:
		r.Strategy = circuitbreaker.SlowRequestRatio
	case 1:
		r.Strategy = circuitbreaker.ErrorRatio
	case 2:
		r.Strategy = circuitbreaker.ErrorCount
		// Sentinel Go compares the error count with uint64(threshold).
		r.Threshold = math.Trunc(s.Threshold)
	default:
		return r, id.enum("strategy", int64(s.Strategy), "0 (SlowRequestRatio)", "1 (ErrorRatio)", "2 (ErrorCount)")
	}
	if s.StatIntervalMs == 0 {
		return r, id.unsupported("statIntervalMs",
			"statIntervalMs 0: Sentinel Go refuses the rule, while Sluice would read 0 as 1s")
	}
	var err error
	if r.MinRequestAmount, err = id.int64Of("minRequestAmount", s.MinRequestAmount); err != nil {
		return r, err
	}
	if r.ProbeNum, err = id.int64Of("probeNum", s.ProbeNum); err != nil {
		return r, err
	}
	// Sentinel Go's getRuleStatSlidingWindowBucketCount.
	r.StatBuckets = 1
	if n := s.StatSlidingWindowBucketCount; n != 0 && s.StatIntervalMs%n == 0 {
		r.StatBuckets = int(n)
	}
	if r.Strategy == circuitbreaker.SlowRequestRatio {
		ms, err := id.int64Of("maxAllowedRtMs", s.MaxAllowedRtMs)
		if err != nil {
			return r, err
		}
		if r.MaxAllowedRT, err = id.millis("maxAllowedRtMs", ms); err != nil {
			return r, err
		}
	}
	return r, nil
}
