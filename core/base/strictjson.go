package base

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
)

// DecodeStrict decodes the JSON text b into the value v points to, more
// strictly than encoding/json does:
//
//   - an object's keys must be the JSON names of the struct's fields,
//     exactly (case counts); an unknown key is an error that suggests the
//     nearest name;
//   - a key may appear only once in an object;
//   - null is refused, except for a field of interface type or
//     json.RawMessage;
//   - b holds one JSON value and nothing after it but white space.
//
// Structs (with their embedded structs, whose fields are promoted as
// encoding/json promotes them), slices and pointers are walked; a value of
// a type with an UnmarshalJSON or UnmarshalText method, and any other
// value, is decoded by encoding/json. Every error is a *DecodeError, with
// a message in the words of the text, such as
// `"threshold": want a number, got a string`.
func DecodeStrict(b []byte, v any) error { return decodeText(b, v, walker{}) }

// DecodeFoldedKeys is DecodeStrict as lenient as encoding/json on two
// points, for JSON written for encoding/json (such as Sentinel Go's):
// keys match as encoding/json matches them, an exact match first, else
// one that differs only in case; and null does what encoding/json does
// with it (a number, string or struct field keeps its value). An unknown
// key, and a key that names a field an earlier key has set, in any case,
// are still refused.
func DecodeFoldedKeys(b []byte, v any) error { return decodeText(b, v, walker{lenient: true}) }

// DecodeRule is DecodeStrict for one rule of family (such as "flow"): its
// error is a *DecodeError that names the family, with Index -1. A caller
// that decodes an array of rules with DecodeStrict gets each rule's index
// filled in.
func DecodeRule(family string, b []byte, v any) error {
	err := DecodeStrict(b, v)
	if de, ok := err.(*DecodeError); ok && de.Family == "" {
		de.Family = family
	}
	return err
}

// walker decodes one JSON value into a reflect.Value; lenient matches keys
// without regard to case and leaves null to encoding/json.
type walker struct{ lenient bool }

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessage      = reflect.TypeFor[json.RawMessage]()
)

func decodeText(b []byte, v any, w walker) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return decodeFailure(fmt.Errorf("cannot decode into %T: want a non-nil pointer", v))
	}
	if raw := trimSpace(b); json.Valid(raw) {
		return w.decode(raw, rv.Elem())
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return decodeFailure(syntaxError(b, err))
	}
	return decodeFailure(errors.New("unexpected data after the JSON value"))
}

// syntaxError describes err, from decoding b, with the line and column of
// a syntax error.
func syntaxError(b []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		before := b[:min(int(se.Offset), len(b))]
		line := bytes.Count(before, []byte("\n")) + 1
		col := max(len(before)-bytes.LastIndexByte(before, '\n')-1, 1) // Offset counts the bad byte
		return &described{fmt.Sprintf("JSON syntax error at line %d, column %d: %v", line, col, se), err}
	case err == io.EOF:
		return errors.New("no JSON value (the text is empty)")
	case err == io.ErrUnexpectedEOF:
		return &described{"JSON syntax error: the text ends inside a value (unexpected EOF)", err}
	}
	return err
}

// decode decodes raw, one valid JSON value, into v, which is addressable.
func (w walker) decode(raw []byte, v reflect.Value) error {
	t := v.Type()
	if raw[0] == 'n' {
		if w.lenient || t.Kind() == reflect.Interface || t == rawMessage {
			return w.leaf(raw, v)
		}
		return decodeFailure(typeError(t, raw, nil))
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		return w.leaf(raw, v)
	}
	switch t.Kind() {
	case reflect.Struct:
		return w.object(raw, v)
	case reflect.Slice:
		if t.Elem().Kind() != reflect.Uint8 {
			return w.array(raw, v)
		}
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return w.decode(raw, v.Elem())
	}
	return w.leaf(raw, v)
}

// leaf decodes raw into v: a plain string, number or bool, or a string
// into a TextUnmarshaler, here; anything else (and every mismatch, for its
// error) by encoding/json.
func (w walker) leaf(raw []byte, v reflect.Value) error {
	if done, err := quickLeaf(raw, v); done {
		return err
	}
	err := json.Unmarshal(raw, v.Addr().Interface())
	if err == nil {
		return nil
	}
	var de *DecodeError
	if errors.As(err, &de) { // from a nested UnmarshalJSON
		return de
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return decodeFailure(typeError(v.Type(), raw, te))
	}
	return decodeFailure(err)
}

// object decodes the JSON object raw into the struct v, key by key.
func (w walker) object(raw []byte, v reflect.Value) error {
	if raw[0] != '{' {
		return decodeFailure(typeError(v.Type(), raw, nil))
	}
	fields := fieldsOf(v.Type())
	var seen []string // pairs: field name, key as written
	return eachElement(raw, func(key string, val []byte) error {
		f, ok := fields.lookup(key, w.lenient)
		if !ok {
			return unknownKey(key, fields.names)
		}
		for i := 0; i < len(seen); i += 2 {
			if seen[i] == f.name {
				return duplicateKey(key, seen[i+1])
			}
		}
		seen = append(seen, f.name, key)
		fv, err := fieldValue(v, f.index)
		if err == nil {
			err = w.decode(val, fv)
		}
		if err != nil {
			return underKey(key, err)
		}
		return nil
	})
}

// array decodes the JSON array raw into the slice v, element by element.
// An empty array gives an empty, non-nil slice.
func (w walker) array(raw []byte, v reflect.Value) error {
	if raw[0] != '[' {
		return decodeFailure(typeError(v.Type(), raw, nil))
	}
	s := reflect.MakeSlice(v.Type(), 0, 0)
	err := eachElement(raw, func(_ string, val []byte) error {
		i := s.Len()
		s = reflect.Append(s, reflect.Zero(v.Type().Elem()))
		if err := w.decode(val, s.Index(i)); err != nil {
			return atIndex(i, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	v.Set(s)
	return nil
}

// quickLeaf decodes raw into v when that is simple: a string, number or
// bool of the field's own kind, a string into a TextUnmarshaler, any value
// into a json.RawMessage. It reports whether it did; a mismatch is left to
// encoding/json, whose error names it.
func quickLeaf(raw []byte, v reflect.Value) (bool, error) {
	t := v.Type()
	if t == rawMessage {
		v.SetBytes(bytes.Clone(raw))
		return true, nil
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(jsonUnmarshaler) {
		return false, nil
	}
	if pt.Implements(textUnmarshaler) {
		if raw[0] != '"' {
			return false, nil
		}
		s, err := unquote(raw)
		if err == nil {
			err = v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
		}
		return true, err
	}
	switch k := t.Kind(); {
	case k == reflect.String && raw[0] == '"':
		s, err := unquote(raw)
		v.SetString(s)
		return true, err
	case k == reflect.Bool && (raw[0] == 't' || raw[0] == 'f'):
		v.SetBool(raw[0] == 't')
		return true, nil
	case !isNumber(raw):
		return false, nil
	case k >= reflect.Int && k <= reflect.Int64:
		n, err := strconv.ParseInt(string(raw), 10, t.Bits())
		if err == nil {
			v.SetInt(n)
		}
		return err == nil, nil
	case k >= reflect.Uint && k <= reflect.Uint64:
		n, err := strconv.ParseUint(string(raw), 10, t.Bits())
		if err == nil {
			v.SetUint(n)
		}
		return err == nil, nil
	case k == reflect.Float32 || k == reflect.Float64:
		f, err := strconv.ParseFloat(string(raw), t.Bits())
		if err == nil {
			v.SetFloat(f)
		}
		return err == nil, nil
	}
	return false, nil
}

// fieldValue returns the field of struct v at index, allocating the
// embedded struct pointers on the way.
func fieldValue(v reflect.Value, index []int) (reflect.Value, error) {
	for n, i := range index {
		if n > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, fmt.Errorf("cannot set the nil embedded %v", v.Type())
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, nil
}
