package base

import (
	"encoding/json"
	"unicode/utf8"
)

// The scanner below walks JSON text that is known to be valid (decodeText
// checks it first), so it only finds where values end; it never reads past
// the end of its input, whatever it is given.

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// trimSpace returns b without the JSON white space at either end.
func trimSpace(b []byte) []byte {
	b = b[skipSpace(b, 0):]
	for len(b) > 0 && skipSpace(b, len(b)-1) == len(b) {
		b = b[:len(b)-1]
	}
	return b
}

// valueEnd returns the index just past the JSON value that starts at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' &&
		b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at
// b[i], its opening quote.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// eachElement calls fn with each member of the JSON object or array raw:
// its key (for an object) and its value.
func eachElement(raw []byte, fn func(key string, val []byte) error) error {
	object := raw[0] == '{'
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] != '}' && raw[i] != ']' {
		var key string
		if object {
			end := valueEnd(raw, i)
			var err error
			if key, err = unquote(raw[i:end]); err != nil {
				return err
			}
			i = skipSpace(raw, end) // at ':'
			i = skipSpace(raw, i+1)
		}
		end := valueEnd(raw, i)
		if err := fn(key, raw[i:end]); err != nil {
			return err
		}
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return nil
}

// unquote returns the JSON string s as Go text.
func unquote(s []byte) (string, error) {
	if len(s) >= 2 && utf8.Valid(s) {
		inner := s[1 : len(s)-1]
		plain := true
		for _, c := range inner {
			if c == '\\' || c < ' ' {
				plain = false
				break
			}
		}
		if plain {
			return string(inner), nil
		}
	}
	var out string
	err := json.Unmarshal(s, &out)
	return out, err
}
