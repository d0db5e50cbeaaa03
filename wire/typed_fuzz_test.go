package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// requestType is one struct that handlers.Router decodes a request body into.
type requestType struct {
	name   string     // the Go type name
	typ    string     // a message type whose handler decodes into it
	newPtr func() any // a pointer to a fresh zero value
}

func requestOf[T any](typ string) requestType {
	return requestType{name: reflect.TypeFor[T]().Name(), typ: typ, newPtr: func() any { return new(T) }}
}

// requestTypes is every request struct of the seed protocol and of Parley's
// extensions. TestRequestTypesAreAllFuzzed keeps it complete: a new request
// struct in this package fails that test until it is listed here.
var requestTypes = []requestType{
	requestOf[LoginRequest](TypeLogin),
	requestOf[RegisterRequest](TypeRegister),
	requestOf[UserRequest](TypeFriends), // also chatting, get_unread_messages
	requestOf[SendMessageRequest](TypeSendMessage),
	requestOf[UpdateChatRequest](TypeUpdateChat),
	requestOf[SearchUserRequest](TypeSearchUser),
	requestOf[FriendRequest](TypeAddFriend), // also accept_friend, delete_friend
	requestOf[Ping](TypePing),
	requestOf[Resume](TypeResume),
	requestOf[Sync](TypeSync),
	requestOf[Ack](TypeAck),
	requestOf[History](TypeHistory),
	requestOf[GroupCreate](TypeGroupCreate),
	requestOf[GroupRename](TypeGroupRename),
	requestOf[GroupAdd](TypeGroupAdd),
	requestOf[GroupUser](TypeGroupRemove), // also group_set_role
	requestOf[GroupRef](TypeGroupLeave),   // also group_dissolve, group_info
	requestOf[GroupMembersRequest](TypeGroupMembers),
	requestOf[GroupSend](TypeGroupSend),
	requestOf[GroupRead](TypeGroupRead),
	requestOf[GroupSync](TypeGroupSync),
	requestOf[GroupHistory](TypeGroupHistory),
	requestOf[GroupEvent](""), // a system message's body, decoded by clients
	requestOf[Envelope](""),   // decoded from every body by DecodeEnvelope
}

// FuzzDecodeRequests decodes every input into every request struct, the way
// the router does (json.Unmarshal of the whole body, then Validate when the
// type has it). Decoding into all of them at once means no selector byte is
// needed and every input exercises every type. The properties:
//   - nothing panics (the seed server died on non-object roots, objects where
//     strings belong and invalid UTF-8: seed-protocol.md §1.6, B16);
//   - a refusal becomes a small, valid UTF-8 JSON error reply, so an error
//     message never echoes a hostile body back;
//   - an accepted value holds only valid UTF-8 strings, re-encodes to valid
//     UTF-8 JSON, and decodes back to the same value, so whatever the server
//     stores and later pushes (receive_message) can be encoded.
//
// The committed corpus (testdata/fuzz/FuzzDecodeRequests) is generated from
// requestSeeds; see TestRequestFuzzCorpusIsCommitted. Some seeds are large
// (20 KiB of nesting, 64 KiB strings) and the fuzzer minimises every new
// input for up to a minute by default, stalling a short run, so:
//
//	go test -run '^$' -fuzz '^FuzzDecodeRequests$' -fuzztime 20s -fuzzminimizetime 5s ./wire
func FuzzDecodeRequests(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		if env, err := DecodeEnvelope(body); err == nil {
			_ = WithSeq(body, env.Seq)
		}
		for _, rt := range requestTypes {
			checkRequestDecode(t, rt, body)
		}
	})
}

// maxErrorReply bounds an error reply built from a decode error. The longest
// legitimate message names a struct field and a Go type; anything longer
// would mean the decoder quotes the input.
const maxErrorReply = 512

func checkRequestDecode(t *testing.T, rt requestType, body []byte) {
	t.Helper()
	v := rt.newPtr()
	err := json.Unmarshal(body, v)
	if err == nil {
		if val, ok := v.(interface{ Validate() error }); ok {
			err = val.Validate()
		}
	}
	if err != nil {
		// The router's bad_request / invalid reply for this error.
		reply := EncodeError(rt.typ, CodeBadRequest, fmt.Sprintf("%s: %v", rt.typ, err), 0)
		if !utf8.Valid(reply) || !json.Valid(reply) {
			t.Fatalf("%s: error reply is not valid UTF-8 JSON: %q", rt.name, reply)
		}
		if len(reply) > maxErrorReply {
			t.Fatalf("%s: error reply of %d bytes: %.200q", rt.name, len(reply), reply)
		}
		return
	}
	checkDecodedStrings(t, rt.name, reflect.ValueOf(v).Elem())
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: decoded %+v does not re-encode: %v", rt.name, v, err)
	}
	if !utf8.Valid(out) || !json.Valid(out) {
		t.Fatalf("%s: re-encoded to invalid JSON: %q", rt.name, out)
	}
	again := rt.newPtr()
	if err := json.Unmarshal(out, again); err != nil {
		t.Fatalf("%s: re-encoded %s does not decode: %v", rt.name, out, err)
	}
	if !reflect.DeepEqual(v, again) {
		t.Fatalf("%s: round trip changed %+v into %+v", rt.name, v, again)
	}
}

// checkDecodedStrings fails if any string field of a decoded struct is not valid
// UTF-8. encoding/json replaces invalid bytes and lone surrogates with U+FFFD;
// this pins that, because the edge's own UTF-8 check is not the only caller.
func checkDecodedStrings(t *testing.T, name string, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.String && !utf8.ValidString(f.String()) {
			t.Fatalf("%s.%s decoded to invalid UTF-8 %q", name, v.Type().Field(i).Name, f.String())
		}
	}
}

// TestRequestTypesAreAllFuzzed finds every request struct declared in this
// package (a struct with JSON fields, none of them "status", nothing
// embedded: replies and pushes all carry a status) and checks that
// requestTypes lists exactly those.
func TestRequestTypesAreAllFuzzed(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			if st, ok := ts.Type.(*ast.StructType); ok && isRequestStruct(st) {
				found = append(found, ts.Name.Name)
			}
			return false
		})
	}
	var listed []string
	for _, rt := range requestTypes {
		listed = append(listed, rt.name)
	}
	slices.Sort(found)
	slices.Sort(listed)
	if !slices.Equal(found, listed) {
		t.Errorf("request structs in package wire: %v\nrequestTypes lists:           %v", found, listed)
	}
}

func isRequestStruct(st *ast.StructType) bool {
	tagged := false
	for _, f := range st.Fields.List {
		if len(f.Names) == 0 {
			return false // embeds a reply (LoginReply)
		}
		if f.Tag == nil {
			continue
		}
		tag, err := strconv.Unquote(f.Tag.Value)
		if err != nil {
			continue
		}
		name, ok := reflect.StructTag(tag).Lookup("json")
		if !ok {
			continue
		}
		tagged = true
		if strings.Split(name, ",")[0] == "status" {
			return false
		}
	}
	return tagged
}

// requestCorpusDir is where `go test` and `go test -fuzz` read the committed seeds.
const requestCorpusDir = "testdata/fuzz/FuzzDecodeRequests"

// TestRequestFuzzCorpusIsCommitted checks that every seed of requestSeeds is
// committed in the corpus, byte for byte, so the corpus cannot drift from
// the list of hostile inputs. PARLEY_UPDATE_FUZZ_CORPUS=1 (re)writes them.
// Other files in the directory (crashers found by fuzzing) are left alone.
func TestRequestFuzzCorpusIsCommitted(t *testing.T) {
	update := os.Getenv("PARLEY_UPDATE_FUZZ_CORPUS") == "1"
	if update {
		if err := os.MkdirAll(requestCorpusDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, s := range requestSeeds() {
		if seen[s.name] {
			t.Fatalf("seed name %q used twice", s.name)
		}
		seen[s.name] = true
		want := requestCorpusFile(s.body)
		path := filepath.Join(requestCorpusDir, s.name)
		if update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is missing or stale; run PARLEY_UPDATE_FUZZ_CORPUS=1 go test -run TestRequestFuzzCorpusIsCommitted ./wire", path)
		}
	}
}

// requestCorpusFile is the `go test fuzz v1` encoding of one []byte argument.
func requestCorpusFile(body []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", body)
}

// requestSeed is one named input of the committed corpus.
type requestSeed struct {
	name string
	body []byte
}

// seedMember is one key/value of a hand-built object. The key is written between
// quotes as it is (it may hold escapes or invalid UTF-8); the value is raw
// JSON text, or not JSON at all.
type seedMember struct{ key, value string }

func seedCompact(ms []seedMember) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + m.key + `":` + m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// seedQt renders members like the seed Qt client: sorted keys, 4-space
// indent, one space after the colon, a trailing newline.
func seedQt(ms []seedMember) []byte {
	sorted := slices.Clone(ms)
	slices.SortStableFunc(sorted, func(a, b seedMember) int { return strings.Compare(a.key, b.key) })
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, m := range sorted {
		b.WriteString(`    "` + m.key + `": ` + m.value)
		if i < len(sorted)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// withMember returns ms with key's value replaced (or the member appended).
func withMember(ms []seedMember, key, value string) []seedMember {
	out := slices.Clone(ms)
	for i := range out {
		if out[i].key == key {
			out[i].value = value
			return out
		}
	}
	return append(out, seedMember{key, value})
}

// seedSamples are what the seed client sends; any other string field gets
// seedDefault.
var seedSamples = map[string]string{
	"user_id": `"1"`, "user_password": `"666"`, "user_name": `"cat"`, "user_phone": `"13800000000"`,
	"message_body": `"hello"`, "file_path": `" "`, "chat_type": `"friend"`, "message_type": `"text"`,
	"message_timestamp": `"2025-07-14 11:04:00"`, "last_time": `"2025-07-14 11:04:00"`,
	"chat_status": `"chatting"`, "last_message_type": `"text"`, "unread_count": `0`,
	"after_id": `"0"`, "limit": `100`, "seq": `7`,
}

const seedDefault = `"2"`

// hostileNumbers are values for a field that holds a number (unread_count,
// limit, seq): the seed client sends unread_count as 0, others send strings.
var hostileNumbers = []struct{ name, value string }{
	{"zero", `0`}, {"string", `"3"`}, {"empty-string", `""`}, {"null", `null`},
	{"float", `1.5`}, {"float-string", `"1.5"`}, {"exponent", `1E2`}, {"negative", `-1`},
	{"negative-zero", `-0`}, {"negative-zero-string", `"-0"`}, {"huge", `1e30`},
	{"huge-string", `"99999999999999999999"`}, {"max-int64", `9223372036854775807`},
	{"max-int64-plus-one", `9223372036854775808`}, {"min-int64-minus-one", `-9223372036854775809`},
	{"max-uint64-plus-one", `18446744073709551616`}, {"plus-sign-string", `"+1"`},
	{"hex-string", `"0x10"`}, {"space-string", `" 1"`}, {"bool", `true`}, {"object", `{}`},
	{"array", `[1]`},
}

// requestFields lists the JSON names of t's fields other than "type", with
// whether each holds a number rather than a string.
func requestFields(t reflect.Type) (names []string, numeric map[string]bool) {
	numeric = map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" || name == "type" {
			continue
		}
		names = append(names, name)
		numeric[name] = f.Type.Kind() != reflect.String
	}
	return names, numeric
}

func seedNestedArrays(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func seedNestedObjects(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

// requestSeeds are the committed corpus: everything that crashed or deafened
// the seed server (seed-protocol.md §1.6, B16), per request type and field.
// encoding/json refuses nesting deeper than 10000, hence the depths.
func requestSeeds() []requestSeed {
	var out []requestSeed
	add := func(name string, body []byte) { out = append(out, requestSeed{name, body}) }
	addS := func(name, body string) { add(name, []byte(body)) }

	// Roots that are not one object: jsoncpp threw on them and the
	// exception killed the seed server.
	addS("root-empty", "")
	addS("root-space", " \n\t")
	addS("root-null", "null")
	addS("root-true", "true")
	addS("root-number", "42")
	addS("root-huge-number", "1e400")
	addS("root-negative", "-1")
	addS("root-string", `"login"`)
	addS("root-empty-array", "[]")
	addS("root-array", `[{"type":"login","user_id":"1","user_password":"666"}]`)
	addS("root-empty-object", "{}")
	addS("root-open-brace", "{")
	addS("root-close-brace", "}")
	addS("root-nul-bytes", "\x00\x00\x00\x00")
	addS("root-invalid-utf8", "\xff\xfe\xfd")
	addS("root-nested-arrays", seedNestedArrays(10001))
	addS("root-bom", "\xef\xbb\xbf{\"type\":\"ping\"}")
	addS("root-framed-twice", "\x00\x00\x00\x0f{\"type\":\"ping\"}")
	addS("root-http", "GET / HTTP/1.1\r\nHost: parley\r\n\r\n")

	for _, rt := range requestTypes {
		typ := rt.typ
		if typ == "" {
			typ = TypePing
		}
		fields, numeric := requestFields(reflect.TypeOf(rt.newPtr()).Elem())
		base := []seedMember{{"type", strconv.Quote(typ)}}
		for _, f := range fields {
			v, ok := seedSamples[f]
			if !ok {
				v = seedDefault
			}
			base = append(base, seedMember{f, v})
		}
		p := rt.name + "-"
		valid := seedCompact(base)
		add(p+"qt", seedQt(base))
		add(p+"compact", valid)
		add(p+"type-only", seedCompact(base[:1]))
		add(p+"type-object", seedCompact(withMember(base, "type", `{"a":1}`)))
		add(p+"type-number", seedCompact(withMember(base, "type", `1`)))
		add(p+"truncated", valid[:len(valid)/2])
		add(p+"trailing-garbage", append(slices.Clone(valid), 'x'))
		add(p+"two-objects", append(slices.Clone(valid), valid...))

		for _, f := range fields {
			if numeric[f] {
				for _, n := range hostileNumbers {
					add(p+f+"-"+n.name, seedCompact(withMember(base, f, n.value)))
				}
				continue
			}
			add(p+f+"-object", seedCompact(withMember(base, f, `{"a":1}`)))
			add(p+f+"-number", seedCompact(withMember(base, f, `1`)))
			add(p+f+"-invalid-utf8", seedCompact(withMember(base, f, "\"\xc3(\"")))
		}

		// The first string field gets the rest: long, nested, repeated.
		f0 := "type"
		for _, f := range fields {
			if !numeric[f] {
				f0 = f
				break
			}
		}
		add(p+f0+"-long", seedCompact(withMember(base, f0, `"`+strings.Repeat("x", 2100)+`"`)))
		add(p+f0+"-nested", seedCompact(withMember(base, f0, seedNestedArrays(64))))
		add(p+f0+"-lone-surrogate", seedCompact(withMember(base, f0, `"\ud800"`)))
		add(p+f0+"-nul-escape", seedCompact(withMember(base, f0, `"a\u0000b"`)))
		add(p+f0+"-dup-string-then-object", seedCompact(append(slices.Clone(base), seedMember{f0, `{"a":1}`})))
		add(p+f0+"-dup-object-then-string", seedCompact(append(withMember(base, f0, `{"a":1}`), seedMember{f0, `"1"`})))
		add(p+f0+"-dup-strings", seedCompact(append(slices.Clone(base), seedMember{f0, `"other"`})))
	}

	// One string field, the message body that is stored and pushed to
	// another user, gets every string oddity.
	send := []seedMember{{"type", `"send_message"`}, {"receiver_id", `"2"`}, {"send_id", `"1"`}, {"message_body", `"hello"`}}
	body := func(name, value string) {
		add("SendMessageRequest-message_body-"+name, seedCompact(withMember(send, "message_body", value)))
	}
	body("array", `["hello"]`)
	body("bool", `true`)
	body("null", `null`)
	body("float", `1.5`)
	body("huge-number", `1e400`)
	body("surrogate-pair", `"\ud83d\ude00"`)
	body("reversed-surrogates", `"\ude00\ud83d"`)
	body("bad-escape", `"\x"`)
	body("short-unicode-escape", `"\u12"`)
	body("raw-control", "\"a\x01b\"")
	body("raw-newline", "\"a\nb\"")
	body("overlong-utf8", "\"\xc0\xaf\"")
	body("cesu-surrogate", "\"\xed\xa0\x80\"")
	body("above-max-rune", "\"\xf4\x90\x80\x80\"")
	body("truncated-rune", "\"\xe6\x88\"")
	body("long-multibyte", `"`+strings.Repeat("我", 700)+`"`)
	body("long-escapes", `"`+strings.Repeat(`\u00e9`, 350)+`"`)
	body("over-64k", `"`+strings.Repeat("x", 64<<10+1)+`"`)
	body("nested-10001", seedNestedArrays(10001))
	body("nested-9998", seedNestedArrays(9998))
	body("nested-objects-10001", seedNestedObjects(10001))
	body("nested-objects-9998", seedNestedObjects(9998))
	body("unterminated", `"hello`)
	add("SendMessageRequest-upper-keys", []byte(`{"TYPE":"send_message","RECEIVER_ID":"2","Send_Id":"1","MESSAGE_BODY":"hi"}`))
	add("SendMessageRequest-escaped-keys", []byte(`{"type":"send_message","receiver\u005fid":"2","\u0073end_id":"1","message_body":"hi"}`))
	add("SendMessageRequest-long-s-key", []byte(`{"type":"send_message","receiver_id":"2","ſend_id":"1","message_body":"hi"}`))
	add("SendMessageRequest-invalid-utf8-key", []byte("{\"type\":\"send_message\",\"\xff\":\"2\"}"))
	return out
}
