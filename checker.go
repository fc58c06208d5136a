package sluice

import "context"

// Checker is a check of your own in the entry pipeline (what Sentinel calls
// a slot). Add it with WithChecker.
//
// Check runs on every entry that passed the built-in checks. It returns nil
// to let the entry pass, or an error to block it: a *BlockError is returned
// to the caller as it is, any other error is wrapped in a BlockError of type
// BlockTypeCustom whose Cause is that error. Check must be safe for
// concurrent use and quick, since it runs on the caller's request path. A
// panic inside it is recovered and logged, and the entry passes.
type Checker interface {
	Check(ctx context.Context, e EntryInfo) error
}

// CheckerFunc adapts a function to a Checker.
type CheckerFunc func(ctx context.Context, e EntryInfo) error

// Check calls f(ctx, e).
func (f CheckerFunc) Check(ctx context.Context, e EntryInfo) error { return f(ctx, e) }

// EntryInfo describes an entry to a Checker.
type EntryInfo struct {
	Resource    string
	TrafficType TrafficType
	BatchCount  int64
	// Args are the values given to WithArgs, in order.
	Args []any
}
