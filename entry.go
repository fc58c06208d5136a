package sluice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/hotspot"
)

// EntryOption describes an entry to Entry or Do. Make one with the With*
// functions below; the zero EntryOption changes nothing. EntryOption is a
// plain value so that passing options does not allocate.
type EntryOption struct {
	kind    optionKind
	traffic TrafficType
	batch   int64
	args    []any
	key     any
	value   any
}

type optionKind uint8

const (
	optNone optionKind = iota
	optTraffic
	optBatch
	optArgs
	optAttachment
)

// WithTrafficType marks the entry Inbound (a request this service serves)
// or Outbound (a call to a dependency, the default).
//
// System (adaptive protection) rules apply ONLY to Inbound entries: an
// entry without WithTrafficType(Inbound) is never checked against them and
// is not counted in SystemStats. Mark server-side traffic Inbound, as the
// adapters do, or system rules will not protect it.
func WithTrafficType(t TrafficType) EntryOption { return EntryOption{kind: optTraffic, traffic: t} }

// WithBatchCount makes the entry count as n permits in flow statistics and
// thresholds (default 1). n < 1 counts as 1, and n > MaxBatchCount as
// MaxBatchCount. Concurrency counts entries, not permits.
func WithBatchCount(n int64) EntryOption { return EntryOption{kind: optBatch, batch: n} }

// MaxBatchCount is the largest batch count an entry can have; larger ones
// are cut to it, which keeps every counter far from overflow.
const MaxBatchCount = 1 << 20

// WithArgs gives the entry arguments that hotspot rules can limit on, by
// their position (ParamIndex). A later WithArgs replaces an earlier one.
//
// Hotspot rules keep argument values as keys, so Go's escape analysis puts
// the argument slice that WithArgs(a, b) builds at the call site on the
// heap: one small allocation per call, besides boxing non-constant values
// into any. Passing a slice the caller reuses, WithArgs(args...), avoids it.
func WithArgs(args ...any) EntryOption { return EntryOption{kind: optArgs, args: args} }

// WithAttachment attaches a keyed value to the entry, which hotspot rules
// can limit on (ParamKey). Later attachments with an equal key win.
func WithAttachment(key, value any) EntryOption {
	return EntryOption{kind: optAttachment, key: key, value: value}
}

// Permit is an admitted entry. Call Exit exactly when the guarded work is
// done, typically with defer; record a failure with SetError first.
//
// A Permit belongs to the goroutine that made it: its methods are not safe
// for concurrent use. All its methods may be called on a nil *Permit, where
// they do nothing.
type Permit struct {
	eng     *Engine
	res     *resource                   // nil: untracked, nothing to record
	bound   *binding                    // the rules that admitted the entry
	probes  slots[circuitbreaker.Probe] // probe tokens from its circuit breakers
	hot     slots[hotspot.Token]        // tokens from its hotspot rules
	start   int64
	batch   int64
	stripe  int  // the node stripe the entry records into
	shared  bool // counted in the node's shared in-flight count
	inbound bool // counted in the engine's inbound statistics
	traffic TrafficType
	err     error
	exited  bool
	// inboundSlot says the entry is in flight in the inbound statistics'
	// exact count (under a Concurrency rule), not in its stripe.
	inboundSlot bool
}

// Resource returns the name of the resource the permit was taken on, or ""
// for an entry that passed unchecked (a resource past the engine's bound, or
// a fault inside Sluice).
func (p *Permit) Resource() string {
	if p == nil || p.res == nil {
		return ""
	}
	return p.res.name
}

// SetError records err as the outcome of the guarded work. When the permit
// exits, it counts as a failure in the resource's error statistics and
// circuit breakers if the engine's error classifier says so (see
// WithErrorClassifier; by default every error but context.Canceled). A nil
// err, or a call after Exit, does nothing.
func (p *Permit) SetError(err error) {
	if p == nil || p.exited || err == nil {
		return
	}
	p.err = err
}

// Exit ends the entry: it records completion, response time and any error
// set, and releases the entry's concurrency. Calls after the first do
// nothing.
//
// The user's code that Exit runs is contained: if the error classifier
// panics (or calls runtime.Goexit), that is logged and the error counts as
// no failure; if the engine's clock panics, that is logged and the entry
// ends when it started. Either way the entry's concurrency, probe and
// hotspot slots are released.
func (p *Permit) Exit() {
	if p == nil || p.exited {
		return
	}
	p.exited = true
	if p.res == nil && !p.inbound {
		return
	}
	var now int64
	if p.eng.realClock {
		now = p.eng.now()
	} else {
		now = p.clockNow()
	}
	rt := durationBetween(p.start, now)
	failed := false
	if p.err != nil {
		failed = p.err == errPanicked || p.classify(now, rt)
	}
	p.finish(now, rt, failed)
}

// classify asks the engine's error classifier whether p.err is a failure.
// The classifier is the user's code: a panic in it is logged and counts as
// no failure; if it ends the goroutine (runtime.Goexit), the exit is
// finished here, on the way out, so that nothing stays held.
func (p *Permit) classify(now int64, rt time.Duration) (failed bool) {
	returned := false
	defer func() {
		if returned {
			return
		}
		v := recover()
		if v == nil {
			p.eng.log.Error("sluice: the error classifier called runtime.Goexit; the error counts as no failure",
				"resource", p.Resource())
			p.finish(now, rt, false)
			return
		}
		p.eng.log.Error("sluice: the error classifier panicked; the error counts as no failure",
			"resource", p.Resource(), "panic", fmt.Sprint(v))
	}()
	failed = p.eng.isFailure(p.err)
	returned = true
	return failed
}

// clockNow reads a clock other than clock.Real() (the user's, which may
// panic) for Exit; a panic is logged and reads as the entry's start.
func (p *Permit) clockNow() (now int64) {
	defer func() {
		if v := recover(); v != nil {
			p.eng.log.Error("sluice: the clock panicked in Exit; the entry ends when it started",
				"resource", p.Resource(), "panic", fmt.Sprint(v))
			now = p.start
		}
	}()
	return p.eng.now()
}

// finish records the end of an entry that exits at now after rt, and
// releases everything it holds.
func (p *Permit) finish(now int64, rt time.Duration, failed bool) {
	if p.inbound {
		p.eng.inbound.leave(now, p.stripe, rt, failed, p.inboundSlot)
	}
	if p.res == nil {
		return
	}
	p.res.node.AddCompletion(now, p.stripe, p.batch, rt, failed)
	if p.shared {
		p.res.node.Release()
	} else {
		p.res.node.Leave(p.stripe)
	}
	for i := range p.bound.hotspots {
		p.bound.hotspots[i].l.Release(p.hot.get(i))
	}
	for i := range p.bound.breakers {
		p.bound.breakers[i].b.Done(now, rt, failed, p.probes.get(i))
	}
}

// Entry asks to enter resource. On success it returns a Permit to Exit when
// the work is done. When a rule blocks the entry it returns a nil Permit and
// a *BlockError (errors.Is(err, ErrBlocked) holds). Under a Throttling rule,
// Entry may wait for its turn; the wait ends early, with a *BlockError whose
// Cause is ctx.Err(), when ctx is done, and a wait longer than ctx's
// remaining deadline is not started.
//
// Checks run in order: system (Inbound entries only), isolation, flow,
// hotspot, circuit breakers, then custom checkers.
//
// A nil ctx is taken as context.Background(). An empty resource name is
// tracked as UnnamedResource.
func (e *Engine) Entry(ctx context.Context, resource string, opts ...EntryOption) (*Permit, error) {
	// Kept small enough to inline, so that a Permit that does not outlive
	// the caller's frame lives on the caller's stack.
	p := new(Permit)
	if e.enter(ctx, p, resource, opts) {
		return p, nil
	}
	return nil, p.err
}

// Do runs fn under an entry to resource. A block returns the *BlockError
// without calling fn. Otherwise Do returns fn's error, recorded as the
// entry's outcome. If fn panics, the panic is recorded as an error, the
// entry exits, and the panic continues up the stack. A nil ctx is taken as
// context.Background(), and fn is given that.
func (e *Engine) Do(ctx context.Context, resource string, fn func(context.Context) error, opts ...EntryOption) error {
	if ctx == nil {
		ctx = context.Background()
	}
	p, err := e.Entry(ctx, resource, opts...)
	if err != nil {
		return err
	}
	returned := false
	defer func() {
		if !returned {
			p.SetError(errPanicked)
		}
		p.Exit()
	}()
	err = fn(ctx)
	returned = true
	p.SetError(err)
	return err
}

// errPanicked is recorded for a guarded function that panicked.
var errPanicked = errors.New("sluice: guarded function panicked")
