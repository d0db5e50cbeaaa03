package passhash

import (
	"errors"
	"strings"
	"testing"
)

// cheap keeps the test fast; the encoding and comparison do not depend on
// the cost.
var cheap = Params{Time: 1, Memory: 1024, Threads: 1, KeyLen: 32}

func TestHashVerifies(t *testing.T) {
	for _, pw := range []string{"666", `it's "quoted" \ back`, "pässwörd 密码"} {
		h := Hash(pw, cheap)
		if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") || strings.Contains(h, pw) {
			t.Fatalf("Hash(%q) = %q", pw, h)
		}
		if ok, rehash, err := Verify(pw, h, cheap, nil); !ok || rehash || err != nil {
			t.Errorf("Verify(right) = %v %v %v", ok, rehash, err)
		}
		if ok, _, err := Verify(pw+"x", h, cheap, nil); ok || err != nil {
			t.Errorf("Verify(wrong) = %v %v", ok, err)
		}
		if ok, rehash, _ := Verify(pw, h, Current, nil); !ok || !rehash {
			t.Errorf("other parameters: ok=%v rehash=%v, want a rehash", ok, rehash)
		}
	}
}

func TestVerifyPlaintextAndMalformed(t *testing.T) {
	if ok, rehash, err := Verify("666", "666", cheap, nil); !ok || !rehash || err != nil {
		t.Errorf("legacy plaintext: %v %v %v", ok, rehash, err)
	}
	if ok, _, _ := Verify("", "", cheap, nil); ok {
		t.Error("an empty stored value matched")
	}
	if _, _, err := Verify("x", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", cheap, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("huge memory: err = %v, want ErrMalformed", err)
	}
}
