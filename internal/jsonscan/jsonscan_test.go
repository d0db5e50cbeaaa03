package jsonscan

import (
	"slices"
	"testing"
)

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int // index just past the value, -1 for malformed
	}{
		{`"abc",`, 5},
		{`"a\"b",`, 6},
		{`"a\\",`, 5},
		{`123,`, 3},
		{`-1.5e3}`, 6},
		{`true]`, 4},
		{`{"a":[1,{"b":"}"}]},`, 19},
		{`[[],{}],`, 7},
		{`"unterminated`, -1},
		{`{"a":1`, -1},
		{``, -1},
		{`,`, -1},
	} {
		end, ok := Value([]byte(tc.in), 0)
		if !ok {
			end = -1
		}
		if end != tc.want {
			t.Errorf("Value(%q) = %d, want %d", tc.in, end, tc.want)
		}
	}
}

func TestMembers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		keys []string // nil: not one well-formed object
	}{
		{` { "a" : 1 , "b\"c": {"x":[1,2]}, "a": "z" } `, []string{`"a"`, `"b\"c"`, `"a"`}},
		{"{}", []string{}},
		{"{\n    \"type\": \"ping\"\n}\n", []string{`"type"`}},
		{`[1]`, nil},
		{`{"a" 1}`, nil},
		{`{"a":1,}`, nil},
		{`{"a":1`, nil},
		{`{a:1}`, nil},
	} {
		b := []byte(tc.in)
		keys := []string{}
		ok := Members(b, func(key []byte, value int) (int, bool) {
			keys = append(keys, string(key))
			return Value(b, value)
		})
		if tc.keys == nil {
			if ok {
				t.Errorf("Members(%q) = true, want false", tc.in)
			}
			continue
		}
		if !ok || !slices.Equal(keys, tc.keys) {
			t.Errorf("Members(%q) = %v %q, want %q", tc.in, ok, keys, tc.keys)
		}
	}
	// A member that stops the walk makes it fail.
	if Members([]byte(`{"a":1}`), func([]byte, int) (int, bool) { return 0, false }) {
		t.Error("Members ignored a member's stop")
	}
}
