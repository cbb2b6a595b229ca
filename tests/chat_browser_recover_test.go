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
