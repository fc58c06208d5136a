package base

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// jsonField is a struct field as a JSON key.
type jsonField struct {
	name   string // the JSON key
	index  []int  // as for reflect.Value.FieldByIndex
	tagged bool   // the name comes from a json tag
}

// structFields are the JSON keys of a struct type.
type structFields struct {
	byName map[string]jsonField
	names  []string // in field order
}

var fieldCache sync.Map // reflect.Type → *structFields

// fieldsOf returns the JSON keys of struct type t, as encoding/json finds
// them: a json tag's name or the Go name, "-" skipped, unexported fields
// skipped, the fields of an untagged embedded struct promoted, and a
// shallower field hiding deeper ones of the same name (at one depth, a
// single tagged one wins, else the name is dropped).
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	sf := &structFields{byName: map[string]jsonField{}}
	type level struct {
		t     reflect.Type
		index []int
	}
	hidden := map[string]bool{} // names settled at a shallower depth
	visited := map[reflect.Type]bool{}
	for current := []level{{t, nil}}; len(current) > 0; {
		var next []level
		var order []string
		found := map[string][]jsonField{}
		for _, l := range current {
			if visited[l.t] {
				continue
			}
			visited[l.t] = true
			for i := range l.t.NumField() {
				f := l.t.Field(i)
				tag := f.Tag.Get("json")
				if tag == "-" {
					continue
				}
				tagName, _, _ := strings.Cut(tag, ",")
				name := tagName
				index := append(slices.Clone(l.index), i)
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
					next = append(next, level{ft, index})
					continue
				}
				if !f.IsExported() {
					continue
				}
				if name == "" {
					name = f.Name
				}
				if _, ok := found[name]; !ok {
					order = append(order, name)
				}
				found[name] = append(found[name], jsonField{name: name, index: index, tagged: tagName != ""})
			}
		}
		for _, name := range order {
			if hidden[name] {
				continue
			}
			hidden[name] = true
			if f, ok := dominant(found[name]); ok {
				sf.byName[name] = f
				sf.names = append(sf.names, name)
			}
		}
		current = next
	}
	f, _ := fieldCache.LoadOrStore(t, sf)
	return f.(*structFields)
}

// dominant returns the one field of fs, all of one name at one depth, that
// the name decodes into, if there is one.
func dominant(fs []jsonField) (jsonField, bool) {
	if len(fs) == 1 {
		return fs[0], true
	}
	var tagged []jsonField
	for _, f := range fs {
		if f.tagged {
			tagged = append(tagged, f)
		}
	}
	if len(tagged) == 1 {
		return tagged[0], true
	}
	return jsonField{}, false
}

// lookup returns the field key names: the exact name, or with fold the
// first name equal to it without regard to case.
func (sf *structFields) lookup(key string, fold bool) (jsonField, bool) {
	if f, ok := sf.byName[key]; ok {
		return f, true
	}
	if fold {
		for _, n := range sf.names {
			if strings.EqualFold(n, key) {
				return sf.byName[n], true
			}
		}
	}
	return jsonField{}, false
}

// unknownKey is the error for key, which names no field; it suggests the
// nearest of names, if one is near.
func unknownKey(key string, names []string) *DecodeError {
	kp := &keyProblem{what: "unknown key"}
	if near := nearest(key, names); near != "" {
		kp.hint = fmt.Sprintf(" (did you mean %q?)", near)
	}
	return &DecodeError{Index: -1, Key: key, Err: kp}
}

// duplicateKey is the error for key, which names the field that the
// earlier key first set.
func duplicateKey(key, first string) *DecodeError {
	kp := &keyProblem{what: "duplicate key"}
	if key != first {
		kp.hint = fmt.Sprintf(" (the same field as %q)", first)
	}
	return &DecodeError{Index: -1, Key: key, Err: kp}
}

// nearest returns the name of names closest to key, ignoring case, when it
// is within a few edits (about one in four letters, at most 3), or "".
func nearest(key string, names []string) string {
	best, bestDist := "", min(1+len(key)/4, 3)+1
	lower := strings.ToLower(key)
	for _, n := range names {
		if d := editDistance(lower, strings.ToLower(n)); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, by byte.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
