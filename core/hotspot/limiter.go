package hotspot

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Limiter enforces one rule on one resource, keeping a state per value in a
// bounded, sharded 2Q cache (github.com/hashicorp/golang-lru/v2): a value
// seen once waits in a small "recent" queue and only a value seen again
// enters the main, frequent queue, so a scan of many one-off values cannot
// push out the hot ones (with a plain LRU it does; see the benchmark
// module's hit-rate measurement). A forgotten value starts afresh (a full
// bucket, nothing in flight), except that a value with entries in flight is
// never forgotten while they are: its count stays exact, and it is the
// value's only count (an entry that looked up a state the cache forgot
// before it took a slot takes it from the value's current state instead).
//
// Arithmetic saturates rather than overflows: a permit's step and a
// bucket's depth are capped at about 146 years (2^62 ns), so that a rule
// admitting less than one permit in that time admits one per 146 years,
// and a bucket worth more than that much refill (a burst of 1e11, a
// threshold of 1e20) holds that much; a Concurrency threshold of 2^63 or
// more limits nothing.
//
// A Limiter is safe for concurrent use. On a known value of a string or
// integer kind, Acquire, Cancel and Release allocate nothing.
type Limiter struct {
	rule     Rule
	window   float64 // Duration in nanoseconds
	specific map[Key]float64
	shards   []shard
	mask     uint64
	skipped  atomic.Int64
	noValue  atomic.Int64
}

type shard struct {
	cache *lru.TwoQueueCache[Key, *state]
	mu    sync.Mutex     // guards busy and making states
	busy  map[Key]*state // states with entries in flight
	_     [64 - 8 - 8 - 8]byte
}

// state is one value's count.
type state struct {
	key       Key
	threshold float64
	tat       atomic.Int64 // QPS: the theoretical arrival time of the next permit
	inFlight  atomic.Int64 // Concurrency
}

// Token is what an Acquire took, to give back with Cancel (the entry was
// blocked later) or Release (the entry exited). The zero Token took nothing.
type Token struct {
	st    *state
	n     int64 // permits (QPS) or 1 (Concurrency)
	tail  int64 // QPS: the arrival time this token moved tat to
	start int64 // QPS: where its permits' booking started
}

// NewLimiter returns a limiter for a valid rule (see Rule.Validate).
func NewLimiter(r Rule) *Limiter {
	l := &Limiter{rule: r, window: float64(r.Window()), specific: map[Key]float64{}}
	for _, it := range r.SpecificItems {
		k, _ := KeyOf(it.Value)
		l.specific[k] = it.Threshold
	}
	n := 1
	if r.Capacity() >= 1024 {
		// 16 shards, so that entries on different values mostly take
		// different locks; below 1024 values, per-shard queues of under 64
		// would be too small to hold a hot set.
		n = 16
	}
	l.shards = make([]shard, n)
	l.mask = uint64(n - 1)
	for i := range l.shards {
		l.shards[i].cache = newCache((r.Capacity() + n - 1) / n)
		l.shards[i].busy = map[Key]*state{}
	}
	return l
}

// newCache returns a 2Q cache of size values (at least 1) with the
// library's default ratios, except that the ghost list of values recently
// forgotten holds at least one: lru.New2Q refuses a size whose default
// ghost list would be empty (size 1).
func newCache(size int) *lru.TwoQueueCache[Key, *state] {
	ghost := lru.Default2QGhostEntries
	if float64(size)*ghost < 1 {
		ghost = 1
	}
	c, err := lru.New2QParams[Key, *state](size, lru.Default2QRecentRatio, ghost)
	if err != nil {
		// Only a size below 1, which Rule.Validate refuses.
		panic("hotspot: " + err.Error())
	}
	return c
}

// Rule returns the rule the limiter enforces.
func (l *Limiter) Rule() *Rule { return &l.rule }

// Skip records an entry whose value could not be counted.
func (l *Limiter) Skip() { l.skipped.Add(1) }

// Skipped returns how many entries were let through unlimited because their
// value could not be counted (see KeyOf).
func (l *Limiter) Skipped() int64 { return l.skipped.Load() }

// MissValue records an entry that carried no value for the rule (no
// attachment under ParamKey, or no argument at ParamIndex), and reports
// whether it is the first such entry.
func (l *Limiter) MissValue() (first bool) { return l.noValue.Add(1) == 1 }

// NoValue returns how many entries carried no value for the rule, and so
// were not limited by it.
func (l *Limiter) NoValue() int64 { return l.noValue.Load() }

// Tracked returns how many values the limiter holds.
func (l *Limiter) Tracked() int {
	n := 0
	for i := range l.shards {
		n += l.shards[i].cache.Len()
	}
	return n
}

// Acquire decides on an entry of batch permits for value k at now. When ok,
// the entry may pass after waiting wait (non-zero only under Throttling).
func (l *Limiter) Acquire(now int64, k Key, batch int64) (tok Token, wait time.Duration, ok bool) {
	sh := &l.shards[k.hash()&l.mask]
	st := l.lookup(sh, k)
	if l.rule.MetricType == Concurrency {
		if st, ok = l.enter(sh, st); !ok {
			return Token{}, 0, false
		}
		return Token{st: st, n: 1}, 0, true
	}
	if !(st.threshold > 0) {
		return Token{}, 0, false
	}
	if l.rule.ControlBehavior == Throttling && float64(batch) > max(st.threshold, 1) {
		// More than one Duration's worth (or more than one permit below a
		// threshold of one) would book the value's queue for longer than a
		// Duration: refused, as Reject refuses a batch over its capacity.
		return Token{}, 0, false
	}
	interval := l.window / st.threshold // nanoseconds per permit
	// Steps are rounded to the nearest nanosecond, so the rate is exact on
	// average; the bucket's capacity (Reject) allows half a nanosecond of
	// rounding per permit. Duration is at least 1 ms, so that slack is far
	// below one permit's step. Both saturate at maxSpan.
	step := span(math.Round(float64(batch) * interval))
	capacity := st.threshold + l.rule.BurstCount
	limit := span(math.Ceil(capacity*interval + capacity/2))
	maxWait := int64(l.rule.MaxQueueingTime)
	for {
		tat := st.tat.Load()
		// How far the value's bookings run ahead of now: at most
		// maxSpan + MaxQueueingTime, so the sums below cannot overflow
		// (see maxSpan).
		ahead := max(tat-now, 0)
		if l.rule.ControlBehavior == Throttling {
			if ahead > maxWait {
				return Token{}, 0, false
			}
		} else if ahead > limit-step { // ahead + step > limit
			return Token{}, 0, false
		}
		start := now + ahead
		next := start + step
		if st.tat.CompareAndSwap(tat, next) {
			if l.rule.ControlBehavior == Throttling {
				wait = time.Duration(ahead)
			}
			return Token{st: st, n: batch, tail: next, start: start}, wait, true
		}
	}
}

// maxSpan bounds, in nanoseconds, a permit's step and a bucket's depth:
// 2^62 ns, about 146 years. A rule whose step or bucket is worth more (a
// Duration of centuries, a threshold of 1e-11 per second, a burst of 1e11)
// saturates there: at most one permit per 146 years, or a burst of 146
// years' refill. The bookings of a value run at most maxSpan +
// MaxQueueingTime ahead of now, so that now plus them stays below
// MaxInt64 for any Unix time in nanoseconds before the year 2116.
const maxSpan = 1 << 62

// span converts a positive number of nanoseconds to one in [1, maxSpan].
func span(ns float64) int64 {
	if ns >= maxSpan {
		return maxSpan
	}
	return max(int64(ns), 1)
}

// Cancel gives back what a Token took, for an entry blocked by a later
// check: a QPS reservation (if no later entry reserved after it) or a
// concurrency slot.
func (l *Limiter) Cancel(t Token) {
	switch {
	case t.st == nil:
	case l.rule.MetricType == Concurrency:
		l.Release(t)
	default:
		t.st.tat.CompareAndSwap(t.tail, t.start)
	}
}

// Release gives back a Concurrency token's slot when its entry exits. It
// does nothing for other tokens.
func (l *Limiter) Release(t Token) {
	if t.st == nil || l.rule.MetricType != Concurrency {
		return
	}
	if t.st.inFlight.Add(-1) != 0 {
		return
	}
	sh := &l.shards[t.st.key.hash()&l.mask]
	sh.mu.Lock()
	if t.st.inFlight.Load() == 0 && sh.busy[t.st.key] == t.st {
		delete(sh.busy, t.st.key)
	}
	sh.mu.Unlock()
}

// enter takes a concurrency slot of the value of st, which lookup returned
// without the shard's lock, and returns the state it took it from. Going
// from 0 to 1 in flight happens under the shard's lock, together with
// marking the state busy, so that a busy value is never forgotten; and only
// the value's current state takes that first slot. st may have been
// forgotten since lookup (evicted while nothing was in flight) and another
// state made for the value: counting on st too would give the value two
// live counts, each admitting up to the threshold.
func (l *Limiter) enter(sh *shard, st *state) (*state, bool) {
	limit := int64(math.MaxInt64) // a threshold of 2^63 or more: no limit
	if st.threshold < math.MaxInt64 {
		limit = int64(st.threshold) // whole entries
	}
	for {
		c := st.inFlight.Load()
		if c+1 > limit {
			return nil, false
		}
		if c == 0 {
			break
		}
		// In flight, so busy, so still the value's current state.
		if st.inFlight.CompareAndSwap(c, c+1) {
			return st, true
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st = sh.current(st)
	for {
		c := st.inFlight.Load()
		if c+1 > limit {
			return nil, false
		}
		if st.inFlight.CompareAndSwap(c, c+1) {
			if c == 0 {
				sh.busy[st.key] = st
			}
			return st, true
		}
	}
}

// current returns the state of st's value now: the busy one, else the
// cached one, else st itself, taken back into the cache. The caller holds
// sh.mu.
func (sh *shard) current(st *state) *state {
	if cur := sh.busy[st.key]; cur != nil {
		return cur
	}
	if cur, ok := sh.cache.Peek(st.key); ok {
		return cur
	}
	sh.cache.Add(st.key, st)
	return st
}

// lookup returns k's state, making it (or taking it back from the busy set)
// if the cache does not hold it.
func (l *Limiter) lookup(sh *shard, k Key) *state {
	if st, ok := sh.cache.Get(k); ok {
		return st
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if st, ok := sh.cache.Get(k); ok {
		return st
	}
	st := sh.busy[k]
	if st == nil {
		st = &state{key: k, threshold: l.rule.Threshold}
		if t, ok := l.specific[k]; ok {
			st.threshold = t
		}
	}
	sh.cache.Add(k, st)
	return st
}
