package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/chatgate/chatgate/session"
)

// chatBlock blocks (or, with no patterns, unblocks) URLs in b's tab: a
// WebSocket handshake to a blocked URL fails as when the network is down.
func (b *chatBrowser) chatBlock(patterns ...string) {
	b.t.Helper()
	params := network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{}}
	for _, p := range patterns {
		params.URLPatterns = append(params.URLPatterns, &network.BlockPattern{URLPattern: p, Block: true})
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetBlockedURLs, params); err != nil {
		b.t.Fatalf("%s: block %v: %v", b.name, patterns, err)
	}
}

// TestChatBrowserRecovers: Bob's page loses its connection and cannot get
// back for a while; what Alice says meanwhile shows on Bob's page once, in
// order, after it reconnects (the page recovers the room from its gateway).
func TestChatBrowserRecovers(t *testing.T) {
	c := chatStartCluster(t)
	var exceptions chatExceptions
	alice, bob := chatAliceAndBob(t, c, &exceptions)
	alice.say("before the cut")
	bob.waitJS("message before the cut", messageJS("before the cut", ""))

	ctx := context.Background()
	cids, err := c.store.ClientIDsByGroup(ctx, "lobby")
	if err != nil {
		t.Fatal(err)
	}
	var bobCID string
	for _, cid := range cids {
		if gw, _ := session.GatewayOf(cid); gw == "chatgw2" { // Bob's page uses the second gateway
			bobCID = cid
		}
	}
	if bobCID == "" {
		t.Fatalf("no lobby member on chatgw2 in %v", cids)
	}
	// Bob is offline (every request of his tab fails) until the block is
	// lifted; his connection ends.
	bob.chatBlock("*://*:*/*")
	if err := c.store.CloseClient(ctx, bobCID, nil); err != nil {
		t.Fatal(err)
	}
	bob.waitJS("Bob's page sees the connection gone", `document.getElementById('status').dataset.state !== 'connected'`)
	missed := []string{"said while Bob was away 1", "said while Bob was away 2", "said while Bob was away 3"}
	for _, m := range missed {
		alice.say(m)
	}
	alice.waitJS("Alice sees her last message", messageJS(missed[2], ""))
	time.Sleep(300 * time.Millisecond)
	if v, _ := chatEval[bool](bob, messageJS(missed[0], "")); v {
		t.Fatal("Bob's page got a message while it was cut off: the test cut nothing")
	}
	bob.chatBlock()
	bob.do("network back", chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event('online'))`))
	bob.waitJS("connected again", `document.getElementById('status').dataset.state === 'connected'`)
	bob.waitJS("missed messages shown", messageJS(missed[2], ""))
	alice.say("after the cut")
	bob.waitJS("live again", messageJS("after the cut", ""))
	texts, err := chatEval[[]string](bob, `Array.from(document.querySelectorAll('#messages .msg:not(.system) .msg-content')).map(e => e.textContent)`)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]string{"before the cut"}, missed...), "after the cut")
	start := -1
	for i, s := range texts {
		if s == want[0] {
			start = i
		}
	}
	if start < 0 || strings.Join(texts[start:], "|") != strings.Join(want, "|") {
		t.Fatalf("Bob's page shows %q, want … %q (each once, in order)", texts, want)
	}
	if ex := exceptions.all(); len(ex) > 0 {
		t.Fatalf("page exceptions: %v", ex)
	}
}

// TestChatBrowserHistoryWindow: what is said after Carol's page loaded the
// room's history and before its connection is bound to the room (POST
// /api/bind fails until the test lets it through) shows on her
// page once, in order: the page recovers the room from the position the
// history response gave (docs/http-api.md).
func TestChatBrowserHistoryWindow(t *testing.T) {
	c := chatStartCluster(t)
	var exceptions chatExceptions
	alice, bob := chatAliceAndBob(t, c, &exceptions)
	alice.say("before Carol")
	carol := chatOpenTab(t, bob, "Carol", "http://"+c.http[1].HTTPAddr+"/", &exceptions)
	carol.login("cat")
	// Carol's page cannot bind its connection yet: it enters the room, loads
	// the history and connects, but is not in the room.
	_, port, _ := strings.Cut(c.http[1].HTTPAddr, ":")
	carol.chatBlock("*://*:" + port + "/api/bind")
	carol.do("enter lobby", chromedp.Click(chromedp.CSS(`.room[data-room-id="lobby"]`)), chromedp.WaitVisible(chromedp.ID("room")))
	carol.waitJS("history shown", messageJS("before Carol", ".history"))
	window := []string{"after the history 1", "after the history 2"}
	for _, m := range window {
		alice.say(m)
	}
	alice.waitJS("Alice sees her last message", messageJS(window[1], ""))
	time.Sleep(300 * time.Millisecond)
	if v, _ := chatEval[bool](carol, messageJS(window[0], "")); v {
		t.Fatal("Carol's page got a message before it was bound: the test blocked nothing")
	}
	carol.chatBlock()
	carol.do("network back", chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event('online'))`))
	carol.waitJS("connected", `document.getElementById('status').dataset.state === 'connected'`)
	carol.waitJS("messages of the window shown", messageJS(window[1], ""))
	alice.say("live")
	carol.waitJS("live message", messageJS("live", ""))
	texts, err := chatEval[[]string](carol, `Array.from(document.querySelectorAll('#messages .msg:not(.system) .msg-content')).map(e => e.textContent)`)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]string{"before Carol"}, window...), "live"); strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Fatalf("Carol's page shows %q, want %q (each once, in order)", texts, want)
	}
	if ex := exceptions.all(); len(ex) > 0 {
		t.Fatalf("page exceptions: %v", ex)
	}
}
