package tests

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestChatRoomDeletedByOperator: an operator deletes a room with the API
// key (DELETE /admin/rooms/{id}); the pages of its members, on two HTTP apps
// and two gateways, get room_deleted and go back to the room list, which no
// longer shows it; the page still works afterwards.
func TestChatRoomDeletedByOperator(t *testing.T) {
	c := chatStartCluster(t, "--api-keys", "chat-op-key")
	var exceptions chatExceptions
	alice, bob := chatAliceAndBob(t, c, &exceptions)

	del := func(key string) int {
		t.Helper()
		req, _ := http.NewRequest("DELETE", "http://"+c.http[1].InternalAddr+"/admin/rooms/lobby", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := del("wrong"); st != 401 {
		t.Fatalf("DELETE with a wrong key: %d, want 401", st)
	}
	alice.say("still here")
	bob.waitJS("room alive after a refused delete", messageJS("still here", ""))
	if st := del("chat-op-key"); st != 200 {
		t.Fatalf("DELETE /admin/rooms/lobby: %d, want 200", st)
	}
	for _, b := range []*chatBrowser{alice, bob} {
		b.waitJS("back in the room list", `!document.getElementById('lobby').hidden && document.getElementById('room').hidden`)
		b.waitJS("told why", `document.getElementById('toast').textContent === 'This room was deleted.'`)
		b.waitJS("deleted room not listed", `document.getElementById('rooms-updated').textContent !== '' && !document.querySelector('.room[data-room-id="lobby"]')`)
	}
	// The page carries on: a new room, entered and connected.
	alice.do("create a room",
		chromedp.SendKeys(chromedp.ID("new-room-name"), "Fresh"),
		chromedp.Click(chromedp.ID("create-room")),
		chromedp.WaitVisible(chromedp.ID("room")),
	)
	alice.waitJS("connected in the new room", `document.getElementById('status').dataset.state === 'connected'`)
	alice.say("a fresh start")
	alice.waitJS("message in the new room", messageJS("a fresh start", ""))
	if ex := exceptions.all(); len(ex) > 0 {
		t.Fatalf("page exceptions: %v", ex)
	}
}
