package wire

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFlexIntDecodes(t *testing.T) {
	cases := []struct {
		in   string
		want FlexInt
	}{
		{`0`, 0},
		{`7`, 7},
		{`"7"`, 7},
		{`""`, 0},
		{`null`, 0},
		{`-2`, -2},
	}
	for _, c := range cases {
		var req UpdateChatRequest
		if err := json.Unmarshal([]byte(`{"unread_count":`+c.in+`}`), &req); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if req.UnreadCount != c.want {
			t.Errorf("%s: got %d, want %d", c.in, req.UnreadCount, c.want)
		}
	}
}

func TestFlexIntRefusesNonIntegers(t *testing.T) {
	for _, in := range []string{`1.5`, `"x"`, `true`, `{}`, `[]`, `"1 "`} {
		var f FlexInt
		err := json.Unmarshal([]byte(in), &f)
		if err == nil {
			t.Errorf("%s: decoded as %d, want an error", in, f)
		}
	}
	var f FlexInt
	var te *json.UnmarshalTypeError
	if err := f.UnmarshalJSON([]byte(`"abc"`)); !errors.As(err, &te) {
		t.Errorf("got %v, want a *json.UnmarshalTypeError", err)
	}
}

func TestFlexIntEncodesAsString(t *testing.T) {
	b, err := json.Marshal(struct {
		N FlexInt `json:"n"`
	}{12})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"n":"12"}` {
		t.Errorf("got %s", b)
	}
}

func TestTimeRoundTrip(t *testing.T) {
	in := time.Date(2025, 7, 4, 9, 5, 3, 999, time.Local)
	s := FormatTime(in)
	if s != "2025-07-04 09:05:03" {
		t.Fatalf("got %q", s)
	}
	back, err := ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(in.Truncate(time.Second)) {
		t.Errorf("round trip: got %v, want %v", back, in)
	}
	if FormatTime(time.Time{}) != "" {
		t.Error("zero time should render empty")
	}
}

// Every field of every reply the seed client reads must be a JSON string,
// because the client reads values with QJsonValue::toString().
func TestRepliesAreAllStrings(t *testing.T) {
	values := []any{
		LoginReply{}, RegisterReply{}, FriendItem{}, ChatItem{}, Message{},
		SendMessageReply{}, FriendReply{}, StatusReply{}, NullReply{}, UserReply{},
	}
	for _, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for k, raw := range m {
			if !strings.HasPrefix(string(raw), `"`) {
				t.Errorf("%T.%s is %s, want a JSON string", v, k, raw)
			}
		}
	}
}

func TestSearchReplyHasNoPassword(t *testing.T) {
	b, _ := json.Marshal(UserReply{UserID: "1"})
	if strings.Contains(string(b), "password") {
		t.Errorf("search_user reply mentions a password: %s", b)
	}
	b, _ = json.Marshal(LoginReply{UserReply: UserReply{UserID: "1"}})
	if !strings.Contains(string(b), `"user_password":""`) {
		t.Errorf("login reply should carry an empty user_password: %s", b)
	}
}
