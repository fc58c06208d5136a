package sluice

import (
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-go/sluice/core/clock"
)

// blockLog logs, once per interval, the blocks the engine counted by
// resource, block type and rule since the last interval (WithBlockLog). It
// reads the counts that Snapshot reads, so blocking costs it nothing.
type blockLog struct {
	interval time.Duration
	clock    clock.Clock
	log      *slog.Logger
	each     func(f func(resource string, c *blockCounts)) // every resource's block counts
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// seenBlocks is, per block count, its value at the last flush and whether
// it grew in the interval before.
type seenBlocks map[*blockCount]struct {
	n        int64
	blocking bool
}

func newBlockLog(interval time.Duration, c clock.Clock, log *slog.Logger,
	each func(f func(resource string, c *blockCounts))) *blockLog {
	l := &blockLog{interval: interval, clock: c, log: log, each: each, stop: make(chan struct{}), done: make(chan struct{})}
	seen := seenBlocks{}
	l.flush(seen, false) // blocks from before the log started are not this interval's
	go l.run(seen)
	return l
}

// run logs every interval until close.
func (l *blockLog) run(seen seenBlocks) {
	defer close(l.done)
	for {
		t := l.clock.NewTimer(l.interval)
		select {
		case <-l.stop:
			t.Stop()
			return
		case <-t.C():
		}
		l.flush(seen, true)
	}
}

// flush logs, if write, the blocks counted since the last flush, and the
// keys that blocked then but not since.
func (l *blockLog) flush(seen seenBlocks, write bool) {
	l.each(func(resource string, c *blockCounts) {
		c.each(func(bc *blockCount) {
			s := seen[bc]
			n := bc.n.Load() - s.n
			switch {
			case n > 0 && write:
				l.log.Warn("sluice: blocking", "resource", resource, "type", bc.typ.String(), "rule", bc.rule,
					"blocked", n, "interval", l.interval)
			case s.blocking && write:
				l.log.Info("sluice: blocking stopped", "resource", resource, "type", bc.typ.String(), "rule", bc.rule)
			}
			s.n, s.blocking = s.n+n, n > 0 && write
			seen[bc] = s
		})
	})
}

// close stops the goroutine and waits for it.
func (l *blockLog) close() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}
