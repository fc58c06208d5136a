package sluice

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/sluice-go/sluice/core/circuitbreaker"
)

// listenerQueue is how many state changes may wait for slow listeners
// before further ones are dropped (and logged).
const listenerQueue = 1024

// listeners delivers breaker state changes to the listeners registered with
// WithStateListener, in order, on one goroutine of their own, started at
// the first state change and stopped by Engine.Close. A slow listener delays
// only later deliveries, never a caller; a panicking one is logged.
type listeners struct {
	fns     []func(circuitbreaker.StateChange)
	log     *slog.Logger
	dropped atomic.Int64

	mu     sync.Mutex
	queue  chan circuitbreaker.StateChange // nil until the first change
	closed bool
	done   sync.WaitGroup
}

// notify queues a state change without blocking. It is called under a
// breaker's lock.
func (l *listeners) notify(c circuitbreaker.StateChange) {
	if len(l.fns) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	if l.queue == nil {
		l.queue = make(chan circuitbreaker.StateChange, listenerQueue)
		l.done.Add(1)
		go l.run(l.queue)
	}
	select {
	case l.queue <- c:
	default:
		if l.dropped.Add(1) == 1 {
			l.log.Warn("sluice: state listeners are too slow; state changes are being dropped",
				"resource", c.Resource, "from", c.From, "to", c.To)
		}
	}
}

func (l *listeners) run(queue <-chan circuitbreaker.StateChange) {
	defer l.done.Done()
	for c := range queue {
		for _, fn := range l.fns {
			l.call(fn, c)
		}
	}
}

func (l *listeners) call(fn func(circuitbreaker.StateChange), c circuitbreaker.StateChange) {
	defer func() {
		if v := recover(); v != nil {
			l.log.Error("sluice: state listener panicked", "resource", c.Resource, "panic", fmt.Sprint(v))
		}
	}()
	fn(c)
}

// close delivers what is queued, then stops the goroutine. Later state
// changes are not delivered.
func (l *listeners) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		if l.queue != nil {
			close(l.queue)
		}
	}
	l.mu.Unlock()
	l.done.Wait()
}
