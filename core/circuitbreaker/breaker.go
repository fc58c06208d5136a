package circuitbreaker

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/core/base"
	"github.com/sluice-go/sluice/core/stat"
)

// State is a breaker's state.
type State uint8

const (
	// Closed lets every call through and counts their outcomes.
	Closed State = iota
	// Open blocks every call until RetryTimeout has passed.
	Open
	// HalfOpen lets at most ProbeNum calls through at a time, as probes.
	HalfOpen
)

const numStates = 3

var stateNames = []string{"Closed", "Open", "HalfOpen"}

// String returns the state's name.
func (s State) String() string { return base.EnumName("State", stateNames, uint8(s)) }

// MarshalText returns the state's name.
func (s State) MarshalText() ([]byte, error) { return base.MarshalEnum("State", stateNames, uint8(s)) }

// StateChange describes one transition of a breaker.
type StateChange struct {
	// Resource is the resource the breaker guards.
	Resource string
	// Rule is the breaker's rule.
	Rule *Rule
	// From and To are the states before and after.
	From, To State
	// Value is what tripped the breaker on Closed → Open: the slow or
	// error ratio, or the error count, in the window. On HalfOpen → Open it
	// is the response time in seconds of the slow probe (SlowRequestRatio)
	// or 1 for a failed probe; otherwise 0.
	Value float64
	// At is when the transition happened, on the engine's clock.
	At time.Time
}

// Probe is a half-open breaker's token for one probe call, given back
// through Done or Release. The zero Probe is "not a probe".
type Probe struct {
	ticket uint64 // the slot's owner: unique per admission, 0 for none
	slot   int
}

// probeSlot is one half-open probe slot: when its probe started (0 for a
// free slot) and the ticket of the probe that holds it, so that a lost
// probe whose slot went to another never frees the other's.
type probeSlot struct {
	started int64
	ticket  uint64
}

// Breaker is the circuit breaker of one rule on one resource. It is safe
// for concurrent use; in the Closed state Allow is one atomic load and Done
// allocates nothing.
type Breaker struct {
	rule     Rule
	resource string
	notify   func(StateChange)

	state atomic.Uint32 // State
	// transitions counts the state changes, by from and to state.
	transitions [numStates][numStates]atomic.Int64
	openUntil   atomic.Int64 // nanos: when Open lets probes through
	counts      atomic.Pointer[counts]

	mu        sync.Mutex  // serialises transitions and the half-open fields
	tickets   uint64      // the last probe ticket handed out
	probes    []probeSlot // of the half-open period in force
	successes int64
}

// NewBreaker returns a Closed breaker for a valid rule (see Rule.Validate)
// on resource. notify, if not nil, is called with every state change, under
// the breaker's lock: it must not block.
func NewBreaker(r Rule, resource string, notify func(StateChange)) *Breaker {
	b := &Breaker{rule: r, resource: resource, notify: notify}
	b.counts.Store(b.newCounts())
	return b
}

// counts is a breaker's window: completed calls (stat.Complete) and bad
// ones (stat.Error), with the cached sums of their earlier buckets.
type counts struct {
	window     *stat.Window
	total, bad stat.Prior
}

func (b *Breaker) newCounts() *counts {
	w, _ := stat.NewWindow(b.rule.Interval(), b.rule.Buckets(), 0) // shape validated
	return &counts{window: w}
}

// Rule returns the breaker's rule.
func (b *Breaker) Rule() *Rule { return &b.rule }

// State returns the breaker's state.
func (b *Breaker) State() State { return State(b.state.Load()) }

// Transitions returns how many times the breaker has changed from state
// from to state to since it was made: Closed → Open, Open → HalfOpen,
// HalfOpen → Open and HalfOpen → Closed are the changes it makes; any
// other pair, or a state out of range, reads 0.
func (b *Breaker) Transitions(from, to State) int64 {
	if from >= numStates || to >= numStates {
		return 0
	}
	return b.transitions[from][to].Load()
}

// Reading returns what the breaker's window holds at now: the calls that
// completed in it while Closed (probes are not counted there), and value,
// the figure Closed compares with Threshold: the slow or error ratio
// (0 with no calls), or the error count. The window restarts empty when a
// half-open breaker closes.
func (b *Breaker) Reading(now int64) (value float64, calls int64) {
	w := b.counts.Load().window
	calls, bad := w.Sum(now, stat.Complete), w.Sum(now, stat.Error)
	value = float64(bad)
	if b.rule.Strategy != ErrorCount {
		value = 0
		if calls > 0 {
			value = float64(bad) / float64(calls)
		}
	}
	return value, calls
}

// Allow decides on a call at now. When ok, a non-zero probe must be given
// back with Done when the call completes, or with Release if it never runs.
func (b *Breaker) Allow(now int64) (probe Probe, ok bool) {
	switch State(b.state.Load()) {
	case Closed:
		return Probe{}, true
	case Open:
		if now < b.openUntil.Load() {
			return Probe{}, false
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch State(b.state.Load()) {
	case Closed:
		return Probe{}, true
	case Open:
		if now < b.openUntil.Load() {
			return Probe{}, false
		}
		b.probes = make([]probeSlot, b.rule.Probes())
		b.successes = 0
		b.setLocked(now, HalfOpen, 0)
	}
	// HalfOpen: take a free probe slot. A probe in flight for a whole
	// RetryTimeout is taken as lost (its caller never exited) and its slot
	// is reused, so the breaker cannot stay half-open for ever; the lost
	// probe no longer owns it.
	lost := subSat(now, int64(b.rule.RetryTimeout))
	for i := range b.probes {
		s := &b.probes[i]
		if s.started == 0 || s.started <= lost {
			b.tickets++
			*s = probeSlot{started: max(now, 1), ticket: b.tickets}
			return Probe{ticket: b.tickets, slot: i}, true
		}
	}
	return Probe{}, false
}

// Release gives back the slot of a probe whose call never ran (a later
// check blocked it). It does nothing for the zero Probe or a stale one (of
// an earlier half-open period, or lost: its slot went to another probe).
func (b *Breaker) Release(p Probe) {
	if p.ticket == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.owns(p) {
		b.probes[p.slot] = probeSlot{}
	}
}

// owns reports whether p still holds its slot in the half-open period in
// force. Tickets are unique, so a probe of an earlier period, or one whose
// slot was reused, owns nothing.
func (b *Breaker) owns(p Probe) bool {
	return State(b.state.Load()) == HalfOpen && p.slot < len(b.probes) && b.probes[p.slot].ticket == p.ticket
}

// Done records a completed call at now with response time rt; failed says
// whether it counts as an error. p is the call's probe, or the zero Probe.
// A probe that no longer owns its slot (of an earlier half-open period, or
// lost past RetryTimeout and its slot given to another) is ignored: it
// frees nothing and its outcome does not count.
func (b *Breaker) Done(now int64, rt time.Duration, failed bool, p Probe) {
	bad := failed
	if b.rule.Strategy == SlowRequestRatio {
		bad = rt > b.rule.MaxAllowedRT
	}
	if p.ticket != 0 {
		b.probeDone(now, rt, bad, p)
		return
	}
	c := b.counts.Load()
	w := c.window
	epoch, total := w.AddGet(now, stat.Complete, 1)
	var bads int64
	if bad {
		_, bads = w.AddGet(now, stat.Error, 1)
	} else {
		bads = w.Count(epoch, stat.Error)
	}
	if State(b.state.Load()) != Closed {
		return
	}
	total += w.Prior(epoch, stat.Complete, &c.total)
	bads += w.Prior(epoch, stat.Error, &c.bad)
	if total < b.rule.MinRequests() {
		return
	}
	value := float64(bads)
	if b.rule.Strategy != ErrorCount {
		value /= float64(total)
	}
	if value < b.rule.Threshold {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if State(b.state.Load()) == Closed {
		b.openLocked(now, value)
	}
}

func (b *Breaker) probeDone(now int64, rt time.Duration, bad bool, p Probe) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.owns(p) {
		return // a probe of an earlier half-open period, or a lost one
	}
	b.probes[p.slot] = probeSlot{}
	if bad {
		value := 1.0
		if b.rule.Strategy == SlowRequestRatio {
			value = rt.Seconds()
		}
		b.openLocked(now, value)
		return
	}
	b.successes++
	if b.successes >= b.rule.Probes() {
		b.counts.Store(b.newCounts()) // statistics restart from zero
		b.setLocked(now, Closed, 0)
	}
}

func (b *Breaker) openLocked(now int64, value float64) {
	b.openUntil.Store(addSat(now, int64(b.rule.RetryTimeout)))
	b.setLocked(now, Open, value)
}

// addSat returns a + d for d >= 0, or math.MaxInt64 where that overflows:
// a RetryTimeout past the end of time keeps a breaker open for good.
func addSat(a, d int64) int64 {
	if a > math.MaxInt64-d {
		return math.MaxInt64
	}
	return a + d
}

// subSat returns a - d for d >= 0, or math.MinInt64 where that overflows.
func subSat(a, d int64) int64 {
	if a < math.MinInt64+d {
		return math.MinInt64
	}
	return a - d
}

func (b *Breaker) setLocked(now int64, to State, value float64) {
	from := State(b.state.Swap(uint32(to)))
	if from != to {
		b.transitions[from][to].Add(1)
	}
	if b.notify != nil && from != to {
		b.notify(StateChange{Resource: b.resource, Rule: &b.rule, From: from, To: to, Value: value,
			At: time.Unix(0, now)})
	}
}

// Reason describes why a call is blocked in the breaker's current state.
func (b *Breaker) Reason() string {
	return fmt.Sprintf("circuit breaker %v (%v)", b.State(), b.rule.Strategy)
}
