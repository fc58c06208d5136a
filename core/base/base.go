// Package base holds the types shared by Sluice's rule families and its
// engine: traffic types, block types, the block error and rule errors. Users
// reach them through the root package sluice, which re-exports them.
package base

import (
	"errors"
	"fmt"
	"time"
)

// TrafficType tells whether an entry is traffic coming into this service
// (Inbound) or a call it makes to another one (Outbound).
type TrafficType uint8

const (
	// Outbound marks a call this service makes to a dependency. It is the
	// default.
	Outbound TrafficType = iota
	// Inbound marks a request this service serves. System (adaptive
	// protection) rules apply to Inbound entries only.
	Inbound
)

// String returns "Outbound" or "Inbound".
func (t TrafficType) String() string {
	switch t {
	case Outbound:
		return "Outbound"
	case Inbound:
		return "Inbound"
	}
	return fmt.Sprintf("TrafficType(%d)", uint8(t))
}

// BlockType names the kind of check that blocked an entry.
type BlockType uint8

// The kinds of check, in the order the engine runs them (Custom checks run
// last).
const (
	BlockTypeUnknown BlockType = iota
	BlockTypeSystem
	BlockTypeIsolation
	BlockTypeFlow
	BlockTypeHotspot
	BlockTypeCircuitBreaker
	BlockTypeCustom
)

var blockTypeNames = [...]string{"Unknown", "System", "Isolation", "Flow", "Hotspot", "CircuitBreaker", "Custom"}

// String returns the name of the block type, such as "Flow".
func (t BlockType) String() string {
	if int(t) < len(blockTypeNames) {
		return blockTypeNames[t]
	}
	return fmt.Sprintf("BlockType(%d)", uint8(t))
}

// ErrBlocked is matched by errors.Is for every *BlockError.
var ErrBlocked = errors.New("sluice: blocked")

// ErrInvalidRule is wrapped by every rule validation error.
var ErrInvalidRule = errors.New("sluice: invalid rule")

// BlockError says that an entry was refused, by which kind of check and
// which rule. errors.Is(err, ErrBlocked) is true for every BlockError.
//
// A BlockError returned by the engine may be shared between entries blocked
// by the same rule on the same resource: read it, never modify it.
type BlockError struct {
	// Resource is the resource whose entry was blocked.
	Resource string
	// Type is the kind of check that blocked it.
	Type BlockType
	// Rule is the rule that blocked it, as a pointer to a copy of the rule
	// as loaded (for example *flow.Rule), or nil for a custom check.
	Rule any
	// Reason says why, in a few words.
	Reason string
	// Cause is an underlying error, if any: ctx.Err() when a queueing wait
	// was cut short, or the error a custom check returned.
	Cause error
	// RetryAfter is how long the rule says to wait before trying again, or
	// 0 when it says nothing: an open circuit breaker's RetryTimeout (it
	// half-opens within that time), and a Reject flow or QPS hotspot rule's
	// interval (after it, the window holds none of the entries that filled
	// it). Adapters send it as HTTP's Retry-After.
	RetryAfter time.Duration
}

// Error returns a one-line description such as
// `sluice: "GET /orders" blocked by Flow rule: 100 per 1s reached`.
func (e *BlockError) Error() string {
	msg := fmt.Sprintf("sluice: %q blocked by %s rule", e.Resource, e.Type)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Is reports whether target is ErrBlocked.
func (e *BlockError) Is(target error) bool { return target == ErrBlocked }

// Unwrap returns Cause.
func (e *BlockError) Unwrap() error { return e.Cause }

// RuleError is a validation error naming the rule and the field at fault. It
// wraps ErrInvalidRule.
type RuleError struct {
	// Family is the rule family, such as "flow".
	Family string
	// Index is the rule's position in the slice that was loaded, or -1 when
	// the rule was validated on its own.
	Index int
	// ID and Resource identify the rule.
	ID, Resource string
	// Field is the name of the offending field.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns a description such as
// `sluice: invalid flow rule #2 (id "x", resource "GET /a"): Threshold: must not be negative`.
func (e *RuleError) Error() string {
	where := ""
	if e.Index >= 0 {
		where = fmt.Sprintf(" #%d", e.Index)
	}
	who := fmt.Sprintf("id %q", e.ID)
	if e.Resource != "" {
		who += fmt.Sprintf(", resource %q", e.Resource)
	}
	return fmt.Sprintf("sluice: invalid %s rule%s (%s): %s: %s", e.Family, where, who, e.Field, e.Reason)
}

// Unwrap returns ErrInvalidRule.
func (e *RuleError) Unwrap() error { return ErrInvalidRule }

// RuleCheck builds the validation errors of one rule.
type RuleCheck struct {
	Family, ID, Resource string
}

// Fail returns a *RuleError on field, its reason formatted from reason and
// args.
func (c RuleCheck) Fail(field, reason string, args ...any) error {
	return &RuleError{Family: c.Family, Index: -1, ID: c.ID, Resource: c.Resource,
		Field: field, Reason: fmt.Sprintf(reason, args...)}
}

// CheckResource checks the rule's Resource: not empty, and a valid pattern
// (see CompilePattern) when regex is set.
func (c RuleCheck) CheckResource(regex bool) error {
	if c.Resource == "" {
		return c.Fail("Resource", "must not be empty")
	}
	if regex {
		if _, err := CompilePattern(c.Resource); err != nil {
			return c.Fail("Resource", "invalid regular expression %q", c.Resource)
		}
	}
	return nil
}
