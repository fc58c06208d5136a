package sluice

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/system"
)

// Option configures an Engine made by New.
type Option func(*config)

type config struct {
	clock        clock.Clock
	logger       *slog.Logger
	maxResources int
	statInterval time.Duration
	statBuckets  int
	memoryUsage  func() (uint64, error)
	checkers     []Checker
	listeners    []func(circuitbreaker.StateChange)
	isFailure    func(error) bool
	// systemReaders is nil for system.DefaultReaders().
	systemReaders  *system.Readers
	systemInterval time.Duration
	coarse         time.Duration // 0: no coarse clock
	blockLog       time.Duration // 0: no block log
}

// Defaults for New.
const (
	// DefaultMaxResources is the number of resources an engine tracks
	// unless WithMaxResources says otherwise.
	DefaultMaxResources = 6000
	// DefaultStatInterval and DefaultStatBuckets shape each resource's
	// statistics window: one second in 100 ms buckets.
	DefaultStatInterval = time.Second
	DefaultStatBuckets  = 10
)

func defaultConfig() config {
	return config{
		clock:        clock.Real(),
		logger:       slog.Default(),
		maxResources: DefaultMaxResources,
		statInterval: DefaultStatInterval,
		statBuckets:  DefaultStatBuckets,
		memoryUsage:  goRuntimeMemory,
		isFailure:    DefaultIsFailure,
	}
}

// WithClock sets the time source. The default is clock.Real(); tests pass a
// clock.NewManual clock. The engine reads c through clock.Monotonic: a step
// back of c is absorbed (the engine's time carries on from where it was), so
// no family stalls until c catches up; a step forward is time passing.
func WithClock(c clock.Clock) Option { return func(o *config) { o.clock = c } }

// WithCoarseClock makes entries read a clock.Coarse reading of the engine's
// clock, refreshed every resolution (at least 100 µs) by a goroutine that
// runs while entries are being made and stops after a second without any
// (Close stops it for good). It takes the two clock reads of an Entry+Exit
// (20-40 ns each on amd64) off the hot path: about a third of the cost of
// a call with a flow rule (see benchmark/README.md).
//
// The price is resolution. The time an entry records is behind the clock
// by up to the resolution, plus the goroutine's scheduling delay on a busy
// machine (4.4 ms at worst measured with 1 ms on a loaded 2-core machine):
// response times (Stats AvgRT and MinRT) are good to about that, and a call
// shorter than the resolution may read as taking 0; entries near a bucket's
// edge count in the bucket before it. Where a rule decides on fine time,
// the entry reads the precise clock instead: on a resource with a
// Throttling flow or hotspot rule (its spacing), a SlowRequestRatio breaker
// (its MaxAllowedRT), or a flow or hotspot QPS rule or breaker whose window
// is shorter than 10 resolutions (a reading a step behind would lose whole
// windows of permits), and for an Inbound entry under an AvgRT or BBR
// system rule. A resolution of 0 or less means 1 ms. Without this option
// the engine reads its clock precisely everywhere.
func WithCoarseClock(resolution time.Duration) Option {
	return func(o *config) {
		if resolution <= 0 {
			resolution = time.Millisecond
		}
		o.coarse = resolution
	}
}

// WithBlockLog makes the engine log blocks, aggregated: every interval in
// which entries were blocked, one warning per resource, block type and
// rule that blocked them, "sluice: blocking", with the count of blocked
// permits (attributes resource, type, rule — the rule's ID, "" when it has
// none — blocked and interval); and one line, "sluice: blocking stopped",
// in the first interval after that in which that rule blocked nothing.
// The count is how much that rule's BlockCount in Snapshot rose over the
// interval; blocks of entries to resources past the bound come under
// UntrackedResources. Nothing is written per blocked entry. The lines go
// to the engine's logger (WithLogger). A goroutine of the engine's writes
// them, from New until Close. An interval of 0 or less turns the log off,
// the default.
func WithBlockLog(interval time.Duration) Option { return func(o *config) { o.blockLog = interval } }

// WithLogger sets the logger for the engine's own events (a rule set loaded,
// the resource bound reached, a fault inside Sluice). The default is
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *config) { o.logger = l } }

// WithMaxResources bounds the number of resources the engine tracks
// (default DefaultMaxResources). Entries to a resource first seen after the
// bound is reached pass unchecked and uncounted, and the engine logs a
// warning the first time it happens. Resources named by rules (as
// RefResource) are tracked whatever the bound. n < 1 keeps the default.
func WithMaxResources(n int) Option { return func(o *config) { o.maxResources = n } }

// WithStatWindow shapes each resource's statistics window, the one Stats
// reads and AssociatedResource rules count: interval cut into buckets
// (default 1 s in 10). interval must be a positive multiple of buckets
// nanoseconds; other values keep the default and are logged.
func WithStatWindow(interval time.Duration, buckets int) Option {
	return func(o *config) { o.statInterval, o.statBuckets = interval, buckets }
}

// WithMemoryUsage sets how MemoryAdaptive flow rules read the process's
// memory use, in bytes. The engine calls it at most once per second, on the
// path of an entry, so it must be quick. The default reads the Go runtime's
// mapped memory less what it has released to the OS (runtime/metrics), close
// to the resident size of a pure Go program; so does a nil f. A reader that
// fails or panics gives no reading (logged once), and MemoryAdaptive rules
// then use their LowMemUsageThreshold.
func WithMemoryUsage(f func() (uint64, error)) Option {
	return func(o *config) { o.memoryUsage = f }
}

// WithChecker adds a check of your own to every entry, run after the
// built-in checks, in the order added.
func WithChecker(c Checker) Option {
	return func(o *config) { o.checkers = append(o.checkers, c) }
}

// WithStateListener registers f to hear every circuit-breaker state change.
// Listeners run on a goroutine of the engine's, never on a caller's request
// path: in order of the changes, one at a time, each listener in the order
// registered. A slow listener only delays later deliveries (past 1024
// waiting changes, new ones are dropped and logged); a panic in one is
// recovered and logged. The goroutine starts at the first state change and
// stops in Close, after delivering the changes already queued.
func WithStateListener(f func(circuitbreaker.StateChange)) Option {
	return func(o *config) { o.listeners = append(o.listeners, f) }
}

// WithErrorClassifier sets which errors given to Permit.SetError (or
// returned by Do's function) count as failures, for error statistics and
// circuit breakers. The default is DefaultIsFailure.
func WithErrorClassifier(isFailure func(error) bool) Option {
	return func(o *config) { o.isFailure = isFailure }
}

// DefaultIsFailure counts every error as a failure except those matching
// context.Canceled: a caller that gave up says nothing about the resource.
// A panic in a function run by Do always counts.
func DefaultIsFailure(err error) bool { return !errors.Is(err, context.Canceled) }

// WithSystemReaders sets where system rules read load, CPU and memory usage
// from: your own telemetry, or fakes in tests. The default is
// system.DefaultReaders(), which is cgroup-aware. A nil Reader in r gives no
// reading for its metric, so rules on it block nothing.
func WithSystemReaders(r system.Readers) Option {
	return func(o *config) { o.systemReaders = &r }
}

// WithSystemSampleInterval sets how often the engine samples load, CPU and
// memory usage for system rules (default DefaultSystemSampleInterval, 250 ms; one sample costs about 30 µs),
// on its clock. CPU usage is measured over the interval, so its first
// reading comes one interval after the sampler starts (and, when it starts
// again after system rules were removed, the stale first reading is
// dropped). d <= 0 keeps the default.
func WithSystemSampleInterval(d time.Duration) Option {
	return func(o *config) { o.systemInterval = d }
}
