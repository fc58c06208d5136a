package datasource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	goyaml "go.yaml.in/yaml/v2"

	"github.com/sluice-go/sluice"
	"github.com/sluice-go/sluice/core/base"
	"github.com/sluice-go/sluice/datasource/sentinel"
)

// Kind says which rules a payload holds.
type Kind uint8

const (
	// All is a whole sluice.Rules document: an object with the members
	// flow, isolation, circuitBreaker, hotspot and system, each optional.
	// Loading it replaces every family; a family it leaves out is cleared.
	All Kind = iota
	// Flow is an array of flow rules; loading it replaces the flow rules
	// only. The same holds for the kinds below, each for its family.
	Flow
	// Isolation is an array of isolation (concurrency) rules.
	Isolation
	// CircuitBreaker is an array of circuit-breaker rules.
	CircuitBreaker
	// Hotspot is an array of hot-parameter rules.
	Hotspot
	// System is an array of system rules.
	System
)

var kindNames = []string{"All", "Flow", "Isolation", "CircuitBreaker", "Hotspot", "System"}

// String returns the kind's name.
func (k Kind) String() string { return base.EnumName("Kind", kindNames, uint8(k)) }

// Format says how a payload is written.
type Format uint8

const (
	// Auto, the zero value, lets the binding choose: the format its source
	// suggests (see FormatSuggester; the file source suggests one from the
	// file's extension), else JSON. Decode reads Auto as JSON.
	Auto Format = iota
	// JSON is Sluice's own JSON, the form the rule types marshal to: enums
	// as names ("Throttling"), durations as Go duration strings ("500ms").
	// Keys match exactly and once; an error names the rule and the key.
	JSON
	// YAML is the same document written in YAML.
	YAML
	// SentinelJSON is Sentinel Go's rule JSON for one family: its field
	// names, integer enums and ...Ms fields, as package sentinel reads it.
	// It has no whole-document form, so it does not go with All.
	SentinelJSON
)

var formatNames = []string{"Auto", "JSON", "YAML", "SentinelJSON"}

// String returns the format's name.
func (f Format) String() string { return base.EnumName("Format", formatNames, uint8(f)) }

// ErrBadPayload is wrapped by every error Decode returns for a payload it
// cannot read: invalid JSON or YAML, a wrong type, an unknown or repeated
// key, null for a field, an empty payload. Behind it is a
// *base.DecodeError (a *sentinel.Error for SentinelJSON) that names the
// rule's family and index and the key, such as `flow rule #1: unknown key
// "thresold" (did you mean "threshold"?)`, or the YAML parser's error,
// with its line. A payload that reads but holds an invalid rule wraps
// sluice.ErrInvalidRule instead.
var ErrBadPayload = errors.New("datasource: bad payload")

// ErrUnsupported is returned for a Kind and Format that do not go together
// (All with SentinelJSON) or that are out of range.
var ErrUnsupported = errors.New("datasource: unsupported kind and format")

// Decode reads a payload of kind k written in format f. For a single
// family, only that family's slice of the result is set, and it is empty
// (not nil) for an empty array, so loading it clears the family. An empty
// payload (nothing but white space) is an error: write [] (or {} for All)
// to clear rules. Decode checks the form of the payload, not the rules:
// loading them validates them.
func Decode(k Kind, f Format, data []byte) (sluice.Rules, error) {
	if err := check(k, f); err != nil {
		return sluice.Rules{}, err
	}
	if f == Auto {
		f = JSON
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return sluice.Rules{}, fmt.Errorf("%w: empty (write [] or {} to clear rules)", ErrBadPayload)
	}
	var r sluice.Rules
	var err error
	if f == SentinelJSON {
		err = decodeSentinel(k, data, &r)
	} else {
		if f == YAML {
			if data, err = yamlToJSON(data); err != nil {
				return sluice.Rules{}, fmt.Errorf("%w: %v %s: %w", ErrBadPayload, k, f, err)
			}
		}
		err = decodeJSON(k, data, &r)
	}
	if err != nil {
		return sluice.Rules{}, fmt.Errorf("%w: %v %s: %w", ErrBadPayload, k, f, err)
	}
	return r, nil
}

// yamlToJSON converts one YAML document to JSON. A duplicate key is an
// error, and so is a second document: JSON payloads refuse trailing data,
// and a YAML one must not silently lose what follows its first "---".
// Errors give the YAML line where the parser does (see yamlError). Values
// keep their kinds: a YAML float is written with a fraction or an exponent
// (2.0 stays 2.0; sigs.k8s.io/yaml wrote 2, which reads back as an integer
// where the kind matters, as in a hotspot item's value), an integer as an
// integer. Object keys are written sorted; a key that is not a string is
// written as its YAML text (1, true, 1.5), as sigs.k8s.io/yaml does.
// Infinity and NaN have no JSON form and are an error.
func yamlToJSON(data []byte) ([]byte, error) {
	dec := goyaml.NewDecoder(bytes.NewReader(data))
	dec.SetStrict(true) // a duplicate key is an error
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, errors.New("no YAML document (only comments or blank lines)")
		}
		return nil, yamlError(err)
	}
	var more any
	if err := dec.Decode(&more); err != io.EOF {
		if err == nil {
			return nil, errors.New("more than one YAML document")
		}
		return nil, yamlError(err)
	}
	v, err := jsonable(doc)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// jsonable turns a value decoded by go.yaml.in/yaml/v2 into one that
// encoding/json writes as yamlToJSON documents: maps keyed by the keys'
// text, floats as yamlFloat.
func jsonable(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, int, int64, uint64, string:
		return x, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, fmt.Errorf("YAML value %v has no JSON form", x)
		}
		return yamlFloat(x), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = jsonable(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, err := yamlKeyText(k)
			if err != nil {
				return nil, err
			}
			if _, dup := out[ks]; dup {
				return nil, fmt.Errorf("duplicate key %q (two YAML keys with the same text)", ks)
			}
			if out[ks], err = jsonable(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported YAML value %v (%T)", v, v)
}

// yamlKeyText is a map key's text: a string itself, a number or bool as
// its YAML text (1, true, 1.5, .inf), as sigs.k8s.io/yaml writes it.
func yamlKeyText(k any) (string, error) {
	switch kx := k.(type) {
	case string:
		return kx, nil
	case int:
		return strconv.Itoa(kx), nil
	case int64:
		return strconv.FormatInt(kx, 10), nil
	case uint64:
		return strconv.FormatUint(kx, 10), nil
	case float64:
		switch ks := strconv.FormatFloat(kx, 'g', -1, 32); ks {
		case "+Inf":
			return ".inf", nil
		case "-Inf":
			return "-.inf", nil
		case "NaN":
			return ".nan", nil
		default:
			return ks, nil
		}
	case bool:
		return strconv.FormatBool(kx), nil
	}
	return "", fmt.Errorf("unsupported YAML map key %v (%T)", k, k)
}

// yamlFloat is a finite YAML float, written with a fraction or an exponent
// so that it reads back as a float (2.0, not 2).
type yamlFloat float64

// MarshalJSON writes f as encoding/json writes a float64, with ".0" added
// to a whole number.
func (f yamlFloat) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(float64(f))
	if err == nil && !bytes.ContainsAny(b, ".eE") {
		b = append(b, ".0"...)
	}
	return b, err
}

func check(k Kind, f Format) error {
	if int(k) >= len(kindNames) || int(f) >= len(formatNames) || (k == All && f == SentinelJSON) {
		return fmt.Errorf("%w: %v in %v", ErrUnsupported, k, f)
	}
	return nil
}

func decodeJSON(k Kind, data []byte, r *sluice.Rules) error {
	switch k {
	case All:
		return base.DecodeStrict(data, r)
	case Flow:
		return decodeArray(data, &r.Flow)
	case Isolation:
		return decodeArray(data, &r.Isolation)
	case CircuitBreaker:
		return decodeArray(data, &r.CircuitBreaker)
	case Hotspot:
		return decodeArray(data, &r.Hotspot)
	default:
		return decodeArray(data, &r.System)
	}
}

// decodeArray decodes a JSON array into *s, leaving it empty, not nil, for
// [] so that loading it clears the family. JSON null is an error.
func decodeArray[T any](data []byte, s *[]T) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return errors.New("null: want an array of rules ([] clears them)")
	}
	if err := base.DecodeStrict(data, s); err != nil {
		return err
	}
	if *s == nil {
		*s = []T{}
	}
	return nil
}

func decodeSentinel(k Kind, data []byte, r *sluice.Rules) (err error) {
	switch k {
	case Flow:
		r.Flow, err = sentinel.FlowRules(data)
	case Isolation:
		r.Isolation, err = sentinel.IsolationRules(data)
	case CircuitBreaker:
		r.CircuitBreaker, err = sentinel.CircuitBreakerRules(data)
	case Hotspot:
		r.Hotspot, err = sentinel.HotspotRules(data)
	default:
		r.System, err = sentinel.SystemRules(data)
	}
	return err
}

// load puts r, decoded as kind k, in force on eng.
func load(eng *sluice.Engine, k Kind, r sluice.Rules) error {
	switch k {
	case All:
		return eng.LoadRules(r)
	case Flow:
		return eng.LoadFlowRules(r.Flow)
	case Isolation:
		return eng.LoadIsolationRules(r.Isolation)
	case CircuitBreaker:
		return eng.LoadCircuitBreakerRules(r.CircuitBreaker)
	case Hotspot:
		return eng.LoadHotspotRules(r.Hotspot)
	default:
		return eng.LoadSystemRules(r.System)
	}
}
