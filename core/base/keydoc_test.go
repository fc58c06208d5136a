package base

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestRuleKeysDocumented: every field of the rule types, and of
// sluice.Rules, has a JSON key (no `json:"-"`) and a doc comment that
// gives it as "JSON/YAML key: <key>".
func TestRuleKeysDocumented(t *testing.T) {
	for file, types := range map[string][]string{
		"../flow/rule.go":           {"Rule"},
		"../isolation/rule.go":      {"Rule"},
		"../circuitbreaker/rule.go": {"Rule"},
		"../hotspot/rule.go":        {"Rule", "SpecificItem"},
		"../system/rule.go":         {"Rule"},
		"../../rules.go":            {"Rules"},
	} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range types {
			st := structType(f, name)
			if st == nil {
				t.Errorf("%s: no struct type %s", file, name)
				continue
			}
			for _, field := range st.Fields.List {
				key := jsonKey(field)
				doc := strings.Join(strings.Fields(field.Doc.Text()), " ")
				for _, n := range field.Names {
					where := file + ": " + name + "." + n.Name
					switch {
					case key == "" || key == "-":
						t.Errorf("%s: no JSON key in its tag", where)
					case !strings.Contains(doc, "JSON/YAML key: "+key):
						t.Errorf("%s: doc comment %q does not say \"JSON/YAML key: %s\"", where, doc, key)
					}
				}
				if len(field.Names) != 1 {
					t.Errorf("%s: %s: declare each field on its own line, with its own doc comment", file, name)
				}
			}
		}
	}
}

func structType(f *ast.File, name string) *ast.StructType {
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range g.Specs {
			if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.Name == name {
				st, _ := ts.Type.(*ast.StructType)
				return st
			}
		}
	}
	return nil
}

func jsonKey(field *ast.Field) string {
	if field.Tag == nil {
		return ""
	}
	tag, err := strconv.Unquote(field.Tag.Value)
	if err != nil {
		return ""
	}
	key, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
	return key
}
