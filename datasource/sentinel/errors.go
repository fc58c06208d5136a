package sentinel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sluice-go/sluice/core/base"
)

// ErrUnknownValue is matched by errors.Is for an enum integer that is not
// one of the values Sentinel Go defines for the field (such as
// controlBehavior 7), or a hotspot specific item whose valStr does not
// parse as its valKind says.
var ErrUnknownValue = errors.New("sentinel: unknown value")

// ErrUnsupported is matched by errors.Is for a value that is valid Sentinel
// Go JSON but whose behaviour Sluice would not reproduce: a number Sluice
// cannot hold, or a rule that Sentinel Go itself refuses to load while
// Sluice would give the same value a meaning (a zero Sluice reads as a
// default, for instance).
var ErrUnsupported = errors.New("sentinel: unsupported value")

// Error is the error every converter returns. It names the rule family, the
// rule by its index in the array and its resource, and, when one field is
// to blame, the field by its Sentinel JSON name.
//
// errors.Is(err, ErrUnknownValue) and errors.Is(err, ErrUnsupported) tell
// the two conversion failures apart; for JSON that does not decode, Err is
// a *base.DecodeError, which says what is wrong in plain words (such as
// `"threshold": want a number, got a string` or `unknown key "thresold"
// (did you mean "threshold"?)`) and through which errors.As finds
// encoding/json's *json.SyntaxError or *json.UnmarshalTypeError.
type Error struct {
	// Family is "flow", "isolation", "circuit breaker", "hotspot" or
	// "system".
	Family string
	// Index is the rule's index in the array, or -1 when the payload as a
	// whole is at fault (not an array, say).
	Index int
	// Resource is the rule's resource, when it is known.
	Resource string
	// Field is the Sentinel JSON field at fault (such as "controlBehavior"
	// or "specificItems"), or, for JSON that does not decode, the path of
	// the key at fault (such as "specificItems[1].valStr"); or "" when it
	// is not one field.
	Field string
	// Err is the cause: ErrUnknownValue, ErrUnsupported or a JSON error,
	// wrapped with a description.
	Err error
}

// Error returns the message: "sentinel: <family> rule <index>
// (<resource>): <cause>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sentinel: ")
	b.WriteString(e.Family)
	if e.Index < 0 {
		b.WriteString(" rules")
	} else {
		fmt.Fprintf(&b, " rule %d", e.Index)
		if e.Resource != "" {
			fmt.Fprintf(&b, " (%q)", e.Resource)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// cause is an error whose message is msg and which unwraps to kind.
type cause struct {
	kind error
	msg  string
}

func (c *cause) Error() string { return c.msg }
func (c *cause) Unwrap() error { return c.kind }

// rule identifies the rule being converted, for its errors.
type rule struct {
	family   string
	index    int
	resource string
}

func (r rule) fail(kind error, field, format string, args ...any) error {
	return &Error{Family: r.family, Index: r.index, Resource: r.resource, Field: field,
		Err: &cause{kind: kind, msg: fmt.Sprintf(format, args...)}}
}

// enum is the error for an enum integer out of range: names lists the
// allowed values in order, as "0 (Reject)".
func (r rule) enum(field string, v int64, names ...string) error {
	return r.fail(ErrUnknownValue, field, "%s %d is not one of %s", field, v, strings.Join(names, ", "))
}

func (r rule) unsupported(field, format string, args ...any) error {
	return r.fail(ErrUnsupported, field, format, args...)
}

// millis converts a count of milliseconds to a duration, or fails if it
// does not fit in a time.Duration.
func (r rule) millis(field string, ms int64) (time.Duration, error) {
	return r.scaled(field, ms, time.Millisecond)
}

// seconds converts a count of seconds to a duration.
func (r rule) seconds(field string, s int64) (time.Duration, error) {
	return r.scaled(field, s, time.Second)
}

func (r rule) scaled(field string, n int64, unit time.Duration) (time.Duration, error) {
	if n > math.MaxInt64/int64(unit) || n < math.MinInt64/int64(unit) {
		return 0, r.unsupported(field, "%s %d does not fit in a time.Duration", field, n)
	}
	return time.Duration(n) * unit, nil
}

// int64Of converts an unsigned Sentinel count to Sluice's int64.
func (r rule) int64Of(field string, v uint64) (int64, error) {
	if v > math.MaxInt64 {
		return 0, r.unsupported(field, "%s %d is larger than Sluice can hold (%d)", field, v, int64(math.MaxInt64))
	}
	return int64(v), nil
}

// convertArray reads data as a JSON array of Sentinel rules of type S, each
// decoded by base.DecodeFoldedKeys (keys match without regard to case, as
// in Sentinel Go; an unknown or repeated key is an error), and converts
// each with conv. name returns a rule's resource for errors. An empty
// array gives an empty, non-nil slice.
func convertArray[S, R any](family string, data []byte, name func(*S) string,
	conv func(rule, *S) (R, error)) ([]R, error) {
	whole := func(err error) error { return &Error{Family: family, Index: -1, Err: err} }
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, whole(errors.New("null: want a JSON array of rules ([] for none)"))
	}
	var raws []json.RawMessage
	if err := base.DecodeStrict(data, &raws); err != nil {
		return nil, whole(err)
	}
	out := make([]R, 0, len(raws))
	for i, raw := range raws {
		id := rule{family: family, index: i}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, &Error{Family: family, Index: i, Err: errors.New("null: want a rule object")}
		}
		var s S
		if err := base.DecodeFoldedKeys(raw, &s); err != nil {
			// Name the rule if its resource can be read at all.
			var n struct {
				Resource string `json:"resource"`
			}
			_ = json.Unmarshal(raw, &n)
			e := &Error{Family: family, Index: i, Resource: n.Resource, Err: err}
			if de := (*base.DecodeError)(nil); errors.As(err, &de) {
				e.Field = de.Key
			}
			return nil, e
		}
		id.resource = name(&s)
		r, err := conv(id, &s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
