package sluice

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/clock"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

// blockLog counts blocks by resource, block type and rule, and logs them
// once per interval (WithBlockLog).
type blockLog struct {
	interval time.Duration
	clock    clock.Clock
	log      *slog.Logger
	counts   sync.Map // blockKey -> *atomic.Int64
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// blockKey is what the block log aggregates by.
type blockKey struct {
	resource string
	typ      BlockType
	rule     string // the rule's ID, "" when it has none
}

func newBlockLog(interval time.Duration, c clock.Clock, log *slog.Logger) *blockLog {
	l := &blockLog{interval: interval, clock: c, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// count counts one blocked entry.
func (l *blockLog) count(be *BlockError) {
	k := blockKey{resource: be.Resource, typ: be.Type, rule: ruleID(be.Rule)}
	n, ok := l.counts.Load(k)
	if !ok {
		n, _ = l.counts.LoadOrStore(k, new(atomic.Int64)) // once per key
	}
	n.(*atomic.Int64).Add(1)
}

// ruleID returns the ID of a rule as a BlockError holds it.
func ruleID(rule any) string {
	switch r := rule.(type) {
	case *flow.Rule:
		return r.ID
	case *isolation.Rule:
		return r.ID
	case *hotspot.Rule:
		return r.ID
	case *circuitbreaker.Rule:
		return r.ID
	case *system.Rule:
		return r.ID
	}
	return ""
}

// run logs every interval until close.
func (l *blockLog) run() {
	defer close(l.done)
	blocking := map[blockKey]bool{} // the keys that blocked in the last interval
	for {
		t := l.clock.NewTimer(l.interval)
		select {
		case <-l.stop:
			t.Stop()
			return
		case <-t.C():
		}
		l.flush(blocking)
	}
}

// flush logs the blocks counted since the last flush, and the keys that
// blocked then but not since.
func (l *blockLog) flush(blocking map[blockKey]bool) {
	l.counts.Range(func(key, value any) bool {
		k, n := key.(blockKey), value.(*atomic.Int64).Swap(0)
		switch {
		case n > 0:
			blocking[k] = true
			l.log.Warn("sluice: blocking", "resource", k.resource, "type", k.typ.String(), "rule", k.rule,
				"blocked", n, "interval", l.interval)
		case blocking[k]:
			delete(blocking, k)
			l.log.Info("sluice: blocking stopped", "resource", k.resource, "type", k.typ.String(), "rule", k.rule)
		}
		return true
	})
}

// close stops the goroutine and waits for it.
func (l *blockLog) close() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}
