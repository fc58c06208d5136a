package sluice

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/hotspot"
)

// Permit is an admitted entry. Call Exit when the guarded work is done,
// typically with defer p.Exit(); record a failure with SetError first.
//
// A Permit is a small value (three words): copy it freely, keep it in a
// struct, hand it to another goroutine. Every copy refers to the same
// entry, and its methods are safe for concurrent use. Exit takes effect
// once, whichever copy calls it first; after it, every method of every copy
// does nothing, even once the engine has reused the entry's storage for
// another entry. The zero Permit, returned with a block, does nothing.
type Permit struct {
	s   *permitState // nil: nothing to record (a block, or an entry past the bound)
	gen uint64       // s.gen while this entry is live
	res *resource    // for Resource; nil for an untracked entry
}

// permitState is the pooled storage of an admitted entry. gen tells the
// entries that used it apart and says who holds it:
//
//	g      the entry whose Permit carries g is live
//	g+1    a SetError of that entry is writing err
//	g+2    that entry has exited (or is exiting)
//	g+4    the next entry to use the storage is live
//
// with g a multiple of 4. Every method of a Permit first moves gen from its
// own g with a compare-and-swap, so a Permit whose entry has exited, and
// every copy of it, finds gen moved on and does nothing.
type permitState struct {
	gen atomic.Uint64
	entry
}

const (
	genSetting = 1 // gen offset while SetError writes err
	genExited  = 2 // gen offset once the entry has exited
	genNext    = 4 // gen offset of the storage's next entry
)

var permitPool = sync.Pool{New: func() any { return new(permitState) }}

// entry is what an admitted entry holds until it exits: what its checks
// took and what Exit records.
type entry struct {
	eng      *Engine
	res      *resource                   // nil: untracked, nothing to record
	bound    *binding                    // the rules that admitted the entry
	probes   slots[circuitbreaker.Probe] // probe tokens from its circuit breakers
	hot      slots[hotspot.Token]        // tokens from its hotspot rules
	start    int64
	batch    int64
	stripe   int  // the node stripe the entry records into
	inStripe int  // the inbound statistics' stripe, for an Inbound entry
	shared   bool // counted in the node's shared in-flight count
	inbound  bool // counted in the engine's inbound statistics
	coarse   bool // reads the engine's coarse clock (WithCoarseClock)
	traffic  TrafficType
	err      error // the block error while checking; the work's error after
	// inboundSlot says the entry is in flight in the inbound statistics'
	// exact count (under a Concurrency rule), not in its stripe.
	inboundSlot bool
}

// permit returns the Permit of the admitted entry s holds.
func (s *permitState) permit() Permit {
	if s.res == nil && !s.inbound {
		s.recycle() // untracked and not Inbound: Exit has nothing to record
		return Permit{}
	}
	return Permit{s: s, gen: s.gen.Load(), res: s.res}
}

// recycle empties s, whose entry no Permit refers to (gen says so), and
// gives it back to the pool. The probe and hotspot slots keep the capacity
// they grew to, so that a resource with more than two rules of a family
// does not allocate them afresh. Only what the next entry relies on being
// zero is cleared, and the references, so that nothing stays reachable
// from the pool.
func (s *permitState) recycle() {
	en := &s.entry
	if b := en.bound; b != nil { // an exit: a block or a fault rolled its tokens back
		if len(b.hotspots) > 0 {
			en.hot.clear()
		}
		if len(b.breakers) > 0 {
			en.probes.clear()
		}
	}
	en.eng, en.res, en.bound, en.err = nil, nil, nil, nil
	en.traffic, en.shared, en.inbound, en.inboundSlot, en.coarse = Outbound, false, false, false, false
	permitPool.Put(s)
}

// Resource returns the name of the resource the permit was taken on, or ""
// for the zero Permit and an entry that passed unchecked (a resource past
// the engine's bound, or a fault inside Sluice).
func (p Permit) Resource() string {
	if p.res == nil {
		return ""
	}
	return p.res.name
}

// SetError records err as the outcome of the guarded work. When the permit
// exits, it counts as a failure in the resource's error statistics and
// circuit breakers if the engine's error classifier says so (see
// WithErrorClassifier; by default every error but context.Canceled). A
// later SetError replaces an earlier one. A nil err, or a call after Exit,
// does nothing.
func (p Permit) SetError(err error) {
	s := p.s
	if s == nil || err == nil || !s.gen.CompareAndSwap(p.gen, p.gen+genSetting) {
		return
	}
	s.err = err
	s.gen.Store(p.gen)
}

// Exit ends the entry: it records completion, response time and any error
// set, and releases the entry's concurrency. Only the first call, on any
// copy of the Permit, does this; later ones do nothing.
//
// The user's code that Exit runs is contained: if the error classifier
// panics (or calls runtime.Goexit), that is logged and the error counts as
// no failure; if the engine's clock panics, that is logged and the entry
// ends when it started. Either way the entry's concurrency, probe and
// hotspot slots are released.
func (p Permit) Exit() {
	s := p.s
	if s == nil {
		return
	}
	for !s.gen.CompareAndSwap(p.gen, p.gen+genExited) {
		if s.gen.Load() != p.gen+genSetting {
			return // exited already
		}
		runtime.Gosched() // a SetError on another goroutine is storing its error
	}
	en := &s.entry
	var now int64
	if en.eng.realClock {
		now = en.eng.entryNow(en.coarse)
	} else {
		now = en.clockNow()
	}
	rt := durationBetween(en.start, now)
	failed := false
	if en.err == errPanicked {
		failed = true
	} else if en.err != nil {
		var finished bool
		if failed, finished = en.classify(now, rt); finished {
			return // a classifier's panic(nil) under GODEBUG=panicnil=1: finished, and the storage left alone
		}
	}
	en.finish(now, rt, failed)
	s.gen.Store(p.gen + genNext)
	s.recycle()
}

// classify asks the engine's error classifier whether en.err is a failure.
// The classifier is the user's code: a panic in it is logged and counts as
// no failure; if it ends the goroutine (runtime.Goexit), the exit is
// finished here, on the way out, so that nothing stays held (the storage
// is then left to the garbage collector, never reused). finished says the
// exit was finished so: it can return to Exit after all when the
// classifier called panic(nil) under GODEBUG=panicnil=1, which recover
// cannot tell from runtime.Goexit.
func (en *entry) classify(now int64, rt time.Duration) (failed, finished bool) {
	returned := false
	defer func() {
		if returned {
			return
		}
		v := recover()
		if v == nil {
			en.eng.log.Error("sluice: the error classifier called runtime.Goexit (or panic(nil) under GODEBUG=panicnil=1); the error counts as no failure",
				"resource", en.resourceName())
			en.finish(now, rt, false)
			failed, finished = false, true
			return
		}
		en.eng.log.Error("sluice: the error classifier panicked; the error counts as no failure",
			"resource", en.resourceName(), "panic", fmt.Sprint(v))
	}()
	failed = en.eng.isFailure(en.err)
	returned = true
	return failed, false
}

// clockNow reads a clock other than clock.Real() (the user's, which may
// panic) for Exit; a panic is logged and reads as the entry's start.
func (en *entry) clockNow() (now int64) {
	defer func() {
		if v := recover(); v != nil {
			en.eng.log.Error("sluice: the clock panicked in Exit; the entry ends when it started",
				"resource", en.resourceName(), "panic", fmt.Sprint(v))
			now = en.start
		}
	}()
	return en.eng.entryNow(en.coarse)
}

func (en *entry) resourceName() string {
	if en.res == nil {
		return ""
	}
	return en.res.name
}

// finish records the end of an entry that exits at now after rt, and
// releases everything it holds.
func (en *entry) finish(now int64, rt time.Duration, failed bool) {
	if en.inbound {
		en.eng.inbound.leave(now, en.inStripe, rt, failed, en.inboundSlot)
	}
	if en.res == nil {
		return
	}
	en.res.node.AddCompletion(now, en.stripe, en.batch, rt, failed)
	if en.shared {
		en.res.node.Release()
	} else {
		en.res.node.Leave(en.stripe)
	}
	for i := range en.bound.hotspots {
		en.bound.hotspots[i].l.Release(en.hot.get(i))
	}
	for i := range en.bound.breakers {
		en.bound.breakers[i].b.Done(now, rt, failed, en.probes.get(i))
	}
}
