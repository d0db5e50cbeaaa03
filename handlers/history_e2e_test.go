package handlers_test

import (
	"fmt"
	"testing"
)

// TestHistoryEndToEnd pages through a conversation over real sockets on
// every database (SQLite, and PostgreSQL when reachable or CI=true): newest
// first, both directions, "more" until the greeting.
func TestHistoryEndToEnd(t *testing.T) {
	eachDriver(t, func(t *testing.T, srv *server) {
		srv.register(t, "1", "a", "pw")
		srv.register(t, "2", "b", "pw")
		a, b := srv.login(t, "1", "pw"), srv.login(t, "2", "pw")
		srv.befriend(t, a, "1", b, "2")
		var ids []string
		for i := range 4 {
			a.Send(sendMessage("1", "2", fmt.Sprint("历史 ", i, " 🙂")))
			ids = append(ids, obj(t, a.Read())["message_id"].(string))
			obj(t, b.Read()) // the push
		}
		before, got := "", []string{}
		for page := 0; page < 5; page++ {
			b.Send(qt("type", "history", "seq", 3, "peer_id", "1", "before_id", before, "limit", 2))
			r := obj(t, b.Read())
			fields(t, r, map[string]string{"type": "history", "status": "success", "peer_id": "1"})
			for _, m := range r["messages"].([]any) {
				mm := m.(map[string]any)
				strs(t, mm)
				got = append(got, mm["message_id"].(string))
				before = mm["message_id"].(string)
			}
			if r["more"] != true {
				break
			}
		}
		// Four messages and the greeting, newest first.
		if len(got) != 5 || got[0] != ids[3] || got[3] != ids[0] {
			t.Fatalf("paged %v, want %v reversed then the greeting", got, ids)
		}
	})
}
