package handlers

import "reflect"

// isNil reports whether v holds a nil pointer, slice, map or interface, which
// a handler returns to mean "no reply".
func isNil(v any) bool {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
