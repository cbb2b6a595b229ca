package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

// TestFaultRecoverMatrix runs 20 members of a recoverable group over 2
// gateways (each behind a TCP proxy the test can sever) while a message is
// sent every 20 ms, and one fault strikes: (a) a gateway drains, (b) the
// client network is cut for 5 s without a close frame, (c) redis-server
// restarts with AOF, (d) FLUSHALL. The members are clients written from
// docs/client-protocol.md "Recovery": they track epoch and seq, send recover
// after a reconnect or a gap, and drop a seq they have. After (a)–(c) every
// member's transcript equals the group's log (no gap, no duplicate, in seq
// order); after (d) every member is told epoch_changed and keeps receiving.
func TestFaultRecoverMatrix(t *testing.T) {
	faultBinary(t) // build once, before the parallel subtests
	cases := []struct {
		name  string
		fault func(t *testing.T, m *recMatrix)
	}{
		{"drain", func(t *testing.T, m *recMatrix) {
			_ = m.gws[0].cmd.Process.Signal(syscall.SIGTERM)
			<-m.gws[0].done
		}},
		{"network_cut", func(t *testing.T, m *recMatrix) {
			for _, p := range m.proxies {
				p.cut(5 * time.Second)
			}
			time.Sleep(5 * time.Second)
		}},
		{"redis_restart_aof", func(t *testing.T, m *recMatrix) {
			m.rs.Stop(t)
			time.Sleep(2 * time.Second)
			m.rs.Restart(t)
		}},
		{"flushall", func(t *testing.T, m *recMatrix) {
			if err := m.rs.Client(t).FlushAll(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(4 * time.Second) // the gateways re-assert their clients within --alive-ttl/3
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := startRecMatrix(t, 20)
			m.run(t, tc.fault)
			if tc.name == "flushall" {
				m.checkEpochChanged(t)
			} else {
				m.checkTranscripts(t)
			}
		})
	}
}

// recMatrix is one subtest's world: Redis (AOF), 2 gateways, a proxy in
// front of each, the members and the test's own Store.
type recMatrix struct {
	rs      *redistest.Server
	gws     []*faultProc
	proxies []*recProxy
	st      *session.Store
	members []*recMember
	group   string
	sent    []int // n of every send that returned nil
}

func startRecMatrix(t *testing.T, n int) *recMatrix {
	rs := redistest.StartWith(t, "--appendonly", "yes", "--appendfsync", "always")
	m := &recMatrix{rs: rs, group: "room", st: faultOpenStore(t, rs.URL())}
	for range 2 {
		gw := faultStartGateway(t, rs.URL(), "--drain-timeout", "2s", "--redis-timeout", "1s")
		m.gws = append(m.gws, gw)
		m.proxies = append(m.proxies, startRecProxy(t, gw.addr))
	}
	addrs := []string{m.proxies[0].addr(), m.proxies[1].addr()}
	epoch, seq, err := m.st.EnableRecovery(t.Context(), m.group, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		mb := &recMember{name: fmt.Sprint("m", i), addrs: addrs, next: i % 2, st: m.st, group: m.group}
		mb.adoptLocked(epoch, seq) // not shared yet
		if err := mb.connect(t.Context()); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		m.members = append(m.members, mb)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, mb := range m.members {
		wg.Go(func() { mb.run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return m
}

// run sends a message every 20 ms for 1 s, strikes, and sends on for 3 s
// after the fault returned (at most 1,000 sends).
func (m *recMatrix) run(t *testing.T, fault func(*testing.T, *recMatrix)) {
	ctx := t.Context()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 1; n <= 1000; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			err := m.st.SendToGroup(sctx, m.group, fmt.Appendf(nil, `{"type":"say","n":%d}`, n), session.Recoverable())
			cancel()
			if err == nil {
				m.sent = append(m.sent, n)
			}
		}
	}()
	time.Sleep(time.Second)
	start := time.Now()
	fault(t, m)
	t.Logf("fault took %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	close(stop)
	<-done
}

// waitAtLogEnd reads the group's log and waits until every member is at its
// epoch and last seq.
func (m *recMatrix) waitAtLogEnd(t *testing.T) *session.GroupLog {
	l, err := m.st.GroupLogSince(t.Context(), m.group, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 15*time.Second, "every member at the log's epoch and last seq", func() error {
		for _, mb := range m.members {
			if e, s := mb.position(); e != l.Epoch || s != l.Seq {
				return fmt.Errorf("%v; log at %s/%d", mb, l.Epoch, l.Seq)
			}
		}
		return nil
	})
	return l
}

// checkTranscripts waits until every member has the log's last seq and
// compares each transcript with the log.
func (m *recMatrix) checkTranscripts(t *testing.T) {
	l := m.waitAtLogEnd(t)
	logged := map[int]bool{}
	var want []recEntry
	for _, e := range l.Entries {
		n := sayN([]byte(e.Payload))
		logged[n] = true
		want = append(want, recEntry{seq: e.Seq, n: n})
	}
	for _, n := range m.sent {
		if !logged[n] {
			t.Errorf("message %d was accepted but is not in the log", n)
		}
	}
	var reconnects, recovered, gaps, replayed int
	var took []time.Duration
	for _, mb := range m.members {
		mb.mu.Lock()
		if !slices.Equal(mb.transcript, want) {
			t.Errorf("%s: transcript of %d differs from the log of %d: %s", mb.name, len(mb.transcript), len(want), diffEntries(mb.transcript, want))
		}
		reconnects += mb.reconnects
		recovered += mb.recovered
		gaps += mb.gaps
		replayed += mb.replayed
		took = append(took, mb.took...)
		if len(mb.failed) > 0 {
			t.Errorf("%s: recover_failed %v", mb.name, mb.failed)
		}
		mb.mu.Unlock()
	}
	slices.Sort(took)
	t.Logf("messages: %d accepted, %d logged (epoch %s); members: %d, reconnects %d, recovered %d (%d asked on a gap in seq), frames dropped as already had %d; recover sent → recovered p50 %v max %v",
		len(m.sent), len(want), l.Epoch, len(m.members), reconnects, recovered, gaps, replayed,
		faultPercentile(took, 50).Round(time.Millisecond), faultPercentile(took, 100).Round(time.Millisecond))
}

// checkEpochChanged checks that after FLUSHALL every member was told
// epoch_changed, moved to the new epoch, and receives its messages.
func (m *recMatrix) checkEpochChanged(t *testing.T) {
	l := m.waitAtLogEnd(t)
	var took []time.Duration
	for _, mb := range m.members {
		mb.mu.Lock()
		if !slices.Contains(mb.failed, "epoch_changed") {
			t.Errorf("%s: not told epoch_changed (recover_failed: %v)", mb.name, mb.failed)
		}
		if len(mb.epochs) != 2 || mb.epochs[1] != l.Epoch {
			t.Errorf("%s: epochs %v, want the first and %s", mb.name, mb.epochs, l.Epoch)
		}
		took = append(took, mb.took...)
		mb.mu.Unlock()
	}
	for i, g := range m.gws {
		if faultReadyz(g) != 200 {
			t.Errorf("gateway %d not ready after FLUSHALL", i)
		}
	}
	slices.Sort(took)
	t.Logf("messages: %d accepted; new epoch %s at seq %d; %d members told epoch_changed; recover sent → result p50 %v max %v",
		len(m.sent), l.Epoch, l.Seq, len(m.members), faultPercentile(took, 50).Round(time.Millisecond), faultPercentile(took, 100).Round(time.Millisecond))
}

// recEntry is one message a member accepted.
type recEntry struct {
	seq int64
	n   int
}

func diffEntries(got, want []recEntry) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("first difference at %d: got %v, want %v", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

func sayN(data []byte) int {
	var m struct{ N int }
	_ = json.Unmarshal(data, &m)
	return m.N
}

// recMember is a client of one member: it reconnects (rotating over addrs),
// rejoins the group, and recovers what it missed.
type recMember struct {
	name  string
	addrs []string
	next  int // index in addrs of the next dial
	st    *session.Store
	group string

	ws *websocket.Conn // owned by run

	mu         sync.Mutex
	epoch      string
	last       int64
	epochs     []string // epochs in the order the member adopted them
	transcript []recEntry
	pending    time.Time // when the pending recover was sent (zero: none)
	reconnects int
	recovered  int
	replayed   int             // frames dropped because the member had their seq
	gaps       int             // recoveries asked for on a gap in seq
	took       []time.Duration // recover sent → recovered
	failed     []string        // reasons of recover_failed
}

func (mb *recMember) String() string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return fmt.Sprintf("%s at %s/%d (reconnects %d, recovered %d, recover_failed %v, recovery pending: %v)",
		mb.name, mb.epoch, mb.last, mb.reconnects, mb.recovered, mb.failed, !mb.pending.IsZero())
}

func (mb *recMember) position() (string, int64) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.epoch, mb.last
}

// connect dials the next address, joins the group and, after a reconnect,
// asks for what the member missed.
func (mb *recMember) connect(ctx context.Context) error {
	addr := mb.addrs[mb.next%len(mb.addrs)]
	mb.next++
	ws, cid, _, err := faultDial(ctx, addr, faultDialOptions{})
	if err != nil {
		return err
	}
	jctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := mb.st.JoinGroup(jctx, cid, mb.group); err != nil {
		ws.CloseNow()
		return fmt.Errorf("join: %w", err)
	}
	mb.ws = ws
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if mb.reconnects > 0 {
		mb.sendRecoverLocked(ctx)
	}
	return nil
}

// sendRecoverLocked sends the recover frame for the member's position.
func (mb *recMember) sendRecoverLocked(ctx context.Context) {
	if mb.pending.IsZero() {
		mb.pending = time.Now()
	}
	// The frame must start with {"type":"recover", (a map would sort "type" last).
	b, _ := json.Marshal(struct {
		Type  string `json:"type"`
		Group string `json:"group"`
		Epoch string `json:"epoch"`
		Since int64  `json:"since"`
	}{"recover", mb.group, mb.epoch, mb.last})
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_ = mb.ws.Write(wctx, websocket.MessageText, b) // a failed write ends the read too
}

// run reads frames until ctx ends, reconnecting (every 100 ms) when the
// connection is lost.
func (mb *recMember) run(ctx context.Context) {
	defer func() { mb.ws.CloseNow() }()
	for ctx.Err() == nil {
		for {
			_, data, err := mb.ws.Read(ctx)
			if err != nil {
				break
			}
			mb.onFrame(ctx, data)
		}
		mb.ws.CloseNow()
		mb.mu.Lock()
		mb.pending = time.Time{}
		mb.reconnects++
		mb.mu.Unlock()
		for ctx.Err() == nil {
			if err := mb.connect(ctx); err == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// onFrame applies docs/client-protocol.md "Recovery".
func (mb *recMember) onFrame(ctx context.Context, data []byte) {
	var f struct {
		Type, Group, Epoch, Reason string
		Seq                        int64
		N                          int
	}
	if json.Unmarshal(data, &f) != nil || f.Group != mb.group {
		return
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	switch f.Type {
	case "recovered":
		mb.recovered++
		mb.finishRecoveryLocked()
	case "recover_failed":
		mb.failed = append(mb.failed, f.Reason)
		if f.Reason == "epoch_changed" || f.Reason == "trimmed" {
			// A page would reload; the member starts again from the log's position.
			mb.adoptLocked(f.Epoch, f.Seq)
		}
		mb.finishRecoveryLocked()
	case "say":
		switch {
		case f.Epoch != mb.epoch || f.Seq > mb.last+1:
			if mb.pending.IsZero() {
				mb.gaps++
				mb.sendRecoverLocked(ctx)
			}
			return
		case f.Seq <= mb.last:
			mb.replayed++
			return
		}
		mb.last = f.Seq
		mb.transcript = append(mb.transcript, recEntry{seq: f.Seq, n: f.N})
	}
}

func (mb *recMember) adoptLocked(epoch string, seq int64) {
	mb.epoch, mb.last = epoch, seq
	mb.epochs = append(mb.epochs, epoch)
}

func (mb *recMember) finishRecoveryLocked() {
	if !mb.pending.IsZero() {
		mb.took = append(mb.took, time.Since(mb.pending))
	}
	mb.pending = time.Time{}
}

// recProxy forwards TCP connections to a gateway; cut closes every one of
// them without a close frame and refuses new ones for a while.
type recProxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	downUntil time.Time
	wg        sync.WaitGroup
}

func startRecProxy(t *testing.T, target string) *recProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut(0)
		p.wg.Wait()
	})
	return p
}

func (p *recProxy) addr() string { return p.ln.Addr().String() }

func (p *recProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := time.Now().Before(p.downUntil)
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		p.wg.Go(func() { p.pipe(c) })
	}
}

func (p *recProxy) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
	_, _ = io.Copy(c, up)
	_ = c.Close()
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track registers both ends, or closes them when a cut began meanwhile.
func (p *recProxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Now().Before(p.downUntil) {
		_ = c.Close()
		_ = up.Close()
		return false
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	return true
}

// cut closes every forwarded connection (no close frame) and refuses new
// ones for d.
func (p *recProxy) cut(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downUntil = time.Now().Add(d)
	for c := range p.conns {
		_ = c.Close()
	}
}
