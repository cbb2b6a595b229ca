package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/chatgate/chatgate/session"
)

// Recovery of recoverable groups (docs/client-protocol.md, "Recovery").
//
// A client frame starting with recoverPrefix asks for the messages of one
// group after a seq: the gateway holds that group's live frames for the
// connection, reads the group's log, and queues the missed entries, then the
// held frames it did not just send, then a result frame, in one step, so that
// the client gets each message once and in order.
//
// The gateway also remembers, per recoverable group, the last (epoch, seq) it
// delivered: when its inbox subscription comes back after an outage it reads
// each log since then and delivers what it missed before live envelopes.

// recoverPrefix starts a recover frame; other client frames are not decoded.
var recoverPrefix = []byte(`{"type":"recover"`)

// seqMark is a position in a group's log.
type seqMark struct {
	epoch string
	seq   int64
}

// heldFrame is a live frame held while a recovery of its group runs.
type heldFrame struct {
	seqMark
	msg []byte
}

// recovery is a running recovery of one group for one connection.
type recovery struct{ held []heldFrame }

// logMarks is, per recoverable group, the last (epoch, seq) the gateway
// delivered (where a catch-up starts) and the seq its last catch-up reached
// (live envelopes up to it are duplicates). On Cluster, envelopes of
// concurrent senders may arrive out of seq order, so only the catch-up floor
// drops anything.
type logMarks struct {
	mu sync.Mutex
	m  map[string]*logMark
}

type logMark struct{ last, floor seqMark }

// advance records that at was delivered for gid; it reports false for a
// duplicate of what the last catch-up delivered.
func (l *logMarks) advance(gid string, at seqMark) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = make(map[string]*logMark)
	}
	m := l.m[gid]
	if m == nil {
		m = &logMark{}
		l.m[gid] = m
	}
	if m.floor.epoch == at.epoch && at.seq <= m.floor.seq {
		return false
	}
	if m.last.epoch != at.epoch || at.seq > m.last.seq {
		m.last = at
	}
	return true
}

// caughtUp records that a catch-up delivered gid up to at.
func (l *logMarks) caughtUp(gid string, at seqMark) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := l.m[gid]; m != nil {
		m.floor = at
	}
}

// lasts returns the last delivered position of every group.
func (l *logMarks) lasts() map[string]seqMark {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]seqMark, len(l.m))
	for k, v := range l.m {
		out[k] = v.last
	}
	return out
}

func (l *logMarks) forget(gid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, gid)
}

// enqueueSeq queues a frame of a recoverable group: held while a recovery of
// the group runs, dropped when the connection's last recovery sent it.
func (c *conn) enqueueSeq(gid string, at seqMark, msg []byte) {
	c.mu.Lock()
	if r := c.rec[gid]; r != nil {
		r.held = append(r.held, heldFrame{at, msg})
		c.mu.Unlock()
		return
	}
	if floor, ok := c.seqs[gid]; ok && floor.epoch == at.epoch && at.seq <= floor.seq {
		c.mu.Unlock()
		return
	}
	c.enqueueLocked(msg)
}

// enqueueAllLocked queues frames in order behind what is queued, whatever
// the queue's length (a recovery is bounded by the log's size). The caller
// holds c.mu; it is unlocked on return.
func (c *conn) enqueueAllLocked(frames [][]byte) {
	if c.closing || len(frames) == 0 {
		c.mu.Unlock()
		return
	}
	if c.queue == nil {
		c.queue = getQueue()
	}
	c.queue = append(c.queue, frames...)
	if c.writing {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	c.g.wg.Add(1)
	go c.writeLoop()
}

// recoverRequest is the client's recover frame.
type recoverRequest struct {
	Group string `json:"group"`
	Epoch string `json:"epoch"`
	Since int64  `json:"since"`
}

// Reasons of a recover_failed frame.
const (
	recoverEpochChanged = "epoch_changed"
	recoverTrimmed      = "trimmed"
	recoverNotMember    = "not_member"
	recoverNoLog        = "not_recoverable"
	recoverBadRequest   = "bad_request"
	recoverUnavailable  = "unavailable"
)

// recoverGroup serves one recover frame on c's reader goroutine.
func (g *Gateway) recoverGroup(c *conn, data []byte) {
	var req recoverRequest
	if err := json.Unmarshal(data, &req); err != nil || req.Group == "" || req.Since < 0 {
		c.enqueue(recoverFailed(req.Group, recoverBadRequest, nil))
		return
	}
	if member, err := g.isMember(c, req.Group); err != nil {
		c.enqueue(recoverFailed(req.Group, recoverUnavailable, nil))
		return
	} else if !member {
		c.enqueue(recoverFailed(req.Group, recoverNotMember, nil))
		return
	}
	c.mu.Lock()
	if c.rec == nil {
		c.rec = make(map[string]*recovery, 1)
	}
	if c.rec[req.Group] != nil { // a recovery of this group is running (not possible from one reader)
		c.mu.Unlock()
		return
	}
	c.rec[req.Group] = &recovery{}
	c.mu.Unlock()
	ctx, cancel := g.connRedisCtx()
	l, err := g.logs.GroupLogSince(ctx, req.Group, req.Epoch, req.Since)
	cancel()
	g.metrics.recoveries.Add(1)
	c.finishRecovery(req, l, err)
}

// finishRecovery queues the recovered entries, the held frames past them and
// the result frame, and ends the hold, in one step under c.mu.
func (c *conn) finishRecovery(req recoverRequest, l *session.GroupLog, err error) {
	c.mu.Lock()
	r := c.rec[req.Group]
	delete(c.rec, req.Group)
	var frames [][]byte
	last := seqMark{req.Epoch, req.Since}
	if err == nil {
		last.epoch = l.Epoch
		for _, e := range l.Entries {
			frames = append(frames, textFrame(e.Payload))
			last.seq = e.Seq
		}
	}
	ok := err == nil
	if !ok {
		frames = append(frames, recoverFailed(req.Group, failReason(err), l))
	}
	logLast := last
	for _, h := range r.held {
		if ok && h.epoch == logLast.epoch && h.seq <= logLast.seq {
			continue // just sent from the log
		}
		frames = append(frames, h.msg)
		last = h.seqMark
	}
	if ok {
		frames = append(frames, textFrame(recoveredFrame(req.Group, last)))
	}
	if ok || len(r.held) > 0 {
		if c.seqs == nil {
			c.seqs = make(map[string]seqMark, 1)
		}
		c.seqs[req.Group] = last
	}
	c.enqueueAllLocked(frames)
}

// recoveredFrame is the result frame of a recovery that went up to last.
func recoveredFrame(gid string, last seqMark) string {
	return `{"type":"recovered","group":` + jsonString(gid) + `,"epoch":` + jsonString(last.epoch) +
		`,"seq":` + strconv.FormatInt(last.seq, 10) + `}`
}

func failReason(err error) string {
	switch {
	case errors.Is(err, session.ErrEpochChanged):
		return recoverEpochChanged
	case errors.Is(err, session.ErrLogTrimmed):
		return recoverTrimmed
	case errors.Is(err, session.ErrNoLog):
		return recoverNoLog
	}
	return recoverUnavailable
}

// recoverFailed is the result frame of a recovery that cannot be done; l,
// when known, gives the log's current position.
func recoverFailed(gid, reason string, l *session.GroupLog) []byte {
	return textFrame(recoverFailedFrame(gid, reason, l))
}

func recoverFailedFrame(gid, reason string, l *session.GroupLog) string {
	var b bytes.Buffer
	b.WriteString(`{"type":"recover_failed","group":` + jsonString(gid) + `,"reason":"` + reason + `"`)
	if l != nil {
		b.WriteString(`,"epoch":` + jsonString(l.Epoch) + `,"seq":` + strconv.FormatInt(l.Seq, 10))
	}
	b.WriteString("}")
	return b.String()
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// isMember reports whether c is in gid: in the local index, or else in Redis
// (a join may still be on its way through the inbox). An error means Redis
// could not tell.
func (g *Gateway) isMember(c *conn, gid string) (bool, error) {
	g.idx.mu.RLock()
	_, ok := c.groups[gid]
	g.idx.mu.RUnlock()
	if ok {
		return true, nil
	}
	ctx, cancel := g.connRedisCtx()
	defer cancel()
	ok, err := g.logs.IsMember(ctx, gid, c.id)
	if err != nil {
		g.log.Warn("check group membership for recovery", "client", c.id, "group", gid, "err", err)
	}
	return ok, err
}

// catchUp delivers, once the inbox subscription is back, what the gateway's
// recoverable groups logged while it was down, before any live envelope (it
// runs on the inbox reader).
func (g *Gateway) catchUp() {
	marks := g.marks.lasts()
	if len(marks) == 0 {
		return
	}
	ctx, cancel := g.redisCtx()
	defer cancel()
	n := 0
	for gid, at := range marks {
		g.idx.mu.RLock()
		members := len(g.idx.groups[gid])
		g.idx.mu.RUnlock()
		if members == 0 {
			g.marks.forget(gid)
			continue
		}
		l, err := g.logs.GroupLogSince(ctx, gid, at.epoch, at.seq)
		if err != nil {
			// Members see the gap or the new epoch on the group's next
			// message and ask for recovery themselves.
			g.log.Warn("catch up on group log after the outage", "group", gid, "err", err)
			continue
		}
		for _, e := range l.Entries {
			g.deliver(&session.Envelope{Op: session.OpSend, Groups: []string{gid}, Payload: e.Payload, Seq: e.Seq, Epoch: l.Epoch})
			n++
		}
		g.marks.caughtUp(gid, seqMark{l.Epoch, l.Seq})
	}
	if n > 0 {
		g.metrics.caughtUp.Add(uint64(n))
		g.log.Info("delivered messages logged while the inbox subscription was down", "messages", n)
	}
}
