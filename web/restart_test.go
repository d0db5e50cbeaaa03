package web_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/config"
)

// TestBrowserSurvivesServerRestart: the page reconnects by itself after the
// server goes away and comes back (same database, same ports), resumes with
// its token, syncs what it missed, and sends the message typed while the
// server was down exactly once (the retry reuses its client_msg_id). The
// other user is a Go SDK client over TCP.
func TestBrowserSurvivesServerRestart(t *testing.T) {
	b := browser(t)
	dbPath := filepath.Join(t.TempDir(), "parley.db")
	// Fixed ports: the page and the SDK reconnect to the addresses they
	// knew.
	tcpAddr, webAddr, wsAddr := freePort(t), freePort(t), freePort(t)
	cfg := apptest.WithConfig(func(c *config.Config) {
		c.DB.DSN = dbPath
		c.Server.Listen, c.Web.Listen, c.Web.WSListen = tcpAddr, webAddr, wsAddr
	})
	srv := apptest.Start(t, apptest.WithDriver("sqlite"), cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sdk := func(phone string) *client.Client {
		c, err := client.Dial(ctx, srv.Addr(), client.WithBackoff(20*time.Millisecond, 300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Register(ctx, phone, "user "+phone, "pw-"+phone); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, phone, "pw-"+phone); err != nil {
			t.Fatal(err)
		}
		return c
	}
	alice, bob := sdk("13900000001"), sdk("13900000002")
	if err := alice.AddFriend(ctx, bob.UserID()); err != nil {
		t.Fatal(err)
	}
	if err := bob.AcceptFriend(ctx, alice.UserID()); err != nil {
		t.Fatal(err)
	}
	alice.Close() // Alice goes on in the browser

	page := newUser(t, b, "user 13900000001", "13900000001")
	page.open("http://" + srv.WebAddr() + "/")
	page.run(
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-id"), page.phone),
	)
	page.waitJS(`document.getElementById("conn-state").dataset.state === "online"`)
	page.login()
	page.openChat(bob.UserID())
	page.send("before the restart")

	srv.Stop(t)
	page.waitJS(`document.getElementById("conn-state").dataset.state === "offline"`)
	// Typed while the server is down: it waits in the outbox.
	page.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), "typed while down 🛠\r"))
	page.waitJS(`[...document.querySelectorAll("#message-list [data-pending]")].some(n => n.textContent.includes("typed while down"))`)

	srv = apptest.Start(t, apptest.WithDriver("sqlite"), cfg)
	// Bob's SDK client reconnects by itself; his message is stored while
	// the page may still be waiting out its backoff, and reaches it by sync
	// or push.
	if _, err := bob.Send(ctx, alice.UserID(), "after the restart"); err != nil {
		t.Fatal(err)
	}
	page.waitOnline()
	page.waitMessage("after the restart")
	page.waitJS(`document.querySelectorAll("#message-list [data-pending]").length === 0`)

	// Bob got the message typed while down, once.
	var got []string
	deadline := time.After(time.Minute)
	for len(got) < 2 {
		select {
		case m := <-bob.Messages():
			got = append(got, m.Body)
		case <-deadline:
			t.Fatalf("bob received %q, want the two messages", got)
		}
	}
	if got[0] != "before the restart" || got[1] != "typed while down 🛠" {
		t.Fatalf("bob received %q", got)
	}
	hist, _, err := bob.History(ctx, alice.UserID(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range hist {
		if m.Body == "typed while down 🛠" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the message typed while down is stored %d times, want once: %s", n, strconv.Quote(hist[0].Body))
	}
}
