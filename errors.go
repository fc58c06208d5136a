package sluice

import "github.com/sluice-go/sluice/core/base"

// BlockError says that an entry was refused, by which kind of check and
// which rule. errors.Is(err, ErrBlocked) is true for every BlockError; see
// base.BlockError for its fields.
type BlockError = base.BlockError

// BlockType names the kind of check that blocked an entry.
type BlockType = base.BlockType

// The kinds of check, in the order the engine runs them.
const (
	BlockTypeSystem         = base.BlockTypeSystem
	BlockTypeIsolation      = base.BlockTypeIsolation
	BlockTypeFlow           = base.BlockTypeFlow
	BlockTypeHotspot        = base.BlockTypeHotspot
	BlockTypeCircuitBreaker = base.BlockTypeCircuitBreaker
	BlockTypeCustom         = base.BlockTypeCustom
)

// RuleError is a rule validation error naming the rule and the field; it
// wraps ErrInvalidRule.
type RuleError = base.RuleError

// DecodeError is a rule JSON (or YAML) decoding error naming the family,
// the rule's index and the key at fault; errors.Is(err, ErrBadJSON) holds.
type DecodeError = base.DecodeError

// TrafficType tells inbound traffic (requests this service serves) from
// outbound (calls it makes).
type TrafficType = base.TrafficType

// Traffic types for WithTrafficType.
const (
	// Outbound marks a call to a dependency. It is the default.
	Outbound = base.Outbound
	// Inbound marks a request this service serves. System rules apply only
	// to Inbound entries.
	Inbound = base.Inbound
)

var (
	// ErrBlocked is matched by errors.Is for every *BlockError.
	ErrBlocked = base.ErrBlocked
	// ErrInvalidRule is wrapped by every rule validation error.
	ErrInvalidRule = base.ErrInvalidRule
	// ErrBadJSON is matched by errors.Is for every *DecodeError: rule JSON
	// with an unknown or repeated key, a value of the wrong type, or bad
	// syntax.
	ErrBadJSON = base.ErrBadJSON
)
