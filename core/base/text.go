package base

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// EnumName returns names[v], or a "Type(v)" form for a value out of range.
func EnumName(typ string, names []string, v uint8) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

// MarshalEnum returns the name of v for text encodings such as JSON and YAML.
// A value out of range is an error.
func MarshalEnum(typ string, names []string, v uint8) ([]byte, error) {
	if int(v) >= len(names) {
		return nil, fmt.Errorf("sluice: %s(%d) has no name", typ, v)
	}
	return []byte(names[v]), nil
}

// UnmarshalEnum parses the name of an enum value. Names match without regard
// to case; an unknown name is an error that lists the valid ones.
func UnmarshalEnum(typ string, names []string, text []byte) (uint8, error) {
	for i, n := range names {
		if strings.EqualFold(n, string(text)) {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q (want one of %s)", typ, text, strings.Join(names, ", "))
}

// Duration is a time.Duration written in text encodings as a Go duration
// string such as "500ms". Rules use it only in their JSON form; their fields
// are plain time.Duration.
type Duration time.Duration

// MarshalText returns the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a Go duration string such as "1.5s" or "500ms".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("want a Go duration string such as \"500ms\", got %q", text)
	}
	*d = Duration(v)
	return nil
}

// CompilePattern compiles a Regex rule's Resource so that it must match a
// whole resource name. The pattern is checked on its own first, so that one
// like `a)|(.*` cannot break out of the anchoring group.
func CompilePattern(p string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}
