package datasource

import "fmt"

// PayloadError is a payload a binding did not load: it could not be read
// (it wraps ErrBadPayload) or it held an invalid rule (it wraps
// sluice.ErrInvalidRule). The rules in force stayed in force.
type PayloadError struct {
	// Source names the source (its String).
	Source string
	// Version is the payload's version, or 0 where the store keeps none.
	Version int64
	// Err says what was wrong.
	Err error
}

func (e *PayloadError) Error() string {
	if e.Version != 0 {
		return fmt.Sprintf("datasource: %s (version %d): rules kept: %v", e.Source, e.Version, e.Err)
	}
	return fmt.Sprintf("datasource: %s: rules kept: %v", e.Source, e.Err)
}

func (e *PayloadError) Unwrap() error { return e.Err }

// SourceError is trouble a source reported (an unreachable server, a read
// that failed) or the error a source's Watch ended with. The rules in force
// stayed in force.
type SourceError struct {
	// Source names the source (its String).
	Source string
	// Err says what went wrong.
	Err error
}

func (e *SourceError) Error() string { return fmt.Sprintf("datasource: %s: %v", e.Source, e.Err) }

func (e *SourceError) Unwrap() error { return e.Err }
