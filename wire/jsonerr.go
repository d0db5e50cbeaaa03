package wire

import (
	"encoding/json"
	"errors"
	"reflect"
)

// DecodeError is a request body that did not decode, with a message written
// for the client: "seq must be an unsigned integer", never encoding/json's
// "json: cannot unmarshal string into Go struct field Envelope.seq of type
// uint64", which names Go internals a client can do nothing with. The
// original error stays reachable with errors.As / errors.Unwrap.
type DecodeError struct {
	msg string
	err error
}

func (e *DecodeError) Error() string { return e.msg }
func (e *DecodeError) Unwrap() error { return e.err }

// ClientDecodeError wraps an error of json.Unmarshal into a DecodeError whose
// message names the offending field by its JSON key and the kind of value it
// needs. nil stays nil.
func ClientDecodeError(err error) error {
	if err == nil {
		return nil
	}
	var de *DecodeError
	if errors.As(err, &de) {
		return err
	}
	return &DecodeError{msg: describeDecodeError(err), err: err}
}

func describeDecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return "the body must be a JSON object"
		}
		return field + " must be " + kindName(te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "the body is not valid JSON"
	}
	return "the body could not be decoded"
}

// kindName says what kind of JSON value a Go type decodes from.
func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an unsigned integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return "another type"
}
