package tests

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chatgate/chatgate/internal/app"
	"github.com/chatgate/chatgate/session"
)

// TestChatTwoTabs is the README's first run (issue 15): the all-in-one
// binary, ONE browser, two tabs of the same page logged in as two users.
// They chat both ways, and the second tab's login leaves the first tab's
// WebSocket open (same connection, still in the room).
func TestChatTwoTabs(t *testing.T) { chatTwoTabs(t) }

// TestChatTwoTabsStd is TestChatTwoTabs with the gateway on the std engine
// (--ws-engine std, coder/websocket): the page's WebSocket works the same.
func TestChatTwoTabsStd(t *testing.T) { chatTwoTabs(t, "--ws-engine", "std") }

func chatTwoTabs(t *testing.T, extra ...string) {
	st := chatRun(t, app.RoleAll, append([]string{"--ws-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-format", "text"}, extra...)...)
	store, err := session.Open(context.Background(), st.RedisURL, 5*time.Second, &session.Options{Prefix: session.DefaultPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	lobby := func() []string {
		cids, err := store.ClientIDsByGroup(context.Background(), "lobby")
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(cids)
		return cids
	}

	browserCtx := chatStartChromium(t)
	var exceptions chatExceptions
	url := "http://" + st.HTTPAddr + "/"
	alice := chatOpen(t, browserCtx, "Alice", url, &exceptions)
	// The second tab: same browser context, so same cookies.
	bob := chatOpenTab(t, alice, "Bob", url, &exceptions)
	if a, b := chromedp.FromContext(alice.ctx).BrowserContextID, chromedp.FromContext(bob.ctx).BrowserContextID; a == "" || a != b {
		t.Fatalf("the tabs are in browser contexts %q and %q, want one", a, b)
	}
	alice.loginAndEnter("fox")
	first := lobby()
	if len(first) != 1 {
		t.Fatalf("lobby after Alice entered: %v, want her one connection", first)
	}
	bob.loginAndEnter("owl")
	for _, b := range []*chatBrowser{alice, bob} {
		b.waitJS("both users listed", b.usersJS("Alice", "Bob"))
	}
	alice.say("hello from tab one")
	bob.waitJS("Alice's message", messageJS("hello from tab one", ""))
	bob.say("hello back from tab two")
	alice.waitJS("Bob's message", messageJS("hello back from tab two", ""))
	alice.waitJS("still connected", `document.getElementById('status').dataset.state === 'connected'`)
	both := lobby()
	if len(both) != 2 || !slices.Contains(both, first[0]) {
		t.Fatalf("lobby after Bob's login %v: Alice's connection %s must still be open", both, first[0])
	}

	// A new tab opens at the login form (a login of its own), though the
	// browser has two; a reload keeps the tab's own user.
	chatOpenTab(t, alice, "Carol", url, &exceptions)
	alice.do("reload", chromedp.Reload())
	alice.waitJS("back in the room", `document.getElementById('status').dataset.state === 'connected' && document.getElementById('me-name').textContent === 'Alice'`)
	bob.waitJS("Bob is still Bob", `document.getElementById('me-name').textContent === 'Bob'`)
	bob.say("after the reload")
	alice.waitJS("message after the reload", messageJS("after the reload", ""))
	if ex := exceptions.all(); len(ex) > 0 {
		t.Fatalf("page exceptions: %v", ex)
	}
}
