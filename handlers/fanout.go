package handlers

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/session"
)

// memberLister is the storage the fan-out reads: a group's active members
// and the member_seq that list is current for.
type memberLister interface {
	GroupRecipients(ctx context.Context, id int64) (db.Recipients, error)
}

// fanout pushes stored group messages to the members' sessions, off the
// sender's worker: group_send is acknowledged as soon as its message is
// committed and queued here, so a group of a thousand never holds a
// dispatcher worker for the thousand pushes.
//
// Each group hashes to one lane (one goroutine, one bounded queue), so a
// group's messages are pushed in the order they were queued; different
// groups run in parallel. The body is encoded once per message and handed
// to the Deliverer once for all members (DeliverMany), which on one node
// queues it on each session (gev Send: no socket write on this goroutine)
// and across nodes publishes it per node. The recipient list is cached per
// group and reloaded when a message was stored after a membership change
// the cache has not seen (member_seq), so nobody removed gets a push, and
// filtered by join seq, so nobody added gets one from before its join.
type fanout struct {
	lanes   []chan fanJob
	store   memberLister
	deliver session.Deliverer
	log     *zap.Logger
	wg      sync.WaitGroup

	mu    sync.Mutex
	cache map[int64]*db.Recipients

	// dropped counts messages not pushed (no room before the sender's
	// deadline, or members unreadable); they are reached by group_sync.
	dropped atomic.Int64
}

// fanJob is one message to push: body to every member that joined at or
// before seq per the list current at memberSeq, and to extra (users who
// just left and must see the event that removed them).
type fanJob struct {
	group, seq, memberSeq int64
	body                  []byte
	extra                 []string
}

// maxCachedGroups bounds the member cache; past it, it is cleared (a
// reload is one indexed query per group).
const maxCachedGroups = 10000

func newFanout(workers, queue int, store memberLister, deliver session.Deliverer, log *zap.Logger) *fanout {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	per := max(queue/workers, 1)
	f := &fanout{lanes: make([]chan fanJob, workers), store: store, deliver: deliver, log: log,
		cache: make(map[int64]*db.Recipients)}
	for i := range f.lanes {
		f.lanes[i] = make(chan fanJob, per)
		f.wg.Add(1)
		go f.run(f.lanes[i])
	}
	return f
}

// enqueue queues j on its group's lane, waiting for room until ctx ends;
// then the message is only stored (members get it by group_sync).
func (f *fanout) enqueue(ctx context.Context, j fanJob) {
	lane := f.lanes[uint64(j.group)%uint64(len(f.lanes))]
	select {
	case lane <- j:
		return
	default:
	}
	select {
	case lane <- j:
	case <-ctx.Done():
		f.dropped.Add(1)
		f.log.Warn("group fan-out full: message left to sync", zap.Int64("group", j.group), zap.Int64("seq", j.seq))
	}
}

// close stops the lanes after the queued messages are pushed.
func (f *fanout) close() {
	for _, l := range f.lanes {
		close(l)
	}
	f.wg.Wait()
}

func (f *fanout) run(lane chan fanJob) {
	defer f.wg.Done()
	for j := range lane {
		f.push(j)
	}
}

func (f *fanout) push(j fanJob) {
	ids, err := f.members(j)
	if err != nil {
		f.dropped.Add(1)
		f.log.Warn("group fan-out: members unreadable, message left to sync", zap.Int64("group", j.group), zap.Error(err))
	}
	f.deliver.DeliverMany(ids, j.body)
	if len(j.extra) > 0 {
		f.deliver.DeliverMany(j.extra, j.body)
	}
}

// members returns who gets j: the group's active members as of j's
// member_seq or later, less any who joined after j (a list read after a
// later membership change). Whoever left since is not in the list; they
// may still read j by group_sync.
func (f *fanout) members(j fanJob) ([]string, error) {
	f.mu.Lock()
	c := f.cache[j.group]
	f.mu.Unlock()
	if c == nil || c.MemberSeq < j.memberSeq {
		r, err := f.store.GroupRecipients(context.Background(), j.group)
		if err != nil {
			return nil, err
		}
		c = &r
		f.mu.Lock()
		if old := f.cache[j.group]; old == nil || old.MemberSeq < c.MemberSeq {
			if len(f.cache) >= maxCachedGroups {
				clear(f.cache)
			}
			f.cache[j.group] = c
		}
		f.mu.Unlock()
	}
	if c.MaxJoined <= j.seq {
		return c.IDs, nil // the common case: no copy
	}
	ids := make([]string, 0, len(c.IDs))
	for i, id := range c.IDs {
		if c.Joined[i] <= j.seq {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
