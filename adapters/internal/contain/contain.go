// Package contain runs the user's failure predicates for the adapters, so
// that a panic in one never keeps an entry held or escapes a request.
package contain

import (
	"fmt"
	"log/slog"

	"github.com/sluice-go/sluice"
)

// Fails returns f(v). If f panics, the panic is logged to slog.Default()
// with msg, p's resource, v under key and the panic value, and Fails
// returns false: the outcome counts as no failure, as a panicking error
// classifier does in the engine.
func Fails[T any](msg string, f func(T) bool, p sluice.Permit, key string, v T) (failed bool) {
	defer func() {
		if r := recover(); r != nil {
			slog.Default().Error(msg, "resource", p.Resource(), key, fmt.Sprint(v), "panic", fmt.Sprint(r))
			failed = false
		}
	}()
	return f(v)
}
