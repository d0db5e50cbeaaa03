package handlers

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// Sync page bounds: a page is at most maxSyncPage messages (the client pages
// on with the last id it got), defaultSyncPage when the client names none,
// and at most Limits.ReplyBytes once encoded (see Sync).
const (
	defaultSyncPage = 500
	maxSyncPage     = 500
)

// Sync answers the sync extension: the messages to the session's user with
// an id above after_id, oldest first, one page at a time, delivered or not.
// A Parley client calls it after every (re)connect with the last id it has
// seen, so whatever a lost connection or a crash kept from it comes back, in
// order; with its own dedup by message_id it sees each message once. Sync
// changes nothing: acknowledging is ack's job.
//
// A page holds at most limit messages (capped at maxSyncPage) and ends early
// when the next message would take the encoded page past the reply budget
// (Limits.ReplyBytes), so other users' long messages cannot make a page too
// big to deliver (issue 11); "more" then says to page on. A page always holds
// at least one message when there is one, so paging always progresses.
func (s *Messages) Sync(ctx context.Context, req *pipeline.Request, in *wire.Sync) (pipeline.Reply, error) {
	me, err := self(req, "")
	if err != nil {
		return nil, err
	}
	after, err := parseMessageID("after_id", in.AfterID, true)
	if err != nil {
		return nil, err
	}
	limit, err := pageLimit(in.Limit, defaultSyncPage, maxSyncPage)
	if err != nil {
		return nil, err
	}
	// One more than the page tells whether another page follows.
	msgs, err := s.store.MessagesAfter(ctx, me, after, limit+1)
	if err != nil {
		return nil, storeErr(s.log, "sync", err, "", "")
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	raw, cut, err := messagePage(msgs, syncPageOverhead, s.limits.ReplyBytes)
	if err != nil {
		return nil, err
	}
	return encodeJSON(&syncPage{Type: wire.TypeSync, Status: wire.StatusSuccess, Messages: raw, More: more || cut})
}

// messagePage renders msgs as the receive_message push renders them (so a
// client handles a page's messages and live ones the same way), keeping the
// longest prefix that fits in budget bytes (the reply budget) beside
// overhead bytes of envelope. The first message always goes, so paging always progresses; cut
// says some were left out.
func messagePage(msgs []db.Message, overhead, budget int) (page []json.RawMessage, cut bool, err error) {
	page = make([]json.RawMessage, 0, len(msgs))
	size := overhead
	for i := range msgs {
		b, err := encodeJSON(wireMessage(wire.TypeReceiveMessage, &msgs[i]))
		if err != nil {
			return nil, false, err
		}
		if i > 0 && size+len(b)+1 > budget {
			return page, true, nil
		}
		size += len(b) + 1
		page = append(page, b)
	}
	return page, false, nil
}

// syncPage is wire.SyncReply with its messages already encoded (each one
// measured against the budget as it was added).
type syncPage struct {
	Type     string            `json:"type"`
	Status   string            `json:"status"`
	Messages []json.RawMessage `json:"messages"`
	More     bool              `json:"more"`
}

// syncPageOverhead bounds the bytes of a sync reply around its messages:
// {"seq":N,"type":"sync","status":"success","messages":[],"more":false}.
const syncPageOverhead = 96

// ackReply answers ack.
type ackReply struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

var ackOK = &ackReply{Type: wire.TypeAck, Status: wire.StatusSuccess}

// Ack marks every message to the session's user with an id up to
// message_id as delivered, so get_unread_messages (the seed client's
// catch-up, perhaps on another device) does not offer them again. Acking an
// id twice, or an id below an earlier ack, is harmless.
func (s *Messages) Ack(ctx context.Context, req *pipeline.Request, in *wire.Ack) (*ackReply, error) {
	me, err := self(req, "")
	if err != nil {
		return nil, err
	}
	upTo, err := parseMessageID("message_id", in.MessageID, false)
	if err != nil {
		return nil, err
	}
	if err := s.store.MarkDeliveredUpTo(ctx, me, upTo); err != nil {
		return nil, storeErr(s.log, "ack", err, "", "")
	}
	return ackOK, nil
}

// parseMessageID reads a message id sent as a decimal string. "" is 0 when
// empty is allowed (sync from the beginning).
func parseMessageID(field, v string, emptyOK bool) (int64, error) {
	if v == "" && emptyOK {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || (n == 0 && !emptyOK) {
		return 0, invalid("%s must be a message id (decimal digits)", field)
	}
	return n, nil
}
