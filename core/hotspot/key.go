package hotspot

import (
	"hash/maphash"
	"math"
	"reflect"
)

// kind is the kind of a parameter value, as Key keeps it.
type kind uint8

const (
	kindNone kind = iota
	kindString
	kindInt   // every signed integer, and unsigned ones up to MaxInt64
	kindUint  // unsigned integers above MaxInt64
	kindFloat // float32 and float64
	kindBool
	kindOther // any other comparable value
)

// Key is a parameter value normalised for counting: every signed integer
// type is one kind (so int(7), int64(7) and uint8(7) are the same value),
// float32 and float64 are one kind, and strings and bools are their own.
// Integers and floats stay apart: 7 and 7.0 are different values. Key is
// comparable and holds common kinds without boxing.
type Key struct {
	kind kind
	n    uint64 // integer bits, float64 bits, or 0/1
	s    string
	o    any // kindOther
}

// KeyOf returns the Key of v, and false when v cannot be counted: nil, a
// value whose type is not comparable (a slice, map or func, or a struct
// holding one), or a value that is not equal to itself or cannot be
// compared (a NaN of a named float type, or a struct, array or complex
// number holding a NaN; a struct or array holding a slice, map or func in
// an interface). A NaN float32 or float64 is countable: every NaN with the
// same bits is one value.
func KeyOf(v any) (Key, bool) {
	switch x := v.(type) {
	case string:
		return Key{kind: kindString, s: x}, true
	case int:
		return intKey(int64(x)), true
	case int64:
		return intKey(x), true
	case int32:
		return intKey(int64(x)), true
	case int16:
		return intKey(int64(x)), true
	case int8:
		return intKey(int64(x)), true
	case uint:
		return uintKey(uint64(x)), true
	case uint64:
		return uintKey(x), true
	case uint32:
		return uintKey(uint64(x)), true
	case uint16:
		return uintKey(uint64(x)), true
	case uint8:
		return uintKey(uint64(x)), true
	case uintptr:
		return uintKey(uint64(x)), true
	case float64:
		return floatKey(x), true
	case float32:
		return floatKey(float64(x)), true
	case bool:
		if x {
			return Key{kind: kindBool, n: 1}, true
		}
		return Key{kind: kindBool}, true
	case nil:
		return Key{}, false
	}
	if !reflect.TypeOf(v).Comparable() || !selfEqual(v) {
		return Key{}, false
	}
	return Key{kind: kindOther, o: v}, true
}

// selfEqual reports whether v == v, and false where that comparison
// panics. A value not equal to itself (a NaN of a named float type, or in a
// struct, an array or a complex number) would never be found again as a
// map key, so each entry would count afresh and a busy one never leave
// the busy set; a comparable type holding an uncomparable value in an
// interface (struct{ v any }{[]int{1}}) panics when compared or hashed.
func selfEqual(v any) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return v == v
}

func intKey(i int64) Key { return Key{kind: kindInt, n: uint64(i)} }

func uintKey(u uint64) Key {
	if u <= math.MaxInt64 {
		return Key{kind: kindInt, n: u}
	}
	return Key{kind: kindUint, n: u}
}

func floatKey(f float64) Key {
	if f == 0 {
		f = 0 // -0 and +0 are one value
	}
	return Key{kind: kindFloat, n: math.Float64bits(f)}
}

// Value returns the key as a plain Go value: string, int64, uint64,
// float64, bool, or the original value of another kind.
func (k Key) Value() any {
	switch k.kind {
	case kindString:
		return k.s
	case kindInt:
		return int64(k.n)
	case kindUint:
		return k.n
	case kindFloat:
		return math.Float64frombits(k.n)
	case kindBool:
		return k.n == 1
	case kindOther:
		return k.o
	}
	return nil
}

var seed = maphash.MakeSeed()

// hash spreads keys over shards. Values of other kinds all hash alike: they
// share one shard.
func (k Key) hash() uint64 {
	switch k.kind {
	case kindString:
		return maphash.String(seed, k.s)
	case kindOther:
		return 0
	}
	// A 64-bit mix (splitmix64's finaliser) of the bits and the kind.
	x := k.n ^ uint64(k.kind)<<56
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
