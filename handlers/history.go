package handlers

import (
	"context"
	"encoding/json"

	"go.uber.org/zap"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// HistoryStore is the storage the history area uses.
type HistoryStore interface {
	Conversation(ctx context.Context, userID, peerID string, beforeID int64, limit int) ([]db.Message, error)
}

// History answers the history extension (docs/PROTOCOL.md 6.5): it only
// reads, so it needs nothing of the other areas.
type History struct {
	store      HistoryStore
	replyBytes int // Limits.ReplyBytes
	log        *zap.Logger
}

// Register adds history to r.
func (h *History) Register(r *Router) {
	On(r, wire.TypeHistory, h.History)
}

// History page bounds: a page is at most maxHistoryPage messages,
// defaultHistoryPage when the client names none (a screenful and some), and
// at most Limits.ReplyBytes once encoded.
const (
	defaultHistoryPage = 50
	maxHistoryPage     = 200
)

// historyPageOverhead bounds the bytes of a history reply around its
// messages: {"seq":N,"type":"history","status":"success","peer_id":"<20
// bytes>","messages":[],"more":false}.
const historyPageOverhead = 128

// historyPage is wire.HistoryReply with its messages already encoded and
// measured (see messagePage).
type historyPage struct {
	Type     string            `json:"type"`
	Status   string            `json:"status"`
	PeerID   string            `json:"peer_id"`
	Messages []json.RawMessage `json:"messages"`
	More     bool              `json:"more"`
}

// History answers the history extension: the messages between the session's
// user and peer_id, both directions, with an id below before_id ("" or "0":
// from the newest), newest first, one page at a time. A client opening a
// conversation shows the first page and pages back with the last id it got;
// newest first means the first page is the one on screen, whatever the
// conversation's length. Messages hidden by delete_friend are not shown, so
// a stranger's history is simply empty (no not_found: it would tell nothing
// the user does not know).
//
// A page holds at most limit messages (capped at maxHistoryPage) and ends
// early at the reply budget (Limits.ReplyBytes), like sync: "more" then says
// to page on, and a page always holds at least one message when there is one.
func (h *History) History(ctx context.Context, req *pipeline.Request, in *wire.History) (pipeline.Reply, error) {
	me, err := self(req, "")
	if err != nil {
		return nil, err
	}
	if err := checkID("peer_id", in.PeerID); err != nil {
		return nil, err
	}
	before, err := parseMessageID("before_id", in.BeforeID, true)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(in.Limit, defaultHistoryPage, maxHistoryPage)
	if err != nil {
		return nil, err
	}
	// One more than the page tells whether an older page follows.
	msgs, err := h.store.Conversation(ctx, me, in.PeerID, before, limit+1)
	if err != nil {
		return nil, storeErr(h.log, "history", err, "", "")
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	raw, cut, err := messagePage(msgs, historyPageOverhead, h.replyBytes)
	if err != nil {
		return nil, err
	}
	return encodeJSON(&historyPage{Type: wire.TypeHistory, Status: wire.StatusSuccess, PeerID: in.PeerID, Messages: raw, More: more || cut})
}
