package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/db"
	"github.com/parley-im/parley/wire"
)

// End-to-end tests of issue 5 through the whole server: heartbeat, graceful
// shutdown, slow consumers. Crash and database faults are in fault_test.go.

// noRateLimit drops the ratelimit middleware: these tests register and log
// in many users from one address, which the default limits (rightly) refuse.
func noRateLimit(c *config.Config) {
	c.Pipeline = slices.DeleteFunc(slices.Clone(c.Pipeline), func(s config.Middleware) bool { return s.Use == "ratelimit" })
}

// pair is a sender and a receiver that are friends.
type pair struct{ from, to *client.Client }

// pairs registers 2n users on addr and befriends them two by two.
func pairs(t *testing.T, addr string, n int, prefix string, opts ...client.Option) []pair {
	t.Helper()
	out := make([]pair, n)
	for i := range out {
		a := account(t, addr, fmt.Sprintf("%s%03d1", prefix, i), opts...)
		b := account(t, addr, fmt.Sprintf("%s%03d2", prefix, i), opts...)
		befriend(t, a, b)
		out[i] = pair{a, b}
	}
	return out
}

// A session that has pinged is closed when it goes silent; one that never
// pinged (the seed client) is left alone; an SDK client's heartbeat keeps
// its session open.
func TestHeartbeatEndToEnd(t *testing.T) {
	srv := apptest.Start(t, apptest.WithConfig(func(c *config.Config) {
		c.Transport.HeartbeatTimeout = 300 * time.Millisecond
		c.Transport.LegacyIdle = 0
	}))
	pinger := srv.Dial(t)
	pinger.Send([]byte(`{"type":"ping","seq":1}`))
	if m := pinger.Object(); m["type"] != "pong" {
		t.Fatalf("reply to ping: %v", m)
	}
	legacy := srv.Dial(t)

	var errs atomic.Int32
	sdk := realDial(t, srv.Addr(), client.WithHeartbeat(50*time.Millisecond, 0),
		client.WithErrorHandler(func(error) { errs.Add(1) }))

	pinger.ExpectClosed(5 * time.Second)
	// A positive control instead of a sleep: a second pinger whose last frame
	// comes after legacy's connect. Once the server has closed it, legacy has
	// been silent longer than the heartbeat timeout too, whatever the load.
	control := srv.Dial(t)
	control.Send([]byte(`{"type":"ping","seq":2}`))
	if m := control.Object(); m["type"] != "pong" {
		t.Fatalf("reply to ping: %v", m)
	}
	control.ExpectClosed(5 * time.Second)

	// Past the heartbeat timeout: the silent seed-style connection still
	// answers, and the SDK client never had to reconnect.
	legacy.Send([]byte(`{"type":"ping"}`))
	if m := legacy.Object(); m["type"] != "pong" {
		t.Fatalf("legacy connection: %v", m)
	}
	if err := sdk.Ping(realCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := errs.Load(); n != 0 {
		t.Fatalf("the SDK client reported %d errors (reconnects) while pinging", n)
	}
}

// sendLog records, for sendLoop, the message ids the server acknowledged and
// their bodies.
type sendLog struct {
	mu    sync.Mutex
	acked map[string]string // message_id -> body
	tried []string          // every body a Send was attempted with
}

func (l *sendLog) ack(id, body string) {
	l.mu.Lock()
	l.acked[id] = body
	l.mu.Unlock()
}

// waitAcked waits until at least n messages are acknowledged: progress the
// test can count on, where a fixed sleep may see none on a loaded machine.
func (l *sendLog) waitAcked(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		got := len(l.acked)
		l.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages acknowledged in 30s, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// acks is how many messages have been acknowledged so far.
func (l *sendLog) acks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// startSending runs one sendLoop per pair (bodies tag0-N, tag1-N, ...)
// until stop is closed; wg counts the loops still running.
func startSending(ps []pair, tag string) (log *sendLog, stop chan struct{}, wg *sync.WaitGroup) {
	log, stop, wg = &sendLog{acked: map[string]string{}}, make(chan struct{}), &sync.WaitGroup{}
	for i, p := range ps {
		wg.Add(1)
		go sendLoop(p, fmt.Sprint(tag, i), stop, log, wg)
	}
	return log, stop, wg
}

// sendLoop sends from p.from to p.to until stop is closed, recording what
// the server acknowledged in log.
func sendLoop(p pair, tag string, stop <-chan struct{}, log *sendLog, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		body := fmt.Sprintf("%s-%d", tag, i)
		log.mu.Lock()
		log.tried = append(log.tried, body)
		log.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		id, err := p.from.Send(ctx, p.to.UserID(), body)
		cancel()
		if err == nil {
			log.ack(id, body)
		}
		if errors.Is(err, client.ErrClosed) {
			return
		}
	}
}

// storedBodies opens the database the server used (after it stopped) and
// returns the message bodies stored for receiver, by id.
func storedBodies(t *testing.T, cfg config.DB, receivers ...string) map[string]string {
	t.Helper()
	ctx := realCtx(t)
	bdb, err := db.Open(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	st := db.NewStore(bdb, 10*time.Second)
	out := map[string]string{}
	for _, r := range receivers {
		after := int64(0)
		for {
			msgs, err := st.MessagesAfter(ctx, r, after, db.MaxBatch)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				out[strconv.FormatInt(m.ID, 10)] = m.Body
				after = m.ID
			}
			if len(msgs) < db.MaxBatch {
				break
			}
		}
	}
	return out
}

// Every message acknowledged before a graceful stop is in the database
// after it, and connections are told the server is going away.
func TestGracefulShutdownKeepsAcknowledged(t *testing.T) {
	for _, driver := range apptest.Drivers(t) {
		t.Run(driver, func(t *testing.T) {
			srv := apptest.Start(t, apptest.WithDriver(driver), apptest.WithConfig(noRateLimit))
			ps := pairs(t, srv.Addr(), 4, "139", client.WithBackoff(time.Second, time.Second))
			raw := srv.Dial(t)

			log, stop, wg := startSending(ps, "s")
			// Stop while messages are flowing: some acknowledged, more in flight.
			log.waitAcked(t, 2*len(ps))
			cfg := srv.Config.DB
			srv.Stop(t)
			close(stop)
			wg.Wait()

			// The raw connection got the goaway frame, then the close.
			var sawGoAway bool
			for {
				body, err := raw.ReadErr(5 * time.Second)
				if err != nil {
					break
				}
				if h, err := wire.DecodeEnvelope(body); err == nil && h.Type == wire.TypeGoAway {
					sawGoAway = true
				}
			}
			if !sawGoAway {
				t.Error("no goaway frame before the close")
			}

			if len(log.acked) == 0 {
				t.Fatal("nothing was acknowledged before the stop")
			}
			var receivers []string
			for _, p := range ps {
				receivers = append(receivers, p.to.UserID())
			}
			stored := storedBodies(t, cfg, receivers...)
			for id, body := range log.acked {
				if stored[id] != body {
					t.Errorf("acknowledged message %s (%q) stored as %q", id, body, stored[id])
				}
			}
			t.Logf("%d messages acknowledged, %d stored", len(log.acked), len(stored))
		})
	}
}

// A client that sends without reading fills its output; past max_pending it
// is disconnected, while another pair keeps chatting through it.
func TestNonReaderIsDisconnectedOthersUnaffected(t *testing.T) {
	srv := apptest.Start(t, apptest.WithConfig(func(c *config.Config) {
		noRateLimit(c)
		c.Transport.MaxFrame = 64 << 10
		c.Transport.MaxPending = 64 << 10
		c.Transport.WriteStall = 2 * time.Second
	}))
	ps := pairs(t, srv.Addr(), 1, "137")

	// The flooder: pings as fast as it can, never reads a pong.
	// A small receive window (set before connecting, so it is what the
	// kernel advertises) makes the server's output back up at once.
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		return errors.Join(cerr, err)
	}}
	nc, err := d.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	flooded := make(chan error, 1)
	go func() {
		frame := wire.AppendFrame(nil, []byte(`{"type":"ping","seq":1}`))
		batch := make([]byte, 0, len(frame)*512)
		for i := 0; i < 512; i++ {
			batch = append(batch, frame...)
		}
		for i := 0; i < 4000; i++ { // ~47 MB of pongs if never cut off
			_ = nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if _, err := nc.Write(batch); err != nil {
				flooded <- err
				return
			}
		}
		flooded <- nil
	}()

	// Meanwhile the other pair chats, each message acknowledged and
	// received, in order.
	start := time.Now()
	for i := 0; i < 50; i++ {
		id, err := ps[0].from.Send(realCtx(t), ps[0].to.UserID(), fmt.Sprint("m", i))
		if err != nil {
			t.Fatalf("send %d during the flood: %v", i, err)
		}
		if m := next(t, ps[0].to); m.ID != id {
			t.Fatalf("received %+v, want %s", m, id)
		}
	}
	t.Logf("50 messages during the flood in %v", time.Since(start))
	select {
	case err := <-flooded:
		t.Logf("flooder cut after %v: %v", time.Since(start), err)
		if err == nil {
			t.Fatal("the flooder wrote everything: it was never disconnected")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the flooder is still connected")
	}
}
