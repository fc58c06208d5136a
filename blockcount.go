package sluice

import (
	"sync"
	"sync/atomic"

	"github.com/sluice-go/sluice/core/circuitbreaker"
	"github.com/sluice-go/sluice/core/flow"
	"github.com/sluice-go/sluice/core/hotspot"
	"github.com/sluice-go/sluice/core/isolation"
	"github.com/sluice-go/sluice/core/system"
)

// blockCounts counts a resource's blocked permits by block type and rule,
// for as long as the resource is tracked. Adding is a scan of a short list
// and one atomic add; a key seen for the first time takes a lock once.
type blockCounts struct {
	list atomic.Pointer[[]*blockCount]
	mu   sync.Mutex // serialises additions to list
}

// blockCount is the count of one block type and rule.
type blockCount struct {
	typ  BlockType
	rule string // the rule's ID, "" when it has none
	n    atomic.Int64
}

// maxBlockKeys bounds the keys a resource counts blocks under: past it (a
// resource whose rules changed ID dozens of times), blocks are counted under
// their type and the rule "".
const maxBlockKeys = 64

// add counts n blocked permits of type typ by the rule with ID rule.
func (c *blockCounts) add(typ BlockType, rule string, n int64) {
	if l := c.list.Load(); l != nil {
		for _, bc := range *l {
			if bc.typ == typ && bc.rule == rule {
				bc.n.Add(n)
				return
			}
		}
	}
	c.key(typ, rule).n.Add(n)
}

// key returns the count of typ and rule, adding it if it is not there.
func (c *blockCounts) key(typ BlockType, rule string) *blockCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old []*blockCount
	if l := c.list.Load(); l != nil {
		old = *l
	}
	if len(old) >= maxBlockKeys {
		rule = ""
	}
	for _, bc := range old {
		if bc.typ == typ && bc.rule == rule {
			return bc
		}
	}
	bc := &blockCount{typ: typ, rule: rule}
	next := append(append(make([]*blockCount, 0, len(old)+1), old...), bc)
	c.list.Store(&next)
	return bc
}

// each calls f with every key counted so far, in the order first seen.
func (c *blockCounts) each(f func(*blockCount)) {
	if l := c.list.Load(); l != nil {
		for _, bc := range *l {
			f(bc)
		}
	}
}

// countBlock counts a blocked entry by the block type and rule of its
// error.
func (c *blockCounts) countBlock(err error, batch int64) {
	if be, ok := err.(*BlockError); ok && be != nil {
		c.add(be.Type, ruleID(be.Rule), batch)
	}
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
