package client_test

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/db"
)

// SIGTERM while SDK clients send: parleyd exits 0 within its
// shutdown_timeout (5 s in buildParleyd's config), and every message whose
// send_message reply arrived before the signal is in the database afterwards.
func TestSIGTERMKeepsEveryAcknowledgedMessage(t *testing.T) {
	srv := buildParleyd(t, "sqlite")
	srv.start(t)
	ps := pairs(t, srv.addr, 3, "137", client.WithRequestTimeout(5*time.Second))
	log, stop, wg := startSending(ps, "t")
	// Signal while messages are flowing: some acknowledged, more in flight.
	log.waitAcked(t, 2*len(ps))

	cmd := srv.cmd
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	took := time.Since(signalled)
	srv.cmd = nil
	close(stop)
	for _, p := range ps {
		p.from.Close()
		p.to.Close()
	}
	wg.Wait()
	if err != nil {
		t.Fatalf("parleyd exited with %v after SIGTERM", err)
	}
	if took > 5*time.Second {
		t.Fatalf("parleyd took %v to stop, over its 5s shutdown_timeout", took)
	}

	log.mu.Lock()
	acked := make(map[string]string, len(log.acked))
	for id, body := range log.acked {
		acked[id] = body
	}
	log.mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the signal")
	}
	ctx := context.Background()
	bdb, err := db.Open(ctx, srv.db, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	st := db.NewStore(bdb, 10*time.Second)
	stored := map[string]string{}
	for _, p := range ps {
		msgs, err := st.MessagesAfter(ctx, p.to.UserID(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			stored[strconv.FormatInt(m.ID, 10)] = m.Body
		}
	}
	for id, body := range acked {
		if stored[id] != body {
			t.Errorf("acknowledged message %s %q is not in the database (found %q)", id, body, stored[id])
		}
	}
	t.Logf("%d messages acknowledged before SIGTERM, all stored; stop took %v", len(acked), took.Round(time.Millisecond))
}
