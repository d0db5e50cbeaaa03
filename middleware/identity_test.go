package middleware

import (
	"encoding/json"
	"testing"
)

// identityBody is how a handler would decode the identity fields: the
// decoder the scanner must agree with.
type identityBody struct {
	UserID *string `json:"user_id"`
	SendID *string `json:"send_id"`
}

// FuzzIdentityCheck holds the scanner to its security promise: whenever it
// lets a body through for user "1", encoding/json decodes every identity
// field of that body to "1" or leaves it absent. It also must never panic.
//
//	go test -run x -fuzz FuzzIdentityCheck ./middleware/
func FuzzIdentityCheck(f *testing.F) {
	for _, seed := range []string{
		`{"type":"friends","user_id":"1"}`,
		`{"type":"friends","user_id":"2"}`,
		`{"USER_ID":"2","user_id":"1"}`,
		`{"user\u005fid":"2"}`,
		`{"ſend_id":"2"}`,
		`{"user_id":"\u0031","send_id":"1"}`,
		`{"user_id":"1","user_id":"2"}`,
		`{"a":{"user_id":"2"},"b":[1,"x",{"c":null}],"user_id":"1"}`,
		`{"user_id":"\ud800"}`,
		"{\n    \"send_id\": \"1\",\n    \"type\": \"send_message\"\n}\n",
		`{"a\"":"user_id","send_id":"1"}`,
		`{}`, `[]`, `"x"`, `{"user_id":1}`, `{"user_id":null}`, `{"user_id":true}`,
	} {
		f.Add([]byte(seed))
	}
	check := newIdentityCheck(defaultIdentityFields)
	f.Fuzz(func(t *testing.T, body []byte) {
		err := check.check(body, "1") // must not panic on any input
		if err != nil || !json.Valid(body) {
			return
		}
		var got identityBody
		if jerr := json.Unmarshal(body, &got); jerr != nil {
			// A body that is not an object passes the scanner only if it has
			// no identity field at all; the handler refuses it anyway.
			return
		}
		for name, v := range map[string]*string{"user_id": got.UserID, "send_id": got.SendID} {
			if v != nil && *v != "1" {
				t.Fatalf("scanner let %q through, but encoding/json reads %s = %q", body, name, *v)
			}
		}
	})
}

// TestIdentityAgreesWithEncodingJSON shows, for the tricky spellings, that
// encoding/json really does read them as the identity field: the scanner is
// not refusing them out of caution but because the handler would be fooled.
func TestIdentityAgreesWithEncodingJSON(t *testing.T) {
	for _, b := range []string{
		`{"USER_ID":"2"}`,
		`{"user\u005fid":"2"}`,
		`{"User_Id":"2"}`,
		`{"user_id":"1","user_id":"2"}`,
	} {
		var got identityBody
		if err := json.Unmarshal([]byte(b), &got); err != nil || got.UserID == nil || *got.UserID != "2" {
			t.Errorf("%s: encoding/json reads user_id as %v (%v); the test's premise is wrong", b, got.UserID, err)
		}
	}
	var got identityBody
	if err := json.Unmarshal([]byte(`{"ſend_id":"2"}`), &got); err != nil || got.SendID == nil || *got.SendID != "2" {
		t.Errorf("encoding/json does not fold ſ to s (%v, %v); the test's premise is wrong", got.SendID, err)
	}
}
