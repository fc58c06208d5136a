// Package sentinel converts Sentinel Go's rule JSON into Sluice rules, so
// that a service moving from Sentinel Go (github.com/alibaba/sentinel-golang,
// checked against v1.0.4) can point Sluice at its existing configuration
// keys unchanged.
//
// Each function reads a JSON array of one family's rules, in the JSON
// Sentinel Go's own rule types and its ext/datasource parsers
// (FlowRuleJsonArrayParser and the others) read: the same field names
// (matched without regard to case, as encoding/json matches them, so that
// what Sentinel Go loads loads here; but a field named twice, in any case,
// is refused, where Sentinel Go keeps the last), the same
// Go types (so a negative maxQueueingTimeMs fails as it fails there), and
// the integer enums with the values Sentinel Go gives them. Unlike
// Sentinel Go it refuses what it cannot account for: JSON null, an unknown
// field (named), an enum out of range, and a value whose behaviour Sluice
// would not reproduce. Every error is an *Error whose message starts with
// "sentinel: " and names the rule by index and resource, such as
//
//	sentinel: flow rule 2 ("GET /x"): controlBehavior 7 is not one of 0 (Reject), 1 (Throttling)
//
// Sentinel Go's parsers ignore an unknown field; here it is an error, since
// a misspelt field silently changes a rule (Sentinel Go's own test file
// SystemRule.json sets "adaptiveStrategy", which Sentinel Go never reads:
// write "strategy", or leave it out).
//
// An empty array gives an empty, non-nil slice. The converted rules are not
// validated against Sluice's own rules (thresholds and the like): loading
// them into an engine does that, and names the Sluice field.
//
// Two principles decide the cases where the libraries differ:
//
//   - A field a rule does not use is one Sentinel Go ignores, whatever it
//     holds, so it is dropped (Sluice would refuse it as not applying).
//     Sentinel Go's own test files set, for instance, refResource on
//     CurrentResource rules and maxQueueingTimeMs on Reject rules.
//   - A rule that Sentinel Go refuses to load, where Sluice would read the
//     same value as a default or as "block everything", is refused here:
//     a rule that was never in force must not start blocking traffic.
//     Rules that both libraries refuse are passed on for the engine to
//     refuse with its own message.
//
// Zero values are mapped to what Sentinel Go does with them (with its
// default configuration), not to Sluice's zero: see the tables.
//
// # Flow (FlowRules)
//
//	Sentinel Go               Sluice flow.Rule
//	id                        ID
//	resource                  Resource
//	threshold                 Threshold (per StatInterval in both)
//	tokenCalculateStrategy    Strategy: 0 Direct, 1 WarmUp, 2 MemoryAdaptive
//	controlBehavior           ControlBehavior: 0 Reject, 1 Throttling
//	relationStrategy          RelationStrategy: 0 CurrentResource, 1 AssociatedResource;
//	                          dropped under Throttling (whose checker Sentinel Go
//	                          runs without the relation's statistics) unless
//	                          refResource is empty (both refuse that)
//	refResource               RefResource; dropped unless AssociatedResource is kept
//	statIntervalInMs          StatInterval = ms × 1ms; 0 stays 0, which is 1 s in
//	                          both (Sentinel Go: the resource's default 1000 ms
//	                          metric, and 1000 ms for Throttling)
//	maxQueueingTimeMs         MaxQueueingTime = ms × 1ms; dropped unless Throttling
//	warmUpPeriodSec           WarmUpPeriod = s × 1s; dropped unless WarmUp
//	warmUpColdFactor          WarmUpColdFactor; 0 stays 0 (3 in both); dropped
//	                          unless WarmUp
//	lowMemUsageThreshold      LowMemUsageThreshold  } dropped unless MemoryAdaptive;
//	highMemUsageThreshold     HighMemUsageThreshold } refused unless
//	memLowWaterMarkBytes      MemLowWaterMark       } 0 < high < low and the
//	memHighWaterMarkBytes     MemHighWaterMark      } byte counts are >= 0
//	(none)                    Regex, WarmUp's curve: left zero / Sluice's
//	                          (which follows the same Guava model)
//
// # Isolation (IsolationRules)
//
//	id, resource              ID, Resource
//	metricType                no field: must be 0 (Concurrency), the only value
//	threshold                 Threshold; 0 is refused (Sentinel Go refuses it,
//	                          Sluice would block every entry)
//
// Sentinel Go blocks when in-flight + batchCount > threshold, Sluice when
// in-flight + 1 would exceed it: the same for entries of batch count 1.
//
// # Circuit breaker (CircuitBreakerRules)
//
//	id, resource                    ID, Resource
//	strategy                        Strategy: 0 SlowRequestRatio, 1 ErrorRatio, 2 ErrorCount
//	retryTimeoutMs                  RetryTimeout = ms × 1ms
//	minRequestAmount                MinRequestAmount (0 behaves as 1 in both)
//	statIntervalMs                  StatInterval = ms × 1ms; 0 is refused (Sentinel Go
//	                                refuses it, Sluice would read 1 s)
//	statSlidingWindowBucketCount    StatBuckets; 0, or a count that does not divide
//	                                statIntervalMs, becomes 1 (Sentinel Go's reading;
//	                                Sluice's 0 would be 10)
//	maxAllowedRtMs                  MaxAllowedRT = ms × 1ms; dropped unless SlowRequestRatio
//	threshold                       Threshold; truncated to a whole number for ErrorCount
//	                                (Sentinel Go compares with uint64(threshold))
//	probeNum                        ProbeNum (0 behaves as 1 in both)
//
// Both trip when the ratio or count reaches the threshold (>=). Two
// differences remain: Sentinel Go measures response times in whole
// milliseconds, so a 100.4 ms call is not slower than maxAllowedRtMs 100
// there and is in Sluice; and while half-open, Sentinel Go with probeNum
// > 0 lets every call through until probeNum have succeeded, where Sluice
// lets at most ProbeNum through at a time. The closing rule (probeNum
// successes, or one failure to reopen) is the same.
//
// # Hotspot (HotspotRules)
//
//	id, resource                ID, Resource
//	metricType                  MetricType: 0 Concurrency, 1 QPS (Sentinel Go's order)
//	controlBehavior             ControlBehavior: 0 Reject, 1 Throttling; a Concurrency
//	                            rule is Reject (Sentinel Go ignores the field there)
//	paramIndex                  ParamIndex
//	paramKey                    ParamKey (a field of Sentinel Go's hotspot.Rule; see below)
//	threshold                   Threshold
//	durationInSec               Duration = s × 1s for QPS; a QPS rule with <= 0 is
//	                            refused (Sentinel Go refuses it, Sluice would read 0
//	                            as 1 s); dropped for Concurrency
//	maxQueueingTimeMs           MaxQueueingTime = ms × 1ms; dropped unless QPS Throttling
//	burstCount                  BurstCount; dropped unless QPS Reject
//	paramsMaxCapacity           ParamsMaxCapacity; <= 0 becomes Sentinel Go's size:
//	                            min(20000, 4000 × durationInSec) for QPS, 4000 for
//	                            Concurrency (Sluice's 0 would be 20000)
//	specificItems               SpecificItems, from [{"valKind", "valStr", "threshold"}]:
//	                            valKind 0 KindInt → int64, 1 KindString → string,
//	                            2 KindBool → bool (strconv.ParseBool), 3 KindFloat64 →
//	                            float64 rounded to 5 decimals; a valStr that does not
//	                            parse, or valKind 4 or more, is refused (Sentinel Go
//	                            logs and skips it); a repeated value keeps the last
//	                            threshold, as in Sentinel Go's map
//
// Sentinel Go's hotspot.Rule holds specificItems as a Go map keyed by value,
// which encoding/json cannot fill from JSON; its datasource parser reads the
// array form above instead, and this is the form accepted here. That
// parser, in v1.0.4, also drops paramKey; it is kept here with the meaning
// Sentinel Go's rule gives it. A rule with both paramKey and paramIndex > 0
// is refused, as Sentinel Go refuses it. One difference remains: when the
// attachment is missing, Sentinel Go falls back to the argument at
// paramIndex, while Sluice does not limit the entry. Sluice also matches a
// KindInt value against an argument of any integer type, where Sentinel Go
// matches an int only.
//
// # System (SystemRules)
//
//	id                 ID
//	metricType         MetricType: 0 Load, 1 AvgRT, 2 Concurrency, 3 InboundQPS, 4 CPUUsage
//	triggerCount       TriggerCount; for Concurrency ceil(triggerCount) − 1 (see below)
//	strategy           Strategy: -1 and 0 NoAdaptive, 1 BBR; BBR is kept for Load and
//	                   CpuUsage only, since Sentinel Go ignores it for the others
//	(none)             MemoryUsage: Sluice only
//
// Sentinel Go blocks on Load and CpuUsage when the metric is above
// triggerCount, as Sluice does, but on AvgRT, Concurrency and InboundQPS
// when it is at or above it. For Concurrency, a whole number, the
// converted TriggerCount blocks at the same count; for AvgRT and
// InboundQPS the boundary itself differs, which only an exactly equal
// reading can tell. triggerCount 0 on those three (Sentinel Go: block
// every inbound entry) is refused. Sluice's BBR check follows the same
// idea as Sentinel Go's checkBbrSimple (in flight versus max completions
// per second × min RT) but is Sluice's; see system.BBR.
package sentinel
