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
//	                          metric, and 1000 ms for Throttling); 1000 under
//	                          AssociatedResource becomes 0 (the ref resource's
//	                          1 s window in both)
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
// in-flight + 1 would exceed it: the same for entries of batch count 1 (see
// the list of differences below).
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
// Both trip when the ratio or count reaches the threshold (>=; Sentinel Go
// also within 1e-8 of it), and close after probeNum successful probes or
// reopen on one failed probe. How they probe differs: see the list below.
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
// is refused, as Sentinel Go refuses it. How the limits run differs in
// places: see the list below.
//
// # System (SystemRules)
//
//	id                 ID
//	metricType         MetricType: 0 Load, 1 AvgRT, 2 Concurrency, 3 InboundQPS, 4 CPUUsage
//	triggerCount       TriggerCount; ceil(triggerCount) for Concurrency and InboundQPS,
//	                   the largest float64 below it for AvgRT (see below)
//	strategy           Strategy: -1 and 0 NoAdaptive, 1 BBR; BBR is kept for Load and
//	                   CpuUsage only, since Sentinel Go ignores it for the others
//	(none)             MemoryUsage: Sluice only
//
// Sentinel Go blocks on Load and CpuUsage when the metric is above
// triggerCount, as Sluice does. On AvgRT, Concurrency and InboundQPS it
// blocks when the reading, taken before the entry asking, is at or above
// triggerCount, so it admits up to ceil(triggerCount) entries in flight or
// per second; Sluice counts the entry asking and admits floor(TriggerCount),
// so the converted ceil(triggerCount) admits the same entries, 0 (block
// every inbound entry) included. Sluice blocks on AvgRT above TriggerCount,
// so the largest float64 below triggerCount blocks at exactly the same
// readings; triggerCount 0 on AvgRT, which blocks every inbound entry in
// Sentinel Go even before any response time is known, is refused.
//
// # What still differs
//
// Rules Sentinel Go loads and Sluice's engine refuses, with the field it
// names (a push holding one is refused whole, and the rules in force stay):
//
//   - flow, Reject: a threshold in (0, 1), or with WarmUp threshold /
//     warmUpColdFactor in (0, 1) (Threshold: Reject admits whole permits
//     only; Sentinel Go loads it and blocks every entry);
//   - flow, AssociatedResource with WarmUp (RelationStrategy), or with a
//     statIntervalInMs other than 0 and 1000 (StatInterval: Sluice counts the
//     ref resource over the engine's window);
//   - flow and hotspot, Throttling with maxQueueingTimeMs over 3600000
//     (MaxQueueingTime: at most 1 h);
//   - circuit breaker: a ratio threshold of 0, or an ErrorCount threshold
//     below 1 (Threshold; Sentinel Go trips once minRequestAmount calls
//     completed); SlowRequestRatio with maxAllowedRtMs 0 (MaxAllowedRT);
//     more than 1000 buckets (StatBuckets); probeNum over 65536 (ProbeNum);
//   - hotspot: paramsMaxCapacity over 2^24 (ParamsMaxCapacity); a specific
//     item with a negative threshold (SpecificItems).
//
// Circuit breakers:
//
//   - Half-open, Sentinel Go lets every call through until probeNum have
//     succeeded (with probeNum 0, the one call that half-opened it); Sluice
//     lets at most ProbeNum (0 reads as 1) through at a time.
//   - Only probes decide a half-open breaker in Sluice; in Sentinel Go any
//     call that completes while it is half-open does, even one that started
//     before it opened.
//   - A probe blocked by a later check (another breaker, a custom check, a
//     cancelled queue wait) gives its slot back and leaves the breaker
//     half-open in Sluice; Sentinel Go reopens the breaker, with a state
//     change, and half-opens it again at the next call.
//   - A probe still in flight after RetryTimeout gives its slot to the next
//     caller in Sluice, so a breaker never stays half-open for want of
//     probes; Sentinel Go has no such reclaim.
//   - Sentinel Go measures response times as the difference of two
//     millisecond timestamps, so a 100.4 ms call is slower than
//     maxAllowedRtMs 100 only when it spans an extra tick; Sluice compares
//     nanoseconds, and it always is.
//   - State listeners: Sentinel Go calls its global listeners on the
//     transitioning goroutine; Sluice delivers an engine's state changes in
//     order on a goroutine of its own, with a time and the value that
//     tripped the breaker, and sends none when a probe slot is given back.
//
// Loading rules again:
//
//   - Sluice keeps the state of a rule equal in every field (ID included)
//     to one in force, and starts every changed rule afresh: a new window,
//     a full hotspot bucket, a Closed breaker with an empty window. So a
//     changed flow rule can pass a full threshold just after the load.
//     Sentinel Go ignores ID (and for breakers probeNum) when it compares
//     rules, reuses a changed rule's statistics when its resource, relation
//     and interval are unchanged (a Reject rule reads the resource's own
//     metric), and keeps a hotspot rule's per-value counts.
//   - A hotspot Concurrency rule replaced while values are in flight starts
//     at zero in Sluice, so up to Threshold more may enter per value.
//   - Isolation keeps its in-flight count across any load in both.
//
// Flow, isolation and hotspot at run time:
//
//   - Reject counts in 10 sliding buckets of StatInterval / 10 in Sluice
//     (see flow.Reject for the bound), exactly under contention; Sentinel
//     Go reads 2 buckets of 500 ms for 1 s, a shared 10 s statistic for some
//     intervals and a fixed window for others, and checks before it counts.
//   - Throttling: Sluice spaces in nanoseconds, admits a wait up to
//     MaxQueueingTime and waits on the engine's clock honouring the context;
//     Sentinel Go spaces in whole milliseconds for hotspot rules (a rate
//     over 1000 per second per value is not limited), admits a hotspot wait
//     only below maxQueueingTimeMs, and sleeps without a way out. Sluice
//     refuses a batch over the threshold (or over one below a threshold of
//     one), which Sentinel Go admits, booking the queue for longer; with a
//     threshold in (0, 1) Sluice admits one permit per StatInterval /
//     Threshold, where Sentinel Go's flow checker blocks every entry.
//   - WarmUp: both follow Guava's model; Sentinel Go syncs whole tokens once
//     a wall-clock second from the previous second's rate, Sluice keeps
//     fractional tokens per StatInterval from the whole previous interval.
//   - MemoryAdaptive reads the process's RSS in Sentinel Go, the Go
//     runtime's mapped minus released memory in Sluice.
//   - Isolation: Sentinel Go counts a batch as batchCount entries (a batch
//     over the threshold never passes) and can overshoot under contention;
//     Sluice counts an entry as one, exactly.
//   - Hotspot QPS: Sluice refills each value's bucket continuously, one
//     token every Duration / Threshold; Sentinel Go refills it once a whole
//     Duration has passed since the last refill, by what that time is worth.
//   - Hotspot Concurrency: Sentinel Go lets the first entry of a new or
//     forgotten value through (even at threshold 0), can overshoot under
//     contention and forgets a value with entries in flight; Sluice is exact
//     and never forgets a busy value.
//   - A missing attachment: Sentinel Go falls back to the argument at
//     paramIndex; Sluice does not limit the entry (it counts it in
//     Stats(...).Hotspots[i].NoValue and logs it once).
//   - Sluice matches a KindInt value against an argument of any integer
//     type, Sentinel Go an int only; values are kept in a sharded 2Q cache in
//     Sluice, an LRU in Sentinel Go, so they are forgotten in another order.
//   - BBR: Sluice's minRT is the smallest mean response time of one 100 ms
//     bucket over 10 s (Sentinel Go's: of one call), and both admit while at
//     most one other inbound entry is in flight; see system.BBR.
package sentinel
