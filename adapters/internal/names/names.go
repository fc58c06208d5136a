// Package names keeps the resource names Sluice's adapters make of two
// parts of a request, such as its method and its route pattern, so that a
// name is built (and allocated) once, not once per request.
package names

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxCached bounds the names a Cache keeps. Pairs seen after it is full
// have their name built at each request, as without a cache.
const MaxCached = 1024

type pair struct{ a, b string }

// Cache maps pairs of strings to the names made of them. Looking a pair up
// takes no lock and allocates nothing. The zero Cache is empty and ready
// to use; a Cache must not be copied after first use.
type Cache struct {
	m  atomic.Pointer[map[pair]string] // read only once stored; replaced whole
	mu sync.Mutex                      // serializes replacements
}

// Get returns join(a, b), from the cache when the pair was seen before.
// join must be a pure function of a and b.
func (c *Cache) Get(a, b string, join func(a, b string) string) string {
	if m := c.m.Load(); m != nil {
		if name, ok := (*m)[pair{a, b}]; ok {
			return name
		}
	}
	return c.add(a, b, join)
}

// add builds the name of a new pair and caches it, unless the cache is
// full. The strings are copied, so that the cache does not keep alive the
// larger strings a request's parts may be cut from.
func (c *Cache) add(a, b string, join func(a, b string) string) string {
	name := join(a, b)
	c.mu.Lock()
	defer c.mu.Unlock()
	var m map[pair]string
	if old := c.m.Load(); old != nil {
		if cached, ok := (*old)[pair{a, b}]; ok {
			return cached
		}
		if len(*old) >= MaxCached {
			return name
		}
		m = make(map[pair]string, len(*old)+1)
		maps.Copy(m, *old)
	} else {
		m = make(map[pair]string, 1)
	}
	name = strings.Clone(name)
	m[pair{strings.Clone(a), strings.Clone(b)}] = name
	c.m.Store(&m)
	return name
}

// Len returns the number of cached names.
func (c *Cache) Len() int {
	if m := c.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}
