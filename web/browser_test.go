package web_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/parley-im/parley/app/apptest"
	"github.com/parley-im/parley/client"
)

// The web client in Debian's Chromium, driven through the DevTools protocol
// (chromedp), against a whole Parley: the page from web.listen, chat over
// the WebSocket endpoint on the gev reactors, real SQLite.

// stepTimeout bounds every wait on the page: a step that does not happen
// fails the test instead of hanging it.
const stepTimeout = 60 * time.Second

// chromiumPath finds the browser. Under CI=true a missing browser fails the
// test (.ci/run installs Debian's chromium); elsewhere it skips.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is mandatory under CI=true and was not found (apt-get install -y chromium)")
	}
	t.Skip("no chromium on PATH (apt-get install -y chromium)")
	return ""
}

// shotDir is where screenshots go: $PARLEY_SCREENSHOTS, else the test's
// temporary directory (kept only on failure with -test.v's log of it).
func shotDir(t *testing.T) string {
	if d := os.Getenv("PARLEY_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// browser starts one headless Chromium for the test, with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	t.Log("starting chromium")
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	t.Log("chromium started")
	return ctx
}

// user is one person: a browser context of their own (own localStorage), in
// which tabs open and close.
type user struct {
	t       *testing.T
	name    string
	phone   string
	profile context.Context // holds the browser context
	tab     context.Context
	close   context.CancelFunc
}

func newUser(t *testing.T, b context.Context, name, phone string) *user {
	t.Helper()
	profile, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(profile); err != nil {
		t.Fatal(err)
	}
	return &user{t: t, name: name, phone: phone, profile: profile}
}

// open opens a new tab in the user's browser context at url.
func (u *user) open(url string) {
	u.t.Helper()
	tab, cancel := chromedp.NewContext(u.profile)
	u.tab, u.close = tab, cancel
	u.t.Cleanup(cancel)
	// The first run opens the tab and ties it to its context: never a
	// context with a timeout, whose end would close the tab.
	if err := chromedp.Do(tab); err != nil {
		u.t.Fatalf("%s: open a tab: %v", u.name, err)
	}
	u.run(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#conn-state")))
	// Record every Content-Security-Policy violation from now on: a page
	// that tried to run an injected handler would report one.
	eval[bool](u, `window.__violations = [];
document.addEventListener("securitypolicyviolation", e => window.__violations.push(e.violatedDirective + " " + e.blockedURI)); true`)
}

// run runs actions on the user's tab within stepTimeout.
func (u *user) run(actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.tab, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.fail(err)
	}
}

// fail ends the test with the page's connection state and a screenshot.
func (u *user) fail(err error) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.tab, 5*time.Second)
	defer cancel()
	state, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#conn-state")))
	shot := u.screenshot(filepath.Join(os.TempDir(), fmt.Sprintf("parley-fail-%s-%d.png", u.phone, time.Now().UnixNano())))
	u.t.Fatalf("%s: %v (connection: %q; screenshot %s)", u.name, err, state, shot)
}

// text returns the text of the first element matching a CSS selector.
func (u *user) text(sel string) string {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.tab, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		u.fail(err)
	}
	return s
}

func (u *user) screenshot(path string) string {
	ctx, cancel := context.WithTimeout(u.tab, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "none: " + err.Error()
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "none: " + err.Error()
	}
	return path
}

// eval returns a JavaScript expression's value.
func eval[T any](u *user, expr string) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.tab, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		u.fail(err)
	}
	return v
}

// waitJS polls a JavaScript condition on the page until it holds.
func (u *user) waitJS(cond string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.tab, stepTimeout+time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout))); err != nil {
		u.fail(fmt.Errorf("waiting for %s: %w", cond, err))
	}
}

// register creates the account and checks the page shows the new id.
func (u *user) register() {
	u.t.Helper()
	u.run(
		chromedp.WaitVisible(chromedp.CSS("#register-form")),
		chromedp.SendKeys(chromedp.CSS("#register-phone"), u.phone),
		chromedp.SendKeys(chromedp.CSS("#register-name"), u.name),
		chromedp.SendKeys(chromedp.CSS("#register-password"), "pw-"+u.phone),
	)
	u.waitJS(`document.getElementById("conn-state").dataset.state === "online"`)
	u.run(chromedp.Click(chromedp.CSS(`#register-form button[type="submit"]`)))
	u.waitJS(`(document.getElementById("new-account-id") || {}).textContent === ` + strconv.Quote(u.phone))
}

// login logs in with the id the registration filled in.
func (u *user) login() {
	u.t.Helper()
	u.run(
		chromedp.SendKeys(chromedp.CSS("#login-password"), "pw-"+u.phone),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#app")),
	)
	u.waitOnline()
}

func (u *user) waitOnline() {
	u.t.Helper()
	u.waitJS(`document.getElementById("conn-state").dataset.state === "online" && !document.getElementById("app").hidden`)
}

// click clicks the element matching a CSS selector as soon as there is one.
// It clicks from the page's side in one step: the lists are re-rendered
// whenever the server's view changes, so a node found by one protocol call
// may be gone by the next.
func (u *user) click(sel string) {
	u.t.Helper()
	u.waitJS(`(() => { const n = document.querySelector(` + strconv.Quote(sel) + `); if (!n) return false; n.click(); return true; })()`)
}

// openChat opens the conversation with peer from the chat list.
func (u *user) openChat(peer string) {
	u.t.Helper()
	u.click("#tab-chats")
	u.click(`#chat-list button[data-peer="` + peer + `"]`)
	u.waitJS(`document.getElementById("conv-title").textContent !== "" && !document.getElementById("conversation").hidden`)
}

// send types a message and presses Enter, then waits for the server's ack
// (the message leaves the outbox and gets its id).
func (u *user) send(body string) {
	u.t.Helper()
	u.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), body+kb.Enter))
	u.waitJS(`document.querySelectorAll("#message-list [data-pending]").length === 0 &&
		[...document.querySelectorAll("#message-list .msg.mine .msg-body")].some(n => n.textContent === ` + strconv.Quote(body) + `)`)
}

// waitMessage waits until a message with exactly this text is shown.
func (u *user) waitMessage(body string) {
	u.t.Helper()
	u.waitJS(`[...document.querySelectorAll("#message-list .msg-body")].some(n => n.textContent === ` + strconv.Quote(body) + `)`)
}

// noInjection checks that no element came from a message or a name and no
// injected handler ran or was even attempted (a CSP violation would mean
// the page tried to run one).
func (u *user) noInjection() {
	u.t.Helper()
	imgs := eval[int](u, `document.querySelectorAll("img").length`)
	xss := eval[bool](u, `window.__xss !== undefined`)
	violations := eval[[]string](u, `window.__violations`)
	if imgs != 0 || xss || len(violations) != 0 {
		u.t.Fatalf("%s: %d <img> elements, handler ran: %v, CSP violations: %v", u.name, imgs, xss, violations)
	}
}

// freePort reserves a loopback port for a listener the server binds itself.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBrowserChat: two people in two browser contexts register, befriend,
// chat both ways in Chinese and emoji; one closes their tab, messages
// arrive meanwhile, and the reopened tab (still logged in) shows them; a
// reload keeps the login; a message and a name made of HTML render as text.
func TestBrowserChat(t *testing.T) {
	b := browser(t)
	// apptest binds web.listen to port 0: the WebSocket's same-origin
	// check must compare with the page's bound port (app sets it).
	srv := apptest.Start(t)
	base := "http://" + srv.WebAddr() + "/"
	shots := shotDir(t)

	const xssName = `<img src=x onerror="window.__xss=1">`
	const xssBody = `<img src=x onerror="window.__xss=2">`
	alice := newUser(t, b, "Alice 爱丽丝 🌸", "13800000001")
	bob := newUser(t, b, xssName, "13800000002")

	alice.open(base)
	alice.register()
	alice.login()
	bob.open(base)
	bob.register()
	bob.login()

	// Alice finds Bob and asks; Bob sees the request live, with a badge.
	alice.run(
		chromedp.Click(chromedp.CSS("#tab-friends")),
		chromedp.SendKeys(chromedp.CSS("#search-id"), bob.phone+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#search-result .found[data-peer="`+bob.phone+`"] .add`)),
	)
	found := alice.text(`#search-result .found .item-name`)
	if found != xssName {
		t.Fatalf("search shows the name as %q, want the text %q", found, xssName)
	}
	alice.noInjection()
	alice.click(`#search-result .add`)
	bob.waitJS(`!document.getElementById("request-badge").hidden && document.getElementById("request-badge").textContent === "1"`)
	bob.click("#tab-friends")
	bob.click(`#request-list .request[data-peer="` + alice.phone + `"] .accept`)
	bob.waitJS(`document.getElementById("request-badge").hidden`)

	// Both ways, Chinese and emoji; then the HTML as a message.
	alice.openChat(bob.phone)
	alice.send("你好，Bob！👋 今天怎么样？")
	bob.openChat(alice.phone)
	bob.waitMessage("你好，Bob！👋 今天怎么样？")
	bob.send("很好，谢谢 😀")
	alice.waitMessage("很好，谢谢 😀")
	bob.send(xssBody)
	alice.waitMessage(xssBody)
	alice.noInjection()
	bob.noInjection()
	title := alice.text("#conv-title")
	if title != xssName {
		t.Fatalf("conversation title %q, want the name as text", title)
	}
	alice.screenshot(filepath.Join(shots, "web-desktop.png"))

	// Bob closes his tab; Alice writes meanwhile.
	bob.close()
	away := []string{"你在吗？", "Are you there? 🙂", "第三条消息"}
	for _, m := range away {
		alice.send(m)
	}
	// Bob comes back in a new tab of the same profile: still logged in
	// (resume token), the chat list counts them unread, and the
	// conversation shows them.
	bob.open(base)
	bob.waitOnline()
	bob.waitJS(`(document.querySelector('#chat-list button[data-peer="` + alice.phone + `"] .badge') || {}).textContent === "3"`)
	bob.openChat(alice.phone)
	for _, m := range away {
		bob.waitMessage(m)
	}
	// Opening it marked it read.
	bob.waitJS(`document.querySelector('#chat-list button[data-peer="` + alice.phone + `"] .badge') === null`)

	// A reload keeps the login.
	bob.run(chromedp.Reload())
	bob.waitOnline()
	me := bob.text("#me-id")
	if !strings.Contains(me, bob.phone) {
		t.Fatalf("after reload the page shows %q, want Bob's id", me)
	}
	if !eval[bool](bob, `document.getElementById("auth").hidden`) {
		t.Fatal("after reload the login form is shown")
	}
	bob.noInjection()

	// Phone width: the conversation alone, with a back button.
	bob.run(chromedp.EmulateViewport(390, 844))
	bob.openChat(alice.phone)
	bob.waitJS(`getComputedStyle(document.querySelector(".side")).display === "none" && getComputedStyle(document.getElementById("conv-back")).display !== "none"`)
	bob.screenshot(filepath.Join(shots, "web-phone.png"))
	t.Logf("screenshots in %s", shots)
}

// TestBrowserGroups: a browser user creates a group with a friend (an SDK
// client over TCP), sees its unread count in the group list when the friend
// writes, opens it (history, marked read), and writes back; the friend gets
// the push.
func TestBrowserGroups(t *testing.T) {
	b := browser(t)
	srv := apptest.Start(t)
	base := "http://" + srv.WebAddr() + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	alice := newUser(t, b, "Alice 爱丽丝", "13800000011")
	alice.open(base)
	alice.register()
	alice.login()

	bob, err := client.Dial(ctx, srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.Register(ctx, "13800000012", "Bob", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Login(ctx, "13800000012", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	if err := bob.AddFriend(ctx, alice.phone); err != nil {
		t.Fatal(err)
	}
	alice.click("#tab-friends")
	alice.click(`#request-list .request[data-peer="13800000012"] .accept`)
	alice.waitJS(`document.getElementById("request-badge").hidden`)

	// Alice creates the group from the page; it opens.
	alice.click("#tab-chats")
	alice.run(
		chromedp.SendKeys(chromedp.CSS("#group-name"), "Team 团队"),
		chromedp.SendKeys(chromedp.CSS("#group-members"), "13800000012"),
		chromedp.Click(chromedp.CSS(`#group-form button[type="submit"]`)),
	)
	alice.waitJS(`document.getElementById("conv-title").textContent === "Team 团队"`)
	var gid string
	for gid == "" {
		select {
		case m := <-bob.GroupMessages():
			if ev, ok := m.Event(); ok && ev.Event == "create" {
				gid = m.GroupID
			}
		case <-ctx.Done():
			t.Fatal("bob got no create event")
		}
	}

	// Alice leaves the group; Bob writes twice: the list counts 2 unread.
	alice.click("#conv-back")
	for _, body := range []string{"大家好 👋", "second"} {
		if _, err := bob.SendGroup(ctx, gid, body); err != nil {
			t.Fatal(err)
		}
	}
	alice.waitJS(`(document.querySelector('#group-list button[data-group="` + gid + `"] .badge') || {}).textContent === "2"`)
	alice.click(`#group-list button[data-group="` + gid + `"]`)
	alice.waitMessage("大家好 👋")
	alice.waitMessage("second")
	alice.waitJS(`document.querySelector('#group-list button[data-group="` + gid + `"] .badge') === null`)

	// Alice answers from the page; Bob gets the push.
	alice.send("hi Bob 🙂")
	for {
		select {
		case m := <-bob.GroupMessages():
			if m.Body == "hi Bob 🙂" && m.From == alice.phone {
				alice.noInjection()
				return
			}
		case <-ctx.Done():
			t.Fatal("bob got no push of alice's message")
		}
	}
}
