package handlers

import (
	"context"
	"strconv"

	"github.com/parley-im/parley/pipeline"
	"github.com/parley-im/parley/wire"
)

// Sync page bounds: a page is at most maxSyncPage messages (the client pages
// on with the last id it got), defaultSyncPage when the client names none.
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
func (s *Service) Sync(ctx context.Context, req *pipeline.Request, in *wire.Sync) (*wire.SyncReply, error) {
	me, err := self(req, "")
	if err != nil {
		return nil, err
	}
	after, err := parseMessageID("after_id", in.AfterID, true)
	if err != nil {
		return nil, err
	}
	limit := in.Limit
	switch {
	case limit < 0:
		return nil, invalid("limit must not be negative")
	case limit == 0:
		limit = defaultSyncPage
	case limit > maxSyncPage:
		limit = maxSyncPage
	}
	// One more than the page tells whether another page follows.
	msgs, err := s.store.MessagesAfter(ctx, me, after, limit+1)
	if err != nil {
		return nil, s.storeErr("sync", err, "", "")
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	out := &wire.SyncReply{Type: wire.TypeSync, Status: wire.StatusSuccess, Messages: make([]wire.Message, len(msgs)), More: more}
	for i := range msgs {
		// Rendered exactly as the push renders it, so a client handles
		// both the same way.
		out.Messages[i] = wireMessage(wire.TypeReceiveMessage, &msgs[i])
	}
	return out, nil
}

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
func (s *Service) Ack(ctx context.Context, req *pipeline.Request, in *wire.Ack) (*ackReply, error) {
	me, err := self(req, "")
	if err != nil {
		return nil, err
	}
	upTo, err := parseMessageID("message_id", in.MessageID, false)
	if err != nil {
		return nil, err
	}
	if err := s.store.MarkDeliveredUpTo(ctx, me, upTo); err != nil {
		return nil, s.storeErr("ack", err, "", "")
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
