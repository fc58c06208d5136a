package sluice

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/stat"
	"github.com/sluice-go/sluice/core/system"
)

// Engine checks entries against rules and keeps per-resource statistics.
// Make one with New; it is safe for concurrent use. An Engine starts no
// goroutine of its own until a feature that needs one is used (system rules
// on machine metrics, state listeners, WithCoarseClock, WithBlockLog);
// Close stops them.
type Engine struct {
	clock        clock.Clock
	realClock    bool          // clock is clock.Real(): read it without an interface call
	coarse       *clock.Coarse // nil unless WithCoarseClock
	blockLog     *blockLog     // nil unless WithBlockLog
	log          *slog.Logger
	maxResources int64
	statInterval time.Duration
	statBuckets  int
	checkers     []Checker
	isFailure    func(error) bool
	memory       memorySampler
	listeners    listeners
	sampler      sampler // of the machine metrics, for system rules
	inbound      inbound // statistics of every Inbound entry

	resources     sync.Map // string -> *resource
	recent        recentResources
	resourceCount atomic.Int64
	overflowOnce  sync.Once
	unnamedOnce   sync.Once
	checkerPanics atomic.Int64
	// untrackedBlocks counts the blocks of entries to resources past the
	// bound (system rules on Inbound entries).
	untrackedBlocks blockCounts

	ruleLoads, ruleRejections atomic.Int64

	rules  atomic.Pointer[ruleSet]
	loadMu sync.Mutex // serialises rule loads
}

// resource is one tracked resource: its statistics and the rules bound to
// it under the rule set in force.
type resource struct {
	name   string
	node   *stat.Node
	bound  atomic.Pointer[binding]
	blocks blockCounts // blocked permits by type and rule
}

// New returns an Engine with no rules.
func New(opts ...Option) *Engine {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	e := &Engine{
		clock:        cfg.clock,
		log:          cfg.logger,
		maxResources: int64(cfg.maxResources),
		statInterval: cfg.statInterval,
		statBuckets:  cfg.statBuckets,
		checkers:     cfg.checkers,
		isFailure:    cfg.isFailure,
		listeners:    listeners{fns: cfg.listeners, log: cfg.logger},
	}
	if e.isFailure == nil {
		e.isFailure = DefaultIsFailure
	}
	if e.clock == nil {
		e.clock = clock.Real()
	}
	e.clock = clock.Monotonic(e.clock) // a clock that steps back stalls nothing
	e.realClock = clock.IsReal(e.clock)
	if cfg.coarse > 0 {
		e.coarse = clock.NewCoarse(e.clock, cfg.coarse)
	}
	if e.log == nil {
		e.log = slog.Default()
		e.listeners.log = e.log
	}
	if e.maxResources < 1 {
		e.maxResources = DefaultMaxResources
	}
	if _, err := stat.NewNode(e.statInterval, e.statBuckets); err != nil {
		e.log.Warn("sluice: invalid statistics window, using the default", "error", err,
			"interval", DefaultStatInterval, "buckets", DefaultStatBuckets)
		e.statInterval, e.statBuckets = DefaultStatInterval, DefaultStatBuckets
	}
	e.memory.read, e.memory.log = cfg.memoryUsage, e.log
	if e.memory.read == nil {
		e.memory.read = goRuntimeMemory
	}
	e.sampler = sampler{interval: cfg.systemInterval, clock: e.clock, log: e.log}
	if cfg.systemReaders == nil {
		e.sampler.readers = system.DefaultReaders()
	} else {
		e.sampler.readers = *cfg.systemReaders
	}
	if e.sampler.interval <= 0 {
		e.sampler.interval = DefaultSystemSampleInterval
	}
	e.inbound = newInbound()
	e.rules.Store(&ruleSet{})
	if cfg.blockLog > 0 {
		e.blockLog = newBlockLog(cfg.blockLog, e.clock, e.log, e.eachBlockCounts)
	}
	return e
}

// Close stops what the engine started: the sampler of system metrics, the
// goroutine that delivers state changes to listeners (after delivering
// those already queued), the coarse clock's (WithCoarseClock) and the block
// log's (WithBlockLog). The engine stays usable: entries are still checked
// against the rules in force, but system metrics are no longer sampled (so
// rules on them block nothing), later state changes reach no listener,
// entries read the precise clock and blocks are no longer logged.
// Close is safe to call more than once and always returns nil. It does not
// stop rule sources bound with package datasource: close each Binding.
func (e *Engine) Close() error {
	if e.blockLog != nil {
		e.blockLog.close() // no more block log lines
	}
	if e.coarse != nil {
		e.coarse.Close() // entries read the engine's clock from now on
	}
	e.sampler.close()
	e.listeners.close()
	return nil
}

// UntrackedResources is the name under which the block log and Snapshot
// report the blocks of entries to resources past the engine's bound
// (WithMaxResources), which it does not track one by one.
const UntrackedResources = "(untracked)"

// eachBlockCounts calls f with the block counts of every tracked resource,
// then with those of the untracked ones.
func (e *Engine) eachBlockCounts(f func(resource string, c *blockCounts)) {
	e.resources.Range(func(_, v any) bool {
		r := v.(*resource)
		f(r.name, &r.blocks)
		return true
	})
	f(UntrackedResources, &e.untrackedBlocks)
}

// lookup returns the tracked resource called name, creating it if the bound
// allows. It returns nil for a resource past the bound.
func (e *Engine) lookup(name string) *resource {
	if r := e.recent.get(name); r != nil {
		return r
	}
	if r, ok := e.resources.Load(name); ok {
		e.recent.put(name, r.(*resource))
		return r.(*resource)
	}
	if e.resourceCount.Load() >= e.maxResources {
		if _, named := e.rules.Load().names[name]; named {
			return e.track(name)
		}
		e.overflowOnce.Do(func() {
			e.log.Warn("sluice: resource bound reached; entries to new resources that no rule names pass unchecked",
				"max", e.maxResources, "resource", strings.Clone(name))
		})
		return nil
	}
	return e.track(name)
}

// track returns the resource called name, creating it whatever the bound.
func (e *Engine) track(name string) *resource {
	if r, ok := e.resources.Load(name); ok {
		return r.(*resource)
	}
	node, _ := stat.NewNode(e.statInterval, e.statBuckets) // shape checked in New
	owned := strings.Clone(name)                           // the caller's string may live on its stack
	r, loaded := e.resources.LoadOrStore(owned, &resource{name: owned, node: node})
	if !loaded {
		e.resourceCount.Add(1)
	}
	return r.(*resource)
}

// enter runs the checks for an entry into p and reports whether it passed;
// if not, en.err holds the block error. A fault inside Sluice (a panic in a
// check) is logged and lets the entry pass.
func (e *Engine) enter(ctx context.Context, en *entry, name string, opts []EntryOption) (passed bool) {
	en.eng, en.batch = e, 1
	if ctx == nil {
		ctx = context.Background()
	}
	if name == "" {
		name = e.unnamed()
	}
	var args []any
	for i := range opts {
		switch o := &opts[i]; o.kind {
		case optTraffic:
			en.traffic = o.traffic
		case optBatch:
			en.batch = min(max(o.n, 1), MaxBatchCount)
		case optArgs:
			args = o.argsOf()
		}
	}
	var t ticket
	returned := false
	defer func() {
		if returned {
			return
		}
		// A fault inside Sluice (a panic), or runtime.Goexit in a custom
		// checker: what the checks took is given back.
		v := recover()
		t.rollback(en)
		en.res, en.inbound, en.err, passed = nil, false, nil, true
		if v != nil {
			e.log.Error("sluice: fault inside Sluice; the entry passes unchecked", "resource", strings.Clone(name), "panic", fmt.Sprint(v))
		}
	}()
	passed = e.admit(ctx, en, name, args, opts, &t)
	returned = true
	return passed
}

// admit runs the checks of enter, which recovers from a fault in them; t
// holds what they took, for enter to give back.
func (e *Engine) admit(ctx context.Context, en *entry, name string, args []any, opts []EntryOption, t *ticket) bool {
	r := e.lookup(name)
	if r == nil {
		return e.enterUntracked(en, name, &t.inbound)
	}
	rs := e.rules.Load()
	b := r.bound.Load()
	if b == nil || b.rules != rs {
		b = e.bind(r, rs)
	}
	t.resource, t.bound = r, b
	en.coarse = b.coarse
	if en.traffic == Inbound {
		en.coarse = b.coarseInbound
		t.inStripe = e.inbound.node.Stripe() // spread from the start, unlike most resources' nodes
	}
	now := e.entryNow(en.coarse)
	t.stripe = r.node.Stripe()
	if blocked := e.check(ctx, en, r, b, now, args, opts, t); blocked != nil {
		t.rollback(en)
		e.record(en, r, now, t, stat.Block)
		r.blocks.countBlock(blocked, en.batch)
		en.err = blocked
		return false
	}
	passedAt := now
	if t.wait > 0 {
		if blocked := e.queue(ctx, r, t); blocked != nil {
			t.rollback(en)
			e.record(en, r, e.now(), t, stat.Block)
			r.blocks.countBlock(blocked, en.batch)
			en.err = blocked
			return false
		}
		passedAt = e.now()
	}
	e.record(en, r, passedAt, t, stat.Pass)
	en.res, en.bound, en.start = r, b, now
	en.stripe, en.shared = t.stripe, t.inFlight == inFlightShared
	if en.traffic == Inbound {
		e.inbound.enter(passedAt, t.inStripe) // last: nothing after it can fail
		en.inbound, en.inboundSlot, en.inStripe = true, t.inbound.slot, t.inStripe
	}
	return true
}

// UnnamedResource is the name under which the engine tracks an entry made
// with an empty resource name: such entries are counted together, under
// this name, and only a rule naming "(unnamed)" limits them. The first
// one is logged as a warning.
const UnnamedResource = "(unnamed)"

// unnamed returns UnnamedResource, warning the first time.
func (e *Engine) unnamed() string {
	e.unnamedOnce.Do(func() {
		e.log.Warn("sluice: an entry was made with an empty resource name; entries without a name are tracked together as " +
			UnnamedResource + " (logged once)")
	})
	return UnnamedResource
}

// record counts a passed or blocked entry in its resource's statistics and
// a blocked Inbound entry in the inbound ones (a passed one is counted there
// when it is admitted for good).
func (e *Engine) record(en *entry, r *resource, now int64, t *ticket, ev stat.Event) {
	r.node.Add(now, t.stripe, ev, en.batch)
	if en.traffic == Inbound && ev == stat.Block {
		e.inbound.block(now, t.inStripe)
	}
}

// enterUntracked admits an entry to a resource past the engine's bound,
// which no per-resource rule checks. System rules still check an Inbound
// one, and the inbound statistics count it: they protect the whole service,
// whatever its resources.
func (e *Engine) enterUntracked(en *entry, name string, h *inboundHold) bool {
	if en.traffic != Inbound {
		return true
	}
	now := e.now()
	stripe := e.inbound.node.Stripe()
	if blocked := e.checkSystemUntracked(e.rules.Load(), name, now, h); blocked != nil {
		e.inbound.block(now, stripe)
		e.untrackedBlocks.countBlock(blocked, 1)
		en.err = blocked
		return false
	}
	en.start, en.inStripe = now, stripe
	e.inbound.hold(h, stripe)
	e.inbound.enter(now, stripe)
	en.inbound, en.inboundSlot = true, h.slot
	*h = inboundHold{} // the entry's now
	return true
}

// ticket is what an entry's checks took so far, to give back if a later
// check blocks it, with the probe and hotspot tokens it keeps in its entry.
type ticket struct {
	resource *resource // nil until looked up; nil for an untracked entry
	bound    *binding  // the rules checked; nil until bound
	stripe   int       // the node stripe the entry records into
	inStripe int       // the inbound statistics' stripe an Inbound entry records into
	inFlight inFlight  // how the entry is counted in flight, if yet
	nflow    int       // flow reservations taken, in b.flow order
	res      [2]flow.Reservation
	more     []flow.Reservation
	wait     time.Duration
	waitBy   *BlockError // the block error of the rule asking for the longest wait
	inbound  inboundHold // what an Inbound entry took of the inbound statistics
}

func (t *ticket) reserve(r flow.Reservation) {
	if t.nflow < len(t.res) {
		t.res[t.nflow] = r
	} else {
		t.more = append(t.more, r)
	}
	t.nflow++
}

func (t *ticket) rollback(en *entry) {
	b, r := t.bound, t.resource
	if b == nil { // untracked, or a fault before the binding: an Inbound hold at most
		t.inbound.release()
		return
	}
	for i := 0; i < t.nflow; i++ {
		if i < len(t.res) {
			b.flow[i].c.Cancel(t.res[i])
		} else {
			b.flow[i].c.Cancel(t.more[i-len(t.res)])
		}
	}
	t.nflow = 0
	for i := range b.hotspots {
		b.hotspots[i].l.Cancel(en.hot.get(i))
	}
	en.hot.clear()
	for i := range b.breakers {
		b.breakers[i].b.Release(en.probes.get(i))
	}
	en.probes.clear()
	switch t.inFlight {
	case inFlightShared:
		r.node.Release()
	case inFlightStripe:
		r.node.Leave(t.stripe)
	}
	t.inFlight = inFlightNone
	t.inbound.release()
}

// check runs the checks in order and returns the error of the first that
// blocks, or nil.
func (e *Engine) check(ctx context.Context, en *entry, r *resource, b *binding, now int64, args []any, opts []EntryOption, t *ticket) error {
	if en.traffic == Inbound && len(b.system) > 0 {
		if err := e.checkSystem(b, now, &t.inbound); err != nil {
			return err
		}
	}
	if b.isolation != nil {
		if !r.node.TryAcquire(b.isolationLimit) {
			return b.isolation
		}
		t.inFlight = inFlightShared
	}
	for i := range b.flow {
		fb := &b.flow[i]
		wait, res, ok := fb.c.Check(now, en.batch)
		if !ok {
			return fb.blocked
		}
		t.reserve(res)
		if wait > t.wait {
			t.wait, t.waitBy = wait, fb.blocked
		}
	}
	for i := range b.hotspots {
		hb := &b.hotspots[i]
		v, found := paramOf(&hb.l.Rule().ParamKey, hb.l.Rule().ParamIndex, args, opts)
		if !found {
			if hb.l.MissValue() {
				e.warnNoValue(r.name, hb.l.Rule())
			}
			continue
		}
		k, countable := hotspot.KeyOf(v)
		if !countable {
			hb.l.Skip()
			continue
		}
		tok, wait, ok := hb.l.Acquire(now, k, en.batch)
		if !ok {
			return hb.blocked
		}
		en.hot.set(i, tok)
		if wait > t.wait {
			t.wait, t.waitBy = wait, hb.blocked
		}
	}
	for i := range b.breakers {
		bb := &b.breakers[i]
		probe, ok := bb.b.Allow(now)
		if !ok {
			if bb.b.State() == circuitbreaker.HalfOpen {
				return bb.probing
			}
			return bb.open
		}
		en.probes.set(i, probe)
	}
	if len(e.checkers) > 0 {
		if err := e.runCheckers(ctx, r.name, en, args); err != nil {
			return err
		}
	}
	// Passed: the entry counts as in flight from here, queueing included.
	if t.inFlight == inFlightNone {
		r.node.Enter(t.stripe)
		t.inFlight = inFlightStripe
	}
	if en.traffic == Inbound {
		e.inbound.hold(&t.inbound, t.inStripe)
	}
	return nil
}

// warnNoValue logs, once per rule, that an entry carried no value for a
// hotspot rule: a ParamKey no attachment matches (keys match exactly) or a
// ParamIndex past the entry's arguments leaves the rule doing nothing.
func (e *Engine) warnNoValue(resource string, r *hotspot.Rule) {
	if r.ParamKey != "" {
		e.log.Warn("sluice: an entry has no attachment under a hotspot rule's ParamKey, so the rule does not limit it "+
			"(keys match exactly: an adapter's WithHeaderAttachment(h) attaches under h; counted in Stats(...).Hotspots[i].NoValue; logged once per rule)",
			"resource", resource, "rule", r.ID, "paramKey", r.ParamKey)
		return
	}
	e.log.Warn("sluice: an entry has no argument at a hotspot rule's ParamIndex, so the rule does not limit it "+
		"(counted in Stats(...).Hotspots[i].NoValue; logged once per rule)",
		"resource", resource, "rule", r.ID, "paramIndex", r.ParamIndex)
}

func (e *Engine) runCheckers(ctx context.Context, name string, en *entry, args []any) error {
	// The checkers are the user's code and may keep Args: they get a copy,
	// so that the caller's argument slice can stay on its stack.
	info := EntryInfo{Resource: name, TrafficType: en.traffic, BatchCount: en.batch, Args: slices.Clone(args)}
	for _, c := range e.checkers {
		err := e.runChecker(ctx, c, info)
		if err == nil {
			continue
		}
		if be, ok := err.(*BlockError); ok {
			if be == nil {
				continue // a typed nil: the checker meant nil
			}
			return be
		}
		return &BlockError{Resource: info.Resource, Type: BlockTypeCustom, Reason: "custom check", Cause: err}
	}
	return nil
}

// runChecker runs one custom check. A panic in it is a fault of the check,
// not a block: it is logged (the first time) and counts as no objection,
// and the built-in checks' decisions stand.
func (e *Engine) runChecker(ctx context.Context, c Checker, info EntryInfo) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = nil
			if e.checkerPanics.Add(1) == 1 {
				e.log.Error("sluice: a custom checker panicked; it is treated as passing (logged once)",
					"resource", info.Resource, "panic", fmt.Sprint(v))
			}
		}
	}()
	return c.Check(ctx, info)
}

// queue waits t.wait for a throttled entry's turn, honouring ctx.
func (e *Engine) queue(ctx context.Context, r *resource, t *ticket) error {
	blocked := func(reason string, cause error) error {
		return &BlockError{Resource: r.name, Type: t.waitBy.Type, Rule: t.waitBy.Rule, Reason: reason, Cause: cause}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < t.wait {
		return blocked(fmt.Sprintf("queueing wait of %v exceeds the context deadline", t.wait), context.DeadlineExceeded)
	}
	if err := clock.Sleep(ctx, e.clock, t.wait); err != nil {
		return blocked("queueing wait cut short", err)
	}
	return nil
}

// entryNow reads the time an entry records: the coarse reading if coarse
// (see WithCoarseClock), else the engine's clock.
func (e *Engine) entryNow(coarse bool) int64 {
	if coarse {
		return e.coarse.Nanos()
	}
	return e.now()
}

// now reads the engine's clock.
func (e *Engine) now() int64 {
	if e.realClock {
		return clock.RealNanos()
	}
	return e.clock.Nanos()
}

func durationBetween(from, to int64) time.Duration {
	if to < from {
		return 0
	}
	return time.Duration(to - from)
}

// inFlight says how an entry is counted in flight: in the node's shared,
// exact count (isolation rules reserve against it), or in its stripe.
type inFlight uint8

const (
	inFlightNone inFlight = iota
	inFlightShared
	inFlightStripe
)

// slots holds one value per rule of a binding, by the rule's position; most
// resources have one rule of a family or none, so the first two are kept
// inline.
type slots[T any] struct {
	first [2]T
	more  []T
}

func (s *slots[T]) set(i int, v T) {
	if i < len(s.first) {
		s.first[i] = v
		return
	}
	for len(s.more) <= i-len(s.first) {
		var zero T
		s.more = append(s.more, zero)
	}
	s.more[i-len(s.first)] = v
}

// clear empties s, keeping the capacity of more for the next entry that
// uses the pooled storage s is in.
func (s *slots[T]) clear() {
	s.first = [2]T{}
	clear(s.more)
	s.more = s.more[:0]
}

func (s *slots[T]) get(i int) T {
	if i < len(s.first) {
		return s.first[i]
	}
	if i-len(s.first) < len(s.more) {
		return s.more[i-len(s.first)]
	}
	var zero T
	return zero
}

// paramOf returns the argument a hotspot rule limits on: the attachment
// under key if key is set, else args[index] (negative: from the end).
func paramOf(key *string, index int, args []any, opts []EntryOption) (any, bool) {
	if *key != "" {
		for i := len(opts) - 1; i >= 0; i-- {
			if o := &opts[i]; o.kind == optAttachment && o.vals[0] == *key {
				return o.vals[1], true
			}
		}
		return nil, false
	}
	if index < 0 {
		index += len(args)
	}
	if index < 0 || index >= len(args) {
		return nil, false
	}
	return args[index], true
}
