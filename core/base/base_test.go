package base

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestBlockError(t *testing.T) {
	be := &BlockError{Resource: "GET /a", Type: BlockTypeFlow, Reason: "10 per 1s reached", Cause: context.Canceled}
	var err error = fmt.Errorf("wrapped: %w", be)
	if !errors.Is(err, ErrBlocked) || !errors.Is(err, context.Canceled) {
		t.Fatal("BlockError must match ErrBlocked and its cause")
	}
	var got *BlockError
	if !errors.As(err, &got) || got != be {
		t.Fatal("errors.As failed")
	}
	want := `sluice: "GET /a" blocked by Flow rule: 10 per 1s reached: context canceled`
	if be.Error() != want {
		t.Fatalf("Error() = %q, want %q", be.Error(), want)
	}
	if errors.Is(errors.New("other"), ErrBlocked) {
		t.Fatal("an unrelated error matched ErrBlocked")
	}
}

func TestNames(t *testing.T) {
	if BlockTypeCircuitBreaker.String() != "CircuitBreaker" || BlockType(99).String() != "BlockType(99)" {
		t.Fatal("BlockType names")
	}
	if Inbound.String() != "Inbound" || Outbound.String() != "Outbound" {
		t.Fatal("TrafficType names")
	}
	names := []string{"A", "B"}
	if v, err := UnmarshalEnum("T", names, []byte("b")); err != nil || v != 1 {
		t.Fatalf("UnmarshalEnum = %v, %v", v, err)
	}
	if _, err := MarshalEnum("T", names, 2); err == nil {
		t.Fatal("MarshalEnum of an out-of-range value should fail")
	}
}

func TestRuleError(t *testing.T) {
	err := &RuleError{Family: "flow", Index: 2, ID: "x", Resource: "r", Field: "Threshold", Reason: "must be >= 0"}
	want := `sluice: invalid flow rule #2 (id "x", resource "r"): Threshold: must be >= 0`
	if err.Error() != want || !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("%q", err.Error())
	}
}
