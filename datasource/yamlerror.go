package datasource

import (
	"errors"
	"strings"

	goyaml "go.yaml.in/yaml/v2"
)

// yamlError rewrites an error of the YAML parser in plain words, keeping
// the line it gives: `YAML line 3: duplicate key "threshold"` for
// "yaml: unmarshal errors: line 3: key "threshold" already set in map",
// `YAML syntax error at line 1: did not find expected ',' or ']'` for
// "yaml: line 1: did not find ...". The parser's error stays in the chain.
func yamlError(err error) error {
	var te *goyaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			if line, key, ok := duplicateYAMLKey(m); ok {
				m = line + ": duplicate key " + key
			}
			msgs[i] = "YAML " + m
		}
		return &plainError{strings.Join(msgs, "; "), err}
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		return &plainError{"YAML syntax error at line " + rest, err}
	}
	return &plainError{"YAML syntax error: " + msg, err}
}

// duplicateYAMLKey splits the parser's `line 3: key "a" already set in
// map` into "line 3" and `"a"`.
func duplicateYAMLKey(m string) (line, key string, ok bool) {
	m, ok = strings.CutSuffix(m, " already set in map")
	if !ok {
		return "", "", false
	}
	line, key, ok = strings.Cut(m, ": key ")
	return line, key, ok
}

// plainError has a message of its own in front of a cause that stays in
// its chain.
type plainError struct {
	msg   string
	cause error
}

func (e *plainError) Error() string { return e.msg }
func (e *plainError) Unwrap() error { return e.cause }
