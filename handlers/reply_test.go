package handlers

import (
	"encoding/json"
	"testing"

	"github.com/parley-im/parley/wire"
)

// A ListReply encodes to the bytes the handlers wrote when they returned the
// bare values (any): the seed client parses these exactly.
func TestListReplyBytes(t *testing.T) {
	item, err := encodeJSON(wire.UserReply{Status: wire.StatusSuccess, Type: wire.TypeSearchUser, UserID: "1", Name: "<a&b>"})
	if err != nil {
		t.Fatal(err)
	}
	items := []json.RawMessage{item, item}
	list, err := listOf(items)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  ListReply
		old  any
		want string
	}{
		{"null", nullList(wire.TypeFriends, wire.NullFriends), wire.Null(wire.TypeFriends, wire.NullFriends),
			`[{"message":"have not friends","status":"null","type":"friends"}]`},
		{"array", list, items, "[" + string(item) + "," + string(item) + "]"},
		{"array of bytes", arrayReply([]byte(`[{"a":1}]`)), nil, `[{"a":1}]`},
		{"none", ListReply{}, nil, ""},
	} {
		got, err := encode(tc.got)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(got) != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
		if tc.old == nil {
			continue
		}
		old, err := encode(tc.old)
		if err != nil || string(old) != string(got) {
			t.Errorf("%s: got %s, the bare value encodes to %s (%v)", tc.name, got, old, err)
		}
	}
}
