package base

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
)

var durationType = reflect.TypeFor[Duration]()

// typeError is the error for raw, a JSON value, where a value of type t
// was wanted, such as `want a number, got a string`; cause, if not nil,
// stays in its chain.
func typeError(t reflect.Type, raw []byte, cause error) error {
	msg := fmt.Sprintf("want %s, got %s", wantWords(t), gotWords(raw))
	if isNumber(raw) && outOfRange(t, string(raw)) {
		msg += " (out of range)"
	}
	return &described{msg, cause}
}

// wantWords says what a JSON value for type t looks like.
func wantWords(t reflect.Type) string {
	if t == durationType {
		return `a Go duration string such as "500ms"`
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(textUnmarshaler) && !pt.Implements(jsonUnmarshaler) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number >= 0"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return wantWords(t.Elem())
	}
	return "a value"
}

// gotWords names the kind of the JSON value raw, or gives it when it is a
// number, true or false.
func gotWords(raw []byte) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return string(raw) // a number, true, false or null
}

func isNumber(raw []byte) bool { return raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' }

// outOfRange reports whether the number n is of the kind t wants (whole
// for an integer type, not negative for an unsigned one) but too large for
// it. A type written as text (a duration, an enum) wants no number.
func outOfRange(t reflect.Type, n string) bool {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return false
	}
	f, err := strconv.ParseFloat(n, 64)
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		_, err = strconv.ParseFloat(n, t.Bits())
		return err != nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return err != nil || f == math.Trunc(f)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return err != nil || f >= 0 && f == math.Trunc(f)
	}
	return false
}
