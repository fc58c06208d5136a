package hotspot

import (
	"math"
	"testing"
)

type namedFloat float64

type holder struct{ v any }

// Values that are not equal to themselves (a NaN of a named float type, a
// struct holding one) can never be found again in a map, and a comparable
// type holding a slice in an interface panics when hashed or compared:
// none of them can be counted.
func TestValuesThatCannotBeFoundAgainAreUncountable(t *testing.T) {
	for _, v := range []any{
		namedFloat(math.NaN()),
		struct{ f float64 }{math.NaN()},
		complex(math.NaN(), 0),
		holder{[]int{1}},
		holder{map[string]int{}},
		[2]any{1, []int{1}},
		holder{holder{func() {}}},
	} {
		if k, ok := KeyOf(v); ok {
			t.Errorf("KeyOf(%#v) = %v, true; want uncountable", v, k)
		}
	}
	for _, v := range []any{namedFloat(1.5), holder{7}, holder{"x"}, [2]any{1, "a"}, math.NaN()} {
		k, ok := KeyOf(v)
		if !ok {
			t.Errorf("KeyOf(%#v) not countable", v)
			continue
		}
		if k2, _ := KeyOf(v); k2 != k {
			t.Errorf("KeyOf(%#v) is not equal to itself", v)
		}
	}
}
