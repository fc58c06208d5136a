package blockmsg

import (
	"testing"

	"github.com/sluice-go/sluice/core/base"
)

func TestBlockedBy(t *testing.T) {
	for typ, want := range map[base.BlockType]string{
		base.BlockTypeUnknown:        "blocked by an Unknown rule",
		base.BlockTypeSystem:         "blocked by a System rule",
		base.BlockTypeIsolation:      "blocked by an Isolation rule",
		base.BlockTypeFlow:           "blocked by a Flow rule",
		base.BlockTypeHotspot:        "blocked by a Hotspot rule",
		base.BlockTypeCircuitBreaker: "blocked by a CircuitBreaker rule",
		base.BlockTypeCustom:         "blocked by a Custom rule",
		base.BlockType(200):          "blocked by a BlockType(200) rule",
	} {
		if got := BlockedBy(typ); got != want {
			t.Errorf("BlockedBy(%d) = %q, want %q", typ, got, want)
		}
	}
}

func TestBlockedByKnownTypesAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = BlockedBy(base.BlockTypeFlow) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
