package sluice

import (
	"context"
	"fmt"
	"testing"
	"unsafe"
)

// The recent-resources cache is keyed by the address of a name's bytes: it
// must never hand out the resource of another name, whatever sits at that
// address now.

func TestRecentResourcesRewrittenBuffer(t *testing.T) {
	eng := permitEngine(t, Rules{})
	buf := []byte("orders")
	name := unsafe.String(&buf[0], len(buf)) // as fasthttp-style code builds names
	enter := func() {
		p, err := eng.Entry(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		p.Exit()
	}
	enter()
	enter() // from the cache
	copy(buf, "Orders")
	enter() // same address, same length, another name
	for res, want := range map[string]float64{"orders": 2, "Orders": 1} {
		if st, _ := eng.Stats(res); st.PassQPS != want {
			t.Errorf("%s: %v passed, want %v", res, st.PassQPS, want)
		}
	}
}

func TestRecentResourcesManyNames(t *testing.T) {
	eng := permitEngine(t, Rules{})
	names := make([]string, 4*recentSlots) // more names than slots: collisions
	for i := range names {
		names[i] = fmt.Sprintf("r%d", i)
	}
	for round := range 3 {
		for _, n := range names {
			p, err := eng.Entry(context.Background(), n)
			if err != nil {
				t.Fatal(err)
			}
			if p.Resource() != n {
				t.Fatalf("round %d: entry to %q got resource %q", round, n, p.Resource())
			}
			p.Exit()
		}
	}
	for _, n := range names {
		if st, _ := eng.Stats(n); st.PassQPS != 3 {
			t.Fatalf("%s: %v passed, want 3", n, st.PassQPS)
		}
	}
	// Equal names at other addresses share the resource.
	a, b := []byte("shared"), []byte("shared")
	for _, n := range []string{unsafe.String(&a[0], 6), unsafe.String(&b[0], 6), "shared"} {
		p, _ := eng.Entry(context.Background(), n)
		p.Exit()
	}
	if st, _ := eng.Stats("shared"); st.PassQPS != 3 {
		t.Fatalf("shared: %v passed, want 3", st.PassQPS)
	}
}
