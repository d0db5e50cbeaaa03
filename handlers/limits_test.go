package handlers

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A chat preview is cut to its byte cap on a character boundary, marked
// with an ellipsis, and never longer than the cap.
func TestPreview(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello!", 5, "he…"},
		{strings.Repeat("长", 10), 9, "长长…"},
		{strings.Repeat("长", 10), 10, "长长…"}, // not into the third 长
		{strings.Repeat("长", 10), 8, "长…"},
		{"ab", 1, "…"},
	} {
		got := preview(c.in, c.n)
		if got != c.want {
			t.Errorf("preview(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
	for n := 3; n < 40; n++ {
		got := preview(strings.Repeat("<长é", 20), n)
		if len(got) > n || !utf8.ValidString(got) || !strings.HasSuffix(got, ellipsis) {
			t.Fatalf("preview to %d bytes: %q (%d bytes)", n, got, len(got))
		}
	}
}

// The reply budget is a quarter of transport.max_pending, at most 1 MiB.
func TestReplyBudget(t *testing.T) {
	if got := ReplyBudget(4 << 20); got != 1<<20 {
		t.Errorf("default: %d", got)
	}
	if got := ReplyBudget(1 << 20); got != 256<<10 {
		t.Errorf("1 MiB max_pending: %d", got)
	}
	if got := ReplyBudget(64 << 20); got != 1<<20 {
		t.Errorf("64 MiB max_pending: %d", got)
	}
}
