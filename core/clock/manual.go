package clock

import (
	"slices"
	"sync"
	"time"
)

// Manual is a Clock that only moves when told to. Timers made by it fire
// when Advance or Set moves the time to or past their deadline. It is safe for
// concurrent use; it is meant for tests.
type Manual struct {
	mu      sync.Mutex
	cond    sync.Cond // signalled when a timer is added
	now     time.Time
	pending []*manualTimer
}

// NewManual returns a Manual clock that reads start until it is moved.
func NewManual(start time.Time) *Manual {
	m := &Manual{now: start}
	m.cond.L = &m.mu
	return m
}

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Nanos returns Now().UnixNano().
func (m *Manual) Nanos() int64 { return m.Now().UnixNano() }

// Advance moves the clock forward by d and fires, in deadline order, every
// timer whose deadline is now due. A negative d moves the clock back and fires
// nothing.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(m.now.Add(d))
}

// Set moves the clock to t, forward or back, and fires every timer whose
// deadline is at or before t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(t)
}

func (m *Manual) setLocked(t time.Time) {
	m.now = t
	slices.SortStableFunc(m.pending, func(a, b *manualTimer) int { return a.at.Compare(b.at) })
	kept := m.pending[:0]
	for _, tm := range m.pending {
		if tm.at.After(t) {
			kept = append(kept, tm)
			continue
		}
		tm.c <- tm.at // buffered, capacity 1, sent at most once
	}
	clear(m.pending[len(kept):])
	m.pending = kept
}

// NewTimer returns a timer that fires when the clock reaches Now()+d. A
// timer with d <= 0 has fired already when NewTimer returns.
func (m *Manual) NewTimer(d time.Duration) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	tm := &manualTimer{m: m, at: m.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		tm.c <- tm.at
		return tm
	}
	m.pending = append(m.pending, tm)
	m.cond.Broadcast()
	return tm
}

// Timers returns the number of timers waiting to fire.
func (m *Manual) Timers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// BlockUntilTimers blocks until at least n timers are waiting to fire. Tests
// use it to know that a goroutine has started waiting before they Advance.
func (m *Manual) BlockUntilTimers(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.pending) < n {
		m.cond.Wait()
	}
}

type manualTimer struct {
	m  *Manual
	at time.Time
	c  chan time.Time
}

func (t *manualTimer) C() <-chan time.Time { return t.c }

func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	for i, p := range t.m.pending {
		if p == t {
			t.m.pending = append(t.m.pending[:i], t.m.pending[i+1:]...)
			return true
		}
	}
	return false
}
