package sluice

import (
	"sync/atomic"
	"unsafe"
)

// recentResources remembers, for each of a few hundred call-site strings,
// the resource it named the last time, so that an entry whose name is the
// very string of an earlier one (a string constant, or a name an adapter
// keeps per route) finds its resource without hashing the name into the
// resource map.
//
// A slot is chosen by the address and length of the name's bytes, and a
// resource found there is used only if its name equals the name given, by
// content: a slot left by another string, or a buffer rewritten under an
// unsafe string since, is a miss like an empty one. The address is only a
// hint and is never kept as a pointer, so the name may live on the caller's
// stack. Resources are never removed, so a cached one stays valid.
type recentResources [recentSlots]atomic.Pointer[resource]

const recentSlots = 256 // a power of two

func (c *recentResources) slot(name string) *atomic.Pointer[resource] {
	h := uint64(uintptr(unsafe.Pointer(unsafe.StringData(name)))) ^ uint64(len(name))
	h *= 0x9e3779b97f4a7c15 // Fibonacci hashing: the top bits mix every input bit
	return &c[h>>(64-8)]
}

// get returns the resource called name if its slot holds it, else nil.
func (c *recentResources) get(name string) *resource {
	if r := c.slot(name).Load(); r != nil && r.name == name {
		return r
	}
	return nil
}

// put remembers r for the string name. A slot that holds r already is
// not written: names that share a slot, or a name built afresh for every
// entry, would otherwise write to a shared cache line on every call.
func (c *recentResources) put(name string, r *resource) {
	if s := c.slot(name); s.Load() != r {
		s.Store(r)
	}
}
