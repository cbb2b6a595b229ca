package tests

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

// gwcCluster is a redis-server and three compatible gateway processes; the
// first also serves the Register.
type gwcCluster struct {
	url   string
	gws   []*gwcProc
	cl    *gwcClient
	store *session.Store
}

func gwcStartCluster(t *testing.T, extra ...string) *gwcCluster {
	t.Helper()
	rs := redistest.Start(t)
	c := &gwcCluster{url: rs.URL()}
	c.gws = append(c.gws, gwcStartGateway(t, rs.URL(), append([]string{"--gw-register-addr", "127.0.0.1:0"}, extra...)...))
	c.gws = append(c.gws, gwcStartGateway(t, rs.URL(), extra...), gwcStartGateway(t, rs.URL(), extra...))
	c.cl = &gwcClient{t: t, register: c.gws[0].register}
	c.store = faultOpenStore(t, rs.URL())
	want := []string{c.gws[0].inner, c.gws[1].inner, c.gws[2].inner}
	sort.Strings(want)
	testwait.For(t, pushDeadline, "Register lists the three gateways", func() error {
		if got := c.cl.addresses(); !slices.Equal(got, want) {
			return fmt.Errorf("addresses %v, want %v", got, want)
		}
		return nil
	})
	return c
}

// eqReply checks the serialized reply each gateway gave.
func eqReply(t *testing.T, what string, got map[string]phpserial.Value, want map[string]string) {
	t.Helper()
	for addr, w := range want {
		if g := gwcSer(got[addr]); g != w {
			t.Errorf("%s: gateway %s replied %s, want %s", what, addr, g, w)
		}
	}
}

// Every command GatewayClient's public methods send, against three gateway
// processes, through the Register, with real WebSocket clients: replies
// exact per gateway and merged across gateways, and exactly what each
// client receives.
func TestGatewayWorkerCommands(t *testing.T) {
	t.Parallel()
	c := gwcStartCluster(t)
	g1, g2, g3 := c.gws[0].inner, c.gws[1].inner, c.gws[2].inner
	a, b := pushConnect(t, c.gws[0].ws), pushConnect(t, c.gws[0].ws)
	cc, d := pushConnect(t, c.gws[1].ws), pushConnect(t, c.gws[2].ws)
	A, B, C, D := a.ID, b.ID, cc.ID, d.ID
	for name, want := range map[string]string{A: g1, B: g1, C: g2, D: g3} {
		if addr, _ := gwcSplit(t, name); addr != want {
			t.Fatalf("client id %s names %s, want its gateway %s", name, addr, want)
		}
	}
	cl, n := c.cl, func(cid string) string { _, x := gwcSplit(t, cid); return sprintf("%d", x) }
	ctx := context.Background()

	// Uids and groups; empty ones ignored, a re-bind replaces the uid.
	cl.toClient(gwcBindUid, A, "u1", "")
	cl.toClient(gwcBindUid, B, "old", "")
	cl.toClient(gwcBindUid, B, "u2", "")
	cl.toClient(gwcBindUid, B, "0", "")
	cl.toClient(gwcBindUid, C, "u1", "")
	cl.toClient(gwcBindUid, D, "42", "")
	for _, cid := range []string{A, B, C} {
		cl.toClient(gwcJoinGroup, cid, "room", "")
	}
	cl.toClient(gwcJoinGroup, A, "7", "")
	cl.toClient(gwcJoinGroup, D, "7", "")
	cl.toClient(gwcJoinGroup, B, "", "")

	// Counts: each gateway answers for its own share.
	room := cl.all(gwcPacket(gwcCountByGroup, 0, 0, "room", ""))
	eqReply(t, "count room", room, map[string]string{g1: "i:2;", g2: "i:1;", g3: "i:0;"})
	if got := gwcSum(t, cl.all(gwcPacket(gwcCountByGroup, 0, 0, "", ""))); got != 4 {
		t.Errorf("getAllClientIdCount = %d, want 4", got)
	}
	eqReply(t, "batch count", cl.all(gwcPacket(gwcBatchCount, 0, 0, `["room","7","none"]`, "")), map[string]string{
		g1: `a:3:{s:4:"room";i:2;i:7;i:1;s:4:"none";i:0;}`, g3: `a:3:{s:4:"room";i:0;i:7;i:1;s:4:"none";i:0;}`})

	// Uid lookups.
	if got, want := gwcConnList(t, cl.all(gwcPacket(gwcIDsByUid, 0, 0, "u1", ""))), sorted(A, C); !slices.Equal(got, want) {
		t.Errorf("getClientIdByUid(u1) = %v, want %v", got, want)
	}
	if got := gwcConnList(t, cl.all(gwcPacket(gwcIDsByUid, 0, 0, "old", ""))); len(got) != 0 {
		t.Errorf("the replaced uid still has %v", got)
	}
	eqReply(t, "batch ids by uid", cl.all(gwcPacket(gwcBatchIDsByUid, 0, 0, `["u1",42,"zz"]`, "")), map[string]string{
		g1: `a:3:{s:2:"u1";a:1:{i:0;i:` + n(A) + `;}i:42;a:0:{}s:2:"zz";a:0:{}}`,
		g3: `a:3:{s:2:"u1";a:0:{}i:42;a:1:{i:0;i:` + n(D) + `;}s:2:"zz";a:0:{}}`})
	eqReply(t, "group id list", cl.all(gwcPacket(gwcGroupIDList, 0, 0, "", "")), map[string]string{
		g1: `a:2:{i:0;i:7;i:1;s:4:"room";}`, g2: `a:1:{i:0;s:4:"room";}`, g3: `a:1:{i:0;i:7;}`})

	// SELECT, as getClientIdListByGroup, getAllClientIdList, getUidByClientId
	// and getAllGroupClientIdList send it.
	first, second := sorted(A, B)[0], sorted(A, B)[1]
	uidOf := map[string]string{A: "u1", B: "u2"}
	byGroup := cl.all(gwcPacket(gwcSelect, 0, 0, `{"fields":["uid"],"where":{"groups":["room"]}}`, ""))
	eqReply(t, "select uid where groups", byGroup, map[string]string{
		g1: `a:2:{i:` + n(first) + `;a:1:{s:3:"uid";s:2:"` + uidOf[first] + `";}i:` + n(second) + `;a:1:{s:3:"uid";s:2:"` + uidOf[second] + `";}}`,
		g3: `a:0:{}`})
	if got := gwcClientIDs(t, byGroup); !slices.Equal(got, sorted(A, B, C)) {
		t.Errorf("getClientIdListByGroup(room) = %v", got)
	}
	if got := gwcClientIDs(t, cl.all(gwcPacket(gwcSelect, 0, 0, `{"fields":["uid"],"where":[]}`, ""))); !slices.Equal(got, sorted(A, B, C, D)) {
		t.Errorf("getAllClientIdList = %v", got)
	}
	addrB, nb := gwcSplit(t, B)
	if got := gwcSer(cl.query(addrB, gwcPacket(gwcSelect, 0, 0, sprintf(`{"fields":["uid"],"where":{"connection_id":{"%d":%d}}}`, nb, nb), ""))); got != `a:1:{i:`+n(B)+`;a:1:{s:3:"uid";s:2:"u2";}}` {
		t.Errorf("getUidByClientId(B) reply %s", got)
	}
	eqReply(t, "select groups, uid, session where uid", cl.all(gwcPacket(gwcSelect, 0, 0, `{"fields":["groups","uid","session","nope"],"where":{"uid":["42"]}}`, "")), map[string]string{
		g3: `a:1:{i:` + n(D) + `;a:4:{s:6:"groups";a:1:{i:7;s:1:"7";}s:3:"uid";s:2:"42";s:7:"session";s:0:"";s:4:"nope";N;}}`, g1: `a:0:{}`})
	if got := gwcSer(cl.query(g1, gwcPacket(gwcSelect, 0, 0, `not json`, ""))); got != "a:0:{}" {
		t.Errorf("select with invalid JSON: %s", got)
	}

	// Sessions: exact round trip, array_replace_recursive, and the mapping
	// to and from the Go push API.
	sess := gwcArr("uid", "u1", "n", int64(5), "nest", gwcArr("x", phpserial.List(int64(1), int64(2)), "f", 1.5))
	cl.toClient(gwcSetSession, A, gwcSer(sess), "")
	if got := gwcSer(cl.queryClient(gwcGetSession, A)); got != gwcSer(sess) {
		t.Errorf("getSession after setSession = %s, want %s", got, gwcSer(sess))
	}
	upd := gwcArr("nest", gwcArr("x", phpserial.List(int64(9))), "new", true)
	cl.toClient(gwcUpdateSession, A, gwcSer(upd), "")
	merged := phpserial.ReplaceRecursive(sess, upd)
	if got := gwcSer(cl.queryClient(gwcGetSession, A)); got != gwcSer(merged) {
		t.Errorf("getSession after updateSession = %s, want %s", got, gwcSer(merged))
	}
	if got, err := c.store.Session(ctx, A); err != nil || !reflect.DeepEqual(got, session.Session{"uid": "u1", "n": "5", "new": "1"}) {
		t.Errorf("Go Session(A) = %v, %v", got, err)
	}
	if err := c.store.UpdateSession(ctx, A, session.Session{"n": "6"}); err != nil {
		t.Fatal(err)
	}
	merged.Set(phpserial.StrKey("n"), "6")
	if got := gwcSer(cl.queryClient(gwcGetSession, A)); got != gwcSer(merged) {
		t.Errorf("getSession after Go's UpdateSession = %s, want %s", got, gwcSer(merged))
	}
	if err := c.store.SetSession(ctx, C, session.Session{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if got := gwcSer(cl.queryClient(gwcGetSession, C)); got != `a:1:{s:1:"k";s:1:"v";}` {
		t.Errorf("getSession after Go's SetSession = %s", got)
	}
	cl.toClient(gwcUpdateSession, D, `a:1:{s:1:"z";i:1;}`, "") // no session yet: stored as sent
	if got := gwcSer(cl.queryClient(gwcGetSession, D)); got != `a:1:{s:1:"z";i:1;}` {
		t.Errorf("getSession after a first updateSession = %s", got)
	}
	if got := gwcSer(cl.queryClient(gwcGetSession, B)); got != "a:0:{}" {
		t.Errorf("getSession without a session = %s, want a:0:{}", got)
	}
	if got := gwcSer(cl.queryClient(gwcGetSession, gwcCID(t, g1, 12345))); got != "N;" {
		t.Errorf("getSession of an unknown connection = %s, want N;", got)
	}
	eqReply(t, "all sessions", cl.all(gwcPacket(gwcAllSessions, 0, 0, "", "")), map[string]string{
		g2: `a:1:{i:` + n(C) + `;s:22:"a:1:{s:1:"k";s:1:"v";}";}`, g3: `a:1:{i:` + n(D) + `;s:18:"a:1:{s:1:"z";i:1;}";}`})
	eqReply(t, "sessions by group", cl.all(gwcPacket(gwcSessionsByGroup, 0, 0, "7", "")), map[string]string{
		g2: `a:0:{}`, g3: `a:1:{i:` + n(D) + `;s:18:"a:1:{s:1:"z";i:1;}";}`})

	if got := gwcSer(cl.queryClient(gwcIsOnline, A)); got != "i:1;" {
		t.Errorf("isOnline(A) = %s", got)
	}
	if got := gwcSer(cl.queryClient(gwcIsOnline, gwcCID(t, g2, 1))); got != "i:0;" {
		t.Errorf("isOnline(unknown) = %s", got)
	}

	gwcSends(t, c, a, b, cc, d)
}

// gwcSends: the send commands and close, and exactly what each client gets.
func gwcSends(t *testing.T, c *gwcCluster, a, b, cc, d *pushClient) {
	cl := c.cl
	A, B, C, D := a.ID, b.ID, cc.ID, d.ID
	cl.toClient(gwcSendToOne, A, "", "s1")
	cl.sendToGroup([]string{"room"}, "room-but-A", false, A)
	cl.sendToGroup([]string{"room", "7"}, "room-and-7", false) // A is in both: once
	cl.send(gwcSplitAddr(t, C), gwcPacket(gwcSendToUid, 0, 0, `["u1"]`, "to-u1"))
	cl.send(gwcSplitAddr(t, A), gwcPacket(gwcSendToUid, 0, 0, `["u1"]`, "to-u1"))
	for _, addr := range cl.addresses() { // sendToAll with an exclude list
		cl.send(addr, gwcPacket(gwcSendToAll, 0, 0, gwcExcludeExt(t, addr, C), "all-but-C"))
	}
	cl.send(gwcSplitAddr(t, A), gwcPacket(gwcSendToAll, 0, 0, sprintf(`{"connections":{"%s":%s}}`, nOf(t, A), nOf(t, A)), "to-A-and-D"))
	cl.send(gwcSplitAddr(t, D), gwcPacket(gwcSendToAll, 0, 0, sprintf(`{"connections":{"%s":%s}}`, nOf(t, D), nOf(t, D)), "to-A-and-D"))
	cl.sendToGroup([]string{"7"}, "\x81\x03raw", true)
	long := strings.Repeat("L", 200)
	cl.sendAll(gwcPacket(gwcSendToAll, 0, gwcFlagRaw, "", "\x81\x7e\x00\xc8"+long))
	cl.toClient(gwcSendToOne, A, "", "\xff\xfe not UTF-8") // refused: chatgate sends text frames
	cl.toClient(gwcUnbindUid, C, "ignored", "")
	cl.sendAll(gwcPacket(gwcSendToUid, 0, 0, `["u1"]`, "u1-after-C-unbound"))
	cl.toClient(gwcLeaveGroup, B, "room", "")
	if got := gwcSum(t, cl.all(gwcPacket(gwcCountByGroup, 0, 0, "room", ""))); got != 2 {
		t.Errorf("room after B left counts %d, want 2", got)
	}
	cl.sendAll(gwcPacket(gwcUngroup, 0, 0, "7", ""))
	if got := gwcSum(t, cl.all(gwcPacket(gwcCountByGroup, 0, 0, "7", ""))); got != 0 {
		t.Errorf("group 7 after ungroup counts %d", got)
	}
	cl.sendToGroup([]string{"7"}, "to-dissolved-7", false)
	cl.toClient(gwcKick, B, "", "bye-B")
	cl.toClient(gwcDestroy, D, "", nil)
	if code := b.waitClosed(t, "B"); code != websocket.StatusNormalClosure {
		t.Errorf("B closed with %v, want 1000 after its last message", code)
	}
	d.waitClosed(t, "D")
	testwait.For(t, pushDeadline, "closed clients forgotten", func() error {
		if got := gwcSum(t, cl.all(gwcPacket(gwcCountByGroup, 0, 0, "", ""))); got != 2 {
			return fmt.Errorf("getAllClientIdCount = %d", got)
		}
		return nil
	})
	// The Go push API reaches compact ids as any other.
	if err := c.store.SendToClient(context.Background(), C, []byte("from-go")); err != nil {
		t.Fatal(err)
	}
	cl.sendAll(gwcPacket(gwcSendToAll, 0, 0, "", "marker"))
	want := map[string][]string{
		"A": {"s1", "room-and-7", "to-u1", "all-but-C", "to-A-and-D", "raw", long, "u1-after-C-unbound", "marker"},
		"B": {"room-but-A", "room-and-7", "all-but-C", long, "bye-B"},
		"C": {"room-but-A", "room-and-7", "to-u1", long, "from-go", "marker"},
		"D": {"room-and-7", "all-but-C", "to-A-and-D", "raw", long},
	}
	for name, cl := range map[string]*pushClient{"A": a, "B": b, "C": cc, "D": d} {
		got := cl.waitFrames(t, name, want[name]...)
		if name == "A" || name == "C" {
			got = cl.waitFrames(t, name, "marker")
		}
		if !slices.Equal(got, want[name]) {
			t.Errorf("client %s got %q\n                want %q", name, got, want[name])
		}
	}
}

func gwcSplitAddr(t *testing.T, cid string) string { a, _ := gwcSplit(t, cid); return a }

func nOf(t *testing.T, cid string) string { _, n := gwcSplit(t, cid); return sprintf("%d", n) }

func gwcExcludeExt(t *testing.T, addr string, cids ...string) string {
	if ex := gwcExclude(t, addr, cids...); ex != "" {
		return `{"exclude":` + ex + `}`
	}
	return ""
}

func sorted(s ...string) []string { s = slices.Clone(s); sort.Strings(s); return s }
