package handlers

import (
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// ListReply is the reply of a list request (friends, chatting, search_user,
// get_unread_messages): either a JSON array or, when there is nothing to
// list, the seed's null object (an array of one {"message", "status":
// "null", "type"}), which the seed client expects instead of []. The zero
// ListReply is no reply at all (get_unread_messages, whose frames already
// went out). It is a typed union so that these handlers need not return any.
type ListReply struct {
	// array is the encoded array; nil unless the list has entries.
	array []byte
	// null is the seed's null object; nil unless the list is empty.
	null []wire.NullReply
}

// arrayReply is a list reply of an already encoded JSON array.
func arrayReply(array []byte) ListReply { return ListReply{array: array} }

// listOf is a list reply of items, encoded as one JSON array.
func listOf[T any](items []T) (ListReply, error) {
	b, err := wire.Marshal(items)
	if err != nil {
		return ListReply{}, err
	}
	return arrayReply(b), nil
}

// boundedArray encodes the longest prefix of items that fits in maxBytes as
// one JSON array, and says how many items it holds. The first item always
// goes, whatever its size: an entry is a few KiB at most, and a list that
// shows nothing would hide everything behind one long name.
func boundedArray[T any](items []T, maxBytes int) ([]byte, int, error) {
	out := []byte{'['}
	for i := range items {
		b, err := encodeJSON(&items[i])
		if err != nil {
			return nil, 0, err
		}
		if i > 0 && len(out)+1+len(b)+1 > maxBytes { // a comma, the item, the closing bracket
			return append(out, ']'), i, nil
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	return append(out, ']'), len(items), nil
}

// nullList is the seed's null object of type typ with message msg
// (wire.NullFriends...).
func nullList(typ, msg string) ListReply { return ListReply{null: wire.Null(typ, msg)} }

// reply encodes l for the wire; nil for the zero ListReply.
func (l ListReply) reply() (pipeline.Reply, error) {
	if l.null != nil {
		return wire.Marshal(l.null)
	}
	return l.array, nil
}

// pageLimit is a list request's page size: 0 means def, anything above max
// is cut to max, a negative one is refused. Every paged list (sync, history,
// group sync, members) sizes its page here.
func pageLimit(limit, def, max int) (int, error) {
	switch {
	case limit < 0:
		return 0, invalid("limit must not be negative")
	case limit == 0:
		return def, nil
	case limit > max:
		return max, nil
	}
	return limit, nil
}
