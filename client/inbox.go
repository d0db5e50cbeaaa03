package client

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"

	"github.com/parley-im/parley/wire"
)

// Message is one chat message received: a receive_message push or a message
// fetched by sync. Ids are decimal strings, as on the wire.
type Message struct {
	ID        string // message_id, assigned by the server; increases per receiver
	From      string // send_id
	To        string // receiver_id
	Body      string // message_body
	Type      string // message_type ("text")
	ChatType  string // chat_type ("friend")
	FilePath  string // file_path (" " when there is none)
	Timestamp string // message_timestamp, "YYYY-MM-DD HH:MM:SS" server local time

	id int64
}

func fromWire(m wire.Message) (Message, bool) {
	id, err := strconv.ParseInt(m.MessageID, 10, 64)
	if err != nil || id <= 0 {
		// A push without a message_id comes from a server without the
		// extension; it cannot be deduplicated or acknowledged, so it is
		// not delivered.
		return Message{}, false
	}
	return Message{
		ID: m.MessageID, From: m.SendID, To: m.ReceiverID, Body: m.MessageBody, Type: m.MessageType,
		ChatType: m.ChatType, FilePath: m.FilePath, Timestamp: m.MessageTimestamp, id: id,
	}, true
}

// inbox turns pushes and sync pages into one ordered stream without
// duplicates, with bounded memory whatever the reader of Messages() does.
//
// floor is the sync cursor: every message with an id <= floor is known to
// have been queued or delivered (sync returned every message above the old
// floor, and ids of one receiver commit in order). seen holds the ids above
// floor that were queued or delivered, for deduplication; a sync prunes it.
// queue holds what the reader has not taken yet, in delivery order. While
// hold is set (from a reconnect until its catch-up sync), pushes are queued
// but not delivered, so the older messages sync finds go out first.
type inbox struct {
	mu      sync.Mutex
	floor   int64
	seen    map[int64]struct{}
	queue   []Message
	hold    bool
	lost    bool // a push was dropped for room: the next sync must run soon
	cap     int
	wake    chan struct{} // capacity 1: "the queue or hold changed"
	pending chan struct{} // capacity 1: "a push arrived; sync and ack soon"
	out     chan Message
}

func newInbox(capacity int, floor int64) *inbox {
	return &inbox{
		floor:   floor,
		seen:    make(map[int64]struct{}),
		cap:     capacity,
		wake:    make(chan struct{}, 1),
		pending: make(chan struct{}, 1),
		out:     make(chan Message),
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// push takes a receive_message push from the reader goroutine. It never
// blocks: without room the message is dropped and left to the next sync.
func (b *inbox) push(w wire.Message) {
	m, ok := fromWire(w)
	if !ok {
		return
	}
	b.mu.Lock()
	if _, dup := b.seen[m.id]; dup || m.id <= b.floor {
		b.mu.Unlock()
		return
	}
	if len(b.queue) >= b.cap || len(b.seen) >= 4*b.cap {
		b.lost = true
		b.mu.Unlock()
		signal(b.pending)
		return
	}
	b.seen[m.id] = struct{}{}
	b.queue = append(b.queue, m)
	b.mu.Unlock()
	signal(b.wake)
	signal(b.pending)
}

// setHold starts or ends holding pushes back for a catch-up sync.
func (b *inbox) setHold(on bool) {
	b.mu.Lock()
	b.hold = on
	b.mu.Unlock()
	signal(b.wake)
}

// cursor is the floor: the id a sync starts after.
func (b *inbox) cursor() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.floor
}

// room reports whether a sync page can be taken now: a reader that is far
// behind gets no more messages until it catches up.
func (b *inbox) room() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cap - len(b.queue)
}

// highest is the largest id queued or delivered above the floor.
func (b *inbox) highest() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.floor
	for id := range b.seen {
		h = max(h, id)
	}
	return h
}

// merge adds one sync page (ids above after, ascending). It queues the ones
// not seen, as room allows, and moves the floor up to the last id it took.
// It reports whether the whole page fit.
func (b *inbox) merge(page []wire.Message) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := true
	added := false
	for _, w := range page {
		m, ok := fromWire(w)
		if !ok {
			continue
		}
		if m.id <= b.floor {
			continue
		}
		if _, dup := b.seen[m.id]; !dup {
			if len(b.queue) >= b.cap {
				b.lost = true
				all = false
				break
			}
			b.seen[m.id] = struct{}{}
			b.queue = append(b.queue, m)
			added = true
		}
		b.floor = m.id
	}
	b.prune()
	if added {
		// Pushes that overtook an older message go after it.
		slices.SortStableFunc(b.queue, func(x, y Message) int { return cmp.Compare(x.id, y.id) })
		signal(b.wake)
	}
	return all
}

// complete records that a sync ran to its end: every message up to the
// highest id seen when it started is queued or delivered.
func (b *inbox) complete(upTo int64) {
	b.mu.Lock()
	if upTo > b.floor {
		b.floor = upTo
	}
	b.lost = false
	b.prune()
	b.mu.Unlock()
}

// isLost reports whether pushes were dropped since the last complete sync.
func (b *inbox) isLost() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lost
}

// prune forgets seen ids at or below the floor; the floor covers them.
func (b *inbox) prune() {
	for id := range b.seen {
		if id <= b.floor {
			delete(b.seen, id)
		}
	}
}

// ackable is the id the client may acknowledge: the floor, but below any
// message at or under it that the reader has not taken yet.
func (b *inbox) ackable() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.floor
	for _, m := range b.queue {
		if m.id <= a {
			a = m.id - 1
		}
	}
	return a
}

// deliver runs on its own goroutine for the client's lifetime: it hands the
// queue to the reader of out, one message at a time, and closes out at the
// end.
func (b *inbox) deliver(ctx context.Context) {
	defer close(b.out)
	for {
		b.mu.Lock()
		var next Message
		ready := !b.hold && len(b.queue) > 0
		if ready {
			next = b.queue[0]
		}
		b.mu.Unlock()
		if !ready {
			select {
			case <-b.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case b.out <- next:
			b.mu.Lock()
			// The head can only have changed by a merge that sorted an
			// older message in front; remove the one delivered.
			if i := slices.IndexFunc(b.queue, func(m Message) bool { return m.id == next.id }); i >= 0 {
				b.queue = slices.Delete(b.queue, i, i+1)
			}
			b.mu.Unlock()
		case <-b.wake:
			// hold or order changed; look again
		case <-ctx.Done():
			return
		}
	}
}
