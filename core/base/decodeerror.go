package base

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadJSON is matched by errors.Is for every *DecodeError.
var ErrBadJSON = errors.New("sluice: rule JSON does not decode")

// DecodeError says why a JSON text does not decode into a rule, a list of
// rules or a document of them, in the words of the text: the rule's family
// and index, and the key at fault. errors.Is(err, ErrBadJSON) is true for
// every DecodeError, and its chain holds encoding/json's error where there
// is one (a *json.SyntaxError or *json.UnmarshalTypeError).
type DecodeError struct {
	// Family is the family of the rule at fault, such as "flow" or
	// "circuit breaker", or "" when the fault is outside any rule (the
	// document's own keys, an array where an object was wanted).
	Family string
	// Index is the rule's index in its array, from 0, or -1 when it is not
	// known (a rule decoded on its own) or there is no rule.
	Index int
	// Key is the path of the key at fault, from the rule (or, when Family
	// is "", from the top of the text): the key whose value is wrong, or
	// the unknown or repeated key itself, such as "threshold" or
	// "specificItems[1].value"; or "" when the value as a whole is at
	// fault.
	Key string
	// Err says what is wrong, such as `want a number, got a string`.
	Err error
}

// Error returns a message such as
// `flow rule #1: unknown key "thresold" (did you mean "threshold"?)`,
// `hotspot rule: unknown key "specificItems[0].valu" (did you mean
// "value"?)` or `flow rule #0: "threshold": want a number, got a string`.
func (e *DecodeError) Error() string {
	var b strings.Builder
	if e.Family != "" {
		b.WriteString(e.Family)
		b.WriteString(" rule")
		if e.Index >= 0 {
			fmt.Fprintf(&b, " #%d", e.Index)
		}
		b.WriteString(": ")
	}
	if kp, ok := e.Err.(*keyProblem); ok {
		fmt.Fprintf(&b, "%s %q%s", kp.what, e.Key, kp.hint)
		return b.String()
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%q: ", e.Key)
	}
	if e.Err == nil {
		b.WriteString("does not decode")
	} else {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// keyProblem is the cause of a DecodeError whose Key is itself at fault:
// unknown or repeated. Its DecodeError's message gives the key's path.
type keyProblem struct {
	what string // "unknown key", "duplicate key"
	hint string // such as ` (did you mean "threshold"?)`, or ""
}

func (k *keyProblem) Error() string { return k.what + k.hint }

// Is reports whether target is ErrBadJSON.
func (e *DecodeError) Is(target error) bool { return target == ErrBadJSON }

// Unwrap returns Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// decodeFailure returns a *DecodeError on the value as a whole.
func decodeFailure(err error) *DecodeError { return &DecodeError{Index: -1, Err: err} }

// described is an error with a message of its own in front of a cause that
// stays in the chain (encoding/json's error, say).
type described struct {
	msg   string
	cause error
}

func (d *described) Error() string { return d.msg }
func (d *described) Unwrap() error { return d.cause }

// underKey returns err, from the value under key, with key put in front of
// its path. An error that names a rule family is a rule's own and is
// returned as it is: its key path starts at the rule.
func underKey(key string, err error) error {
	var de *DecodeError
	if !errors.As(err, &de) {
		return &DecodeError{Index: -1, Key: key, Err: err}
	}
	if de.Family != "" {
		return de
	}
	e := *de
	e.Key = joinKey(key, de.Key)
	return &e
}

// atIndex returns err, from element i of an array, with the index added:
// as the rule's index when the element is a rule, else to the key path.
func atIndex(i int, err error) error {
	var de *DecodeError
	if !errors.As(err, &de) {
		return &DecodeError{Index: -1, Key: fmt.Sprintf("[%d]", i), Err: err}
	}
	e := *de
	switch {
	case de.Family == "":
		e.Key = joinKey(fmt.Sprintf("[%d]", i), de.Key)
	case de.Index < 0:
		e.Index = i
	}
	return &e
}

func joinKey(outer, inner string) string {
	if inner == "" || outer == "" {
		return outer + inner
	}
	if inner[0] == '[' {
		return outer + inner
	}
	return outer + "." + inner
}
