package names

import (
	"strconv"
	"sync"
	"testing"
)

func join(a, b string) string { return a + " " + b }

func TestGetJoinsAndCaches(t *testing.T) {
	var c Cache
	joins := 0
	counting := func(a, b string) string { joins++; return join(a, b) }
	for range 3 {
		if got := c.Get("GET", "/x", counting); got != "GET /x" {
			t.Fatalf("Get: %q", got)
		}
	}
	if got := c.Get("POST", "/x", counting); got != "POST /x" {
		t.Fatalf("Get: %q", got)
	}
	if joins != 2 || c.Len() != 2 {
		t.Fatalf("%d joins, %d cached, want 2 and 2", joins, c.Len())
	}
}

func TestGetAllocatesNothingOnceCached(t *testing.T) {
	var c Cache
	c.Get("GET", "/x", join)
	if n := testing.AllocsPerRun(100, func() { _ = c.Get("GET", "/x", join) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestFullCacheStillNames(t *testing.T) {
	var c Cache
	for i := range MaxCached + 10 {
		b := "/" + strconv.Itoa(i)
		if got := c.Get("GET", b, join); got != "GET "+b {
			t.Fatalf("Get: %q", got)
		}
	}
	if c.Len() != MaxCached {
		t.Fatalf("%d cached, want %d", c.Len(), MaxCached)
	}
}

func TestConcurrentGets(t *testing.T) {
	var c Cache
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				b := "/" + strconv.Itoa((i+g)%50)
				if got := c.Get("GET", b, join); got != "GET "+b {
					t.Errorf("Get: %q", got)
					return
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() != 50 {
		t.Fatalf("%d cached, want 50", c.Len())
	}
}
