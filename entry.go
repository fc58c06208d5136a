package sluice

import (
	"context"
	"errors"
	"slices"
)

// EntryOption describes an entry to Entry or Do. Make one with the With*
// functions below; the zero EntryOption changes nothing. EntryOption is a
// plain value so that passing options does not allocate.
type EntryOption struct {
	kind    optionKind
	traffic TrafficType
	n       int64 // optBatch: the count; optArgs: the number of arguments
	// vals holds the arguments of optArgs when there are at most two, and
	// the key and value of optAttachment. Holding them here rather than
	// in the caller's slice lets that slice stay on the caller's stack.
	vals [2]any
	more []any // optArgs: a copy of the arguments, when more than two
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
func WithBatchCount(n int64) EntryOption { return EntryOption{kind: optBatch, n: n} }

// MaxBatchCount is the largest batch count an entry can have; larger ones
// are cut to it, which keeps every counter far from overflow.
const MaxBatchCount = 1 << 20

// WithArgs gives the entry arguments that hotspot rules can limit on, by
// their position (ParamIndex). A later WithArgs replaces an earlier one.
//
// Up to two arguments are held in the EntryOption itself: WithArgs(a) and
// WithArgs(a, b) allocate nothing beyond boxing a non-constant a or b into
// an any at the call site (hotspot rules keep argument values as keys, so
// the boxes go to the heap; an already-boxed value costs nothing). More
// than two are copied: one allocation. WithArgs does not keep args.
func WithArgs(args ...any) EntryOption {
	o := EntryOption{kind: optArgs, n: int64(len(args))}
	if len(args) <= len(o.vals) {
		copy(o.vals[:], args)
	} else {
		o.more = slices.Clone(args)
	}
	return o
}

// argsOf returns the arguments of an optArgs option, nil for none. They
// may be in o itself: the slice is valid while o is.
func (o *EntryOption) argsOf() []any {
	switch {
	case o.n == 0:
		return nil
	case o.more != nil:
		return o.more
	}
	return o.vals[:o.n:o.n]
}

// WithAttachment attaches a keyed value to the entry, which hotspot rules
// can limit on (ParamKey). Later attachments with an equal key win.
func WithAttachment(key, value any) EntryOption {
	return EntryOption{kind: optAttachment, vals: [2]any{key, value}}
}

// Entry asks to enter resource. On success it returns a Permit to Exit when
// the work is done. When a rule blocks the entry it returns the zero Permit and
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
func (e *Engine) Entry(ctx context.Context, resource string, opts ...EntryOption) (Permit, error) {
	s := permitPool.Get().(*permitState)
	if !e.enter(ctx, &s.entry, resource, opts) {
		err := s.err
		s.recycle()
		return Permit{}, err
	}
	return s.permit(), nil
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
