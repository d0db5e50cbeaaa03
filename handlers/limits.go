package handlers

import (
	"unicode/utf8"

	"github.com/parley-im/parley/config"
)

// Limits bound what one user can send and what one reply can carry, so that
// nothing other users send can make a user's replies too big to deliver
// (issue 11: a dozen friends each sending one 64 KiB message of '<' made a
// victim's chat list and sync page pass transport.max_pending, and the
// victim was disconnected at every login).
type Limits struct {
	// MaxBody is the largest send_message body and update_chat
	// last_message, in bytes (messages.max_body).
	MaxBody int
	// ChatListMax caps the entries of a chatting reply, newest first
	// (messages.chat_list_max).
	ChatListMax int
	// ChatPreviewMax caps each chat's last_message in a chatting reply, in
	// bytes (messages.chat_preview_max).
	ChatPreviewMax int
	// ReplyBytes is the budget of one list reply (friends, chatting, sync),
	// measured on the encoded frame: see ReplyBudget.
	ReplyBytes int
}

// maxReplyBytes caps the reply budget whatever transport.max_pending is: a
// page of a megabyte is already far more than a client shows at once.
const maxReplyBytes = 1 << 20

// ReplyBudget is the byte budget of one list reply: a quarter of the
// connection's output limit, so a reply always fits with room for the pushes
// and the other replies in flight beside it, and at most maxReplyBytes.
func ReplyBudget(maxPending int) int {
	return min(maxPending/4, maxReplyBytes)
}

// LimitsFrom reads the limits from a configuration.
func LimitsFrom(cfg *config.Config) Limits {
	return Limits{
		MaxBody:        cfg.Messages.MaxBody,
		ChatListMax:    cfg.Messages.ChatListMax,
		ChatPreviewMax: cfg.Messages.ChatPreviewMax,
		ReplyBytes:     ReplyBudget(cfg.Transport.MaxPending),
	}
}

// defaultLimits are the limits of the built-in configuration, which New
// uses when Deps.Limits is zero.
func defaultLimits() Limits {
	cfg := config.Default()
	return LimitsFrom(&cfg)
}

// ellipsis marks a cut preview.
const ellipsis = "…"

// preview cuts s to at most n bytes, on a character boundary, ending in an
// ellipsis when anything was cut.
func preview(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := max(n-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
