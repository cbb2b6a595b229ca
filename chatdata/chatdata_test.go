package chatdata

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// chatStore returns a Store on a fresh miniredis.
func chatStore(t *testing.T) (*Store, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return New(rdb, &Options{Prefix: "t:"}), mr
}

func TestChatKeys(t *testing.T) {
	t.Parallel()
	k := keys{"chat:"}
	tests := []struct {
		name string
		got  Key
		want string
	}{
		{"room", k.chatRoom("r1"), "chat:room:{r1}"},
		{"rooms", k.chatRooms(), "chat:rooms"},
		{"history", k.chatHistory("r1"), "chat:history:{r1}"},
		{"user", k.chatUser("u1"), "chat:user:{u1}"},
		{"login", k.chatLogin("s1"), "chat:login:{s1}"},
		{"logout", k.chatLogout("s1"), "chat:logout:{s1}"},
		{"tokens", k.chatTokens("s1"), "chat:tokens:{s1}"},
		{"revoked", k.chatRevoked("j1"), "chat:revoked:{j1}"},
		{"limit", k.chatLimit("say:ip:1.2.3.4"), "chat:limit:{say:ip:1.2.3.4}"},
	}
	for _, tc := range tests {
		if string(tc.got) != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

// TestChatKeysDocumented: the chat key table of docs/http-api.md lists
// exactly what the chat key builders produce, in order.
func TestChatKeysDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "## Redis keys of the chat app")
	if !ok {
		t.Fatal("docs/http-api.md has no chat key table")
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(table, -1) {
		documented = append(documented, m[1])
	}
	k := keys{""}
	built := []Key{k.chatRoom("id"), k.chatRooms(), k.chatMembers("id"), k.chatHistory("id"), k.chatUser("uid"),
		k.chatLogin("sid"), k.chatLogout("sid"), k.chatTokens("sid"), k.chatRevoked("jti"), k.chatLimit("key")}
	if fmt.Sprint(documented) != fmt.Sprint(built) {
		t.Fatalf("doc lists %v, code builds %v", documented, built)
	}
}

func TestRooms(t *testing.T) {
	t.Parallel()
	s, _ := chatStore(t)
	ctx := context.Background()
	for i, id := range []string{"a", "b", "a"} {
		created, err := s.CreateRoom(ctx, id, fmt.Sprintf("Room %d", i))
		if err != nil {
			t.Fatal(err)
		}
		if created != (i < 2) {
			t.Fatalf("create %s #%d: created=%v", id, i, created)
		}
	}
	r, err := s.Room(ctx, "a")
	if err != nil || r.Name != "Room 0" || r.Created.IsZero() {
		t.Fatalf("Room a: %+v %v", r, err)
	}
	if _, err := s.Room(ctx, "zz"); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("unknown room: %v", err)
	}
	if _, err := s.Room(ctx, "{bad}"); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("invalid room id: %v", err)
	}
	if n, err := s.RoomCount(ctx); n != 2 || err != nil {
		t.Fatalf("RoomCount %d %v", n, err)
	}
}

// TestRoomsMostActiveFirst: the room list is ordered by the latest public
// message, else by creation, newest first; a message never moves a room
// down (clock skew between replicas) and never brings a deleted room back.
func TestRoomsMostActiveFirst(t *testing.T) {
	t.Parallel()
	s, mr := chatStore(t)
	ctx := context.Background()
	for i, id := range []string{"a", "b", "c", "d"} {
		if _, err := s.CreateRoom(ctx, id, "Room "+id); err != nil {
			t.Fatal(err)
		}
		// As if created long ago, a first: creation order without sleeping.
		if _, err := mr.ZAdd("t:rooms", float64(1000*(i+1)), id); err != nil {
			t.Fatal(err)
		}
	}
	list := func() string {
		t.Helper()
		rooms, err := s.Rooms(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		ids := ""
		for _, r := range rooms {
			ids += r.ID
		}
		return ids
	}
	if got := list(); got != "dcb" {
		t.Fatalf("newest first, 3 of 4: %q, want dcb", got)
	}
	if err := s.AppendHistory(ctx, "a", []byte(`{}`), 5); err != nil {
		t.Fatal(err)
	}
	if got := list(); got != "adc" {
		t.Fatalf("after a message in a: %q, want adc", got)
	}
	future := float64(time.Now().Add(time.Hour).UnixMilli())
	if _, err := mr.ZAdd("t:rooms", future, "c"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(ctx, "c", []byte(`{}`), 5); err != nil {
		t.Fatal(err)
	}
	if score, _ := mr.ZScore("t:rooms", "c"); score != future {
		t.Fatalf("a message moved room c down: score %v, want %v", score, future)
	}
	if _, err := s.DeleteRoom(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendHistory(ctx, "a", []byte(`{}`), 5); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("message to a deleted room: %v, want ErrNoRoom", err)
	}
	if got := list(); got != "cdb" {
		t.Fatalf("after deleting a: %q, want cdb", got)
	}
}

// TestDeleteRoom: a deleted room loses its hash, history, members and list
// entry, and no later write brings any of them back.
func TestDeleteRoom(t *testing.T) {
	t.Parallel()
	s, mr := chatStore(t)
	ctx := context.Background()
	for _, id := range []string{"r", "keep"} {
		if _, err := s.CreateRoom(ctx, id, "Room"); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendHistory(ctx, id, []byte(`{"type":"all"}`), 5); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkPresent(ctx, id, "u1"); err != nil {
			t.Fatal(err)
		}
	}
	existed, err := s.DeleteRoom(ctx, "r")
	if err != nil || !existed {
		t.Fatalf("DeleteRoom: %v %v", existed, err)
	}
	if existed, err := s.DeleteRoom(ctx, "r"); err != nil || existed {
		t.Fatalf("DeleteRoom again: %v %v, want false", existed, err)
	}
	if err := s.AppendHistory(ctx, "r", []byte(`{}`), 5); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("AppendHistory after delete: %v, want ErrNoRoom", err)
	}
	if added, err := s.MarkPresent(ctx, "r", "u2"); added || !errors.Is(err, ErrNoRoom) {
		t.Fatalf("MarkPresent after delete: %v %v, want ErrNoRoom", added, err)
	}
	for _, k := range []string{"t:room:{r}", "t:history:{r}", "t:members:{r}"} {
		if mr.Exists(k) {
			t.Errorf("%s still exists", k)
		}
	}
	if _, err := s.Room(ctx, "r"); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("Room after delete: %v", err)
	}
	if rooms, _ := s.Rooms(ctx, 10); len(rooms) != 1 || rooms[0].ID != "keep" {
		t.Fatalf("Rooms after delete: %+v", rooms)
	}
	if h, _ := s.History(ctx, "keep", 10); len(h) != 1 || !mr.Exists("t:members:{keep}") {
		t.Fatalf("the other room was touched: history %v", h)
	}
	if _, err := s.DeleteRoom(ctx, "{bad}"); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("invalid id: %v", err)
	}
}

func TestHistoryCapped(t *testing.T) {
	t.Parallel()
	s, _ := chatStore(t)
	ctx := context.Background()
	if _, err := s.CreateRoom(ctx, "r", "Room"); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if err := s.AppendHistory(ctx, "r", []byte(fmt.Sprint(i)), 5); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		n    int
		want string
	}{{3, "[4 5 6]"}, {10, "[2 3 4 5 6]"}, {0, "[]"}}
	for _, tc := range tests {
		got, err := s.History(ctx, "r", tc.n)
		if err != nil || fmt.Sprint(got) != tc.want {
			t.Errorf("History(%d) = %v %v, want %s", tc.n, got, err, tc.want)
		}
	}
}

func TestUsers(t *testing.T) {
	t.Parallel()
	s, mr := chatStore(t)
	ctx := context.Background()
	if err := s.SetUser(ctx, "u1", map[string]string{"name": "Ada"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if u, err := s.User(ctx, "u1"); err != nil || u["name"] != "Ada" {
		t.Fatalf("User: %v %v", u, err)
	}
	if mr.TTL("t:user:{u1}") <= 0 {
		t.Fatal("user profile has no TTL")
	}
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(ctx, "u1"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("deleted user: %v", err)
	}
}

// TestEndLogin: a logged-out session is gone for good (not found, never
// saved again, issued no token), and every token recorded for it is revoked.
func TestEndLogin(t *testing.T) {
	t.Parallel()
	s, mr := chatStore(t)
	ctx := context.Background()
	st := s.LoginStorage(0)
	for _, sid := range []string{"sid1", "sid2"} {
		if err := st.Set(sid, []byte("data-"+sid), time.Hour); err != nil {
			t.Fatal(err)
		}
		for _, jti := range []string{"a-" + sid, "b-" + sid} {
			if err := s.RecordToken(ctx, sid, jti, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ttl := mr.TTL("t:tokens:{sid1}"); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("token ids TTL %v, want the token lifetime", ttl)
	}
	if r, err := s.TokenRevoked(ctx, "a-sid1"); r || err != nil {
		t.Fatalf("revoked before logout: %v %v", r, err)
	}
	for range 2 { // a retried logout is harmless
		if err := s.EndLogin(ctx, "sid1", time.Hour, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	for jti, want := range map[string]bool{"a-sid1": true, "b-sid1": true, "a-sid2": false, "never-issued": false} {
		if r, err := s.TokenRevoked(ctx, jti); r != want || err != nil {
			t.Errorf("TokenRevoked(%s) = %v %v, want %v", jti, r, err, want)
		}
	}
	if ttl := mr.TTL("t:revoked:{a-sid1}"); ttl <= 0 || ttl > time.Minute {
		t.Errorf("revocation TTL %v, want the token lifetime", ttl)
	}
	if ttl := mr.TTL("t:logout:{sid1}"); ttl <= time.Minute || ttl > time.Hour {
		t.Errorf("logout marker TTL %v, want the login lifetime", ttl)
	}
	// The data is still there (Destroy deletes it), yet the session is gone.
	if v, err := st.Get("sid1"); v != nil || err != nil {
		t.Fatalf("logged-out session found: %q %v", v, err)
	}
	if err := st.Set("sid1", []byte("again"), time.Hour); !errors.Is(err, ErrLoggedOut) {
		t.Fatalf("save after logout: %v, want ErrLoggedOut", err)
	}
	if got, _ := mr.Get("t:login:{sid1}"); got != "data-sid1" {
		t.Fatalf("refused save wrote %q", got)
	}
	if err := s.RecordToken(ctx, "sid1", "c-sid1", time.Minute); !errors.Is(err, ErrLoggedOut) {
		t.Fatalf("token for a logged-out session: %v, want ErrLoggedOut", err)
	}
	if v, err := st.Get("sid2"); string(v) != "data-sid2" || err != nil {
		t.Fatalf("other session: %q %v", v, err)
	}
	if _, err := s.TokenRevoked(ctx, "{x}"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("invalid jti: %v", err)
	}
}

func TestKVStorage(t *testing.T) {
	t.Parallel()
	s, mr := chatStore(t)
	st := s.LoginStorage(0)
	if v, err := st.Get("missing"); v != nil || err != nil {
		t.Fatalf("missing: %v %v", v, err)
	}
	if err := st.Set("k1", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.Set("k2", []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	if err := st.Set("{bad}", []byte("v"), 0); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("bad key: %v", err)
	}
	if !mr.Exists("t:login:{k1}") || mr.TTL("t:login:{k1}") <= 0 {
		t.Fatal("k1 not stored under its key with a TTL")
	}
	if v, err := st.Get("k1"); string(v) != "v1" || err != nil {
		t.Fatalf("get k1: %q %v", v, err)
	}
	mr.Set("t:limit:{k1}", "x")
	if err := st.Delete("k1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Get("k1"); v != nil {
		t.Fatal("k1 not deleted")
	}
	if err := st.Reset(); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Get("k2"); v != nil {
		t.Fatal("k2 not reset")
	}
	if !mr.Exists("t:limit:{k1}") {
		t.Fatal("Reset of the login storage touched another key")
	}
	mr.Close()
	if _, err := st.Get("k2"); err == nil {
		t.Fatal("Get with Redis down: no error")
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	s, mr := chatStore(t)
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		r, err := s.RateLimit(ctx, "say:uid:u1", 3, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed != (i <= 3) || r.Count != int64(i) {
			t.Fatalf("request %d: %+v", i, r)
		}
		if i == 4 && (r.RetryAfter <= 0 || r.RetryAfter > time.Minute) {
			t.Fatalf("RetryAfter %v", r.RetryAfter)
		}
	}
	if r, _ := s.RateLimit(ctx, "say:uid:u2", 3, time.Minute); !r.Allowed {
		t.Fatal("another key is limited too")
	}
	mr.FastForward(61 * time.Second)
	if r, _ := s.RateLimit(ctx, "say:uid:u1", 3, time.Minute); !r.Allowed || r.Count != 1 {
		t.Fatalf("after the window: %+v", r)
	}
	// A window in its last millisecond (PTTL 0) ends: it is not mistaken
	// for a counter without TTL and restarted for a whole window.
	for range 3 {
		_, _ = s.RateLimit(ctx, "say:uid:u1", 3, time.Minute)
	}
	mr.SetTTL("t:limit:{say:uid:u1}", 500*time.Microsecond)
	r, err := s.RateLimit(ctx, "say:uid:u1", 3, time.Minute)
	if err != nil || r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > time.Second {
		t.Fatalf("in the last millisecond: %+v %v, want refused, retry within 1s", r, err)
	}
	if ttl := mr.TTL("t:limit:{say:uid:u1}"); ttl > time.Millisecond {
		t.Fatalf("the ending window was restarted: TTL %v", ttl)
	}
}

func TestMembers(t *testing.T) {
	t.Parallel()
	s, mr := chatStore(t)
	ctx := context.Background()
	if _, err := s.CreateRoom(ctx, "r", "Room"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() (bool, error)
		want bool
	}{
		{"absent from a missing set: announce (data lost)", func() (bool, error) { return s.MarkAbsent(ctx, "r", "u1") }, true},
		{"first present", func() (bool, error) { return s.MarkPresent(ctx, "r", "u1") }, true},
		{"present again", func() (bool, error) { return s.MarkPresent(ctx, "r", "u1") }, false},
		{"other present", func() (bool, error) { return s.MarkPresent(ctx, "r", "u2") }, true},
		{"u1 absent", func() (bool, error) { return s.MarkAbsent(ctx, "r", "u1") }, true},
		{"u1 absent twice: once only", func() (bool, error) { return s.MarkAbsent(ctx, "r", "u1") }, false},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil || got != st.want {
			t.Fatalf("%s: %v %v, want %v", st.name, got, err, st.want)
		}
	}
	if !mr.Exists("t:members:{r}") {
		t.Fatal("members set not under its key")
	}
}
