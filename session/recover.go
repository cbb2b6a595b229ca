package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Recoverable groups (docs/redis-protocol.md, "Recoverable groups"): a group
// with a log gives every message the next sequence number of the group, in
// the same atomic step that stores the delivered frame in the group's capped
// log, under an epoch that changes when the log is lost. A client that missed
// messages asks a gateway for the log since the last seq it has.

// Defaults of Options.GroupLogSize and Options.GroupLogAge.
const (
	DefaultGroupLogSize = 1000
	DefaultGroupLogAge  = time.Hour
)

// Errors of the recovery log. Callers branch with errors.Is.
var (
	// ErrNoLog: the group has no recovery log (it is not recoverable).
	ErrNoLog = errors.New("group has no recovery log")
	// ErrEpochChanged: the group's log is not the one the reader knew (Redis
	// lost it, or the group was made recoverable again): recovery is impossible.
	ErrEpochChanged = errors.New("recovery log epoch changed")
	// ErrLogTrimmed: messages after the reader's seq are no longer in the log
	// (size or age limit): recovery is impossible.
	ErrLogTrimmed = errors.New("recovery log trimmed")
	// ErrRecoverablePayload: a send to a recoverable group carried a payload
	// that is not a JSON object, or one holding "group", "seq" or "epoch".
	ErrRecoverablePayload = errors.New(`payload of a recoverable group must be a JSON object without "group", "seq" or "epoch"`)
)

// Recoverable makes a group send go through the group's recovery log,
// creating the log (with a fresh epoch) when the group has none. A send to a
// group whose log exists is logged with or without this option. The payload
// must then be a JSON object: the group, seq and epoch are appended to it.
// Ignored by sends to clients, uids and all.
func Recoverable() SendOption {
	return func(o *sendOptions) { o.recoverable = true }
}

// GroupLog is a group's recovery log after a given seq.
type GroupLog struct {
	Epoch   string     // the log's epoch
	Seq     int64      // the group's latest seq
	Entries []LogEntry // the entries after the reader's seq, oldest first
}

// LogEntry is one logged message: the exact frame delivered.
type LogEntry struct {
	Seq     int64
	Payload string
}

// RecoveryOptions are one group's own log limits (EnableRecovery).
type RecoveryOptions struct {
	// Size is the number of messages kept. Default (0): Options.GroupLogSize.
	Size int
	// Age is how long a message is kept. Default (0): Options.GroupLogAge.
	Age time.Duration
}

// EnableRecovery makes gid recoverable: from now on every send to it is
// logged. A group that already has a log keeps it (and its epoch); its limits
// are set to opts (nil: the store's defaults). It returns the log's epoch and
// latest seq.
func (s *Recovery) EnableRecovery(ctx context.Context, gid string, opts *RecoveryOptions) (epoch string, seq int64, err error) {
	if err := validID(gid); err != nil {
		return "", 0, wrap("enable recovery", err)
	}
	var o RecoveryOptions
	if opts != nil {
		o = *opts
	}
	res, err := scriptGroupLogEnable.Run(ctx, s.rdb, []string{string(s.k.groupLogState(gid))},
		newEpoch(), o.Size, o.Age.Milliseconds()).Slice()
	if err != nil {
		return "", 0, wrap("enable recovery", err)
	}
	epoch, _ = res[0].(string)
	seq, _ = res[1].(int64)
	return epoch, seq, nil
}

// GroupLogSince returns the messages of gid's log after seq since, for a
// reader that knows epoch ("" accepts any epoch). The result carries the
// log's current epoch and seq even with ErrEpochChanged or ErrLogTrimmed, so
// that the reader can start again from there; with ErrNoLog it is nil.
func (s *Recovery) GroupLogSince(ctx context.Context, gid, epoch string, since int64) (*GroupLog, error) {
	const op = "read group log"
	if err := validID(gid); err != nil {
		return nil, wrap(op, err)
	}
	res, err := scriptGroupLogRead.Run(ctx, s.rdb, []string{string(s.k.groupLogState(gid)), string(s.k.groupLog(gid))},
		max(since, 0), s.logAge.Milliseconds()).Slice()
	if err != nil {
		return nil, wrap(op, err)
	}
	return parseGroupLog(gid, epoch, since, res)
}

// GroupLogPosition returns gid's log position: its epoch and latest seq
// (epoch "" when the group has no log). A reader that loads what was sent up
// to now by other means (the chat app's history) reads the position first and
// then recovers from it, so that nothing sent meanwhile is missed.
func (s *Recovery) GroupLogPosition(ctx context.Context, gid string) (epoch string, seq int64, err error) {
	const op = "read group log position"
	if err := validID(gid); err != nil {
		return "", 0, wrap(op, err)
	}
	// With since past any seq the script reads the state alone.
	res, err := scriptGroupLogRead.Run(ctx, s.rdb, []string{string(s.k.groupLogState(gid)), string(s.k.groupLog(gid))},
		math.MaxInt64, s.logAge.Milliseconds()).Slice()
	if err != nil {
		return "", 0, wrap(op, err)
	}
	if len(res) < 2 {
		return "", 0, wrap(op, fmt.Errorf("unexpected reply %v", res))
	}
	epoch, _ = res[0].(string)
	seq, _ = res[1].(int64)
	return epoch, seq, nil
}

func parseGroupLog(gid, epoch string, since int64, res []any) (*GroupLog, error) {
	const op = "read group log"
	if len(res) < 3 {
		return nil, wrap(op, fmt.Errorf("unexpected reply %v", res))
	}
	l := &GroupLog{}
	l.Epoch, _ = res[0].(string)
	l.Seq, _ = res[1].(int64)
	status, _ := res[2].(string)
	switch {
	case l.Epoch == "":
		return nil, wrap(op, fmt.Errorf("%w: %q", ErrNoLog, gid))
	case epoch != "" && epoch != l.Epoch:
		return l, wrap(op, fmt.Errorf("%w: group %q: %q, now %q", ErrEpochChanged, gid, epoch, l.Epoch))
	case since > l.Seq:
		// The log went back (Redis lost its latest writes with the epoch
		// kept): the reader's seqs would be reused.
		return l, wrap(op, fmt.Errorf("%w: group %q: seq %d is past the log's %d", ErrEpochChanged, gid, since, l.Seq))
	case status == "trimmed":
		return l, wrap(op, fmt.Errorf("%w: group %q after seq %d", ErrLogTrimmed, gid, since))
	}
	for i, v := range res[3:] {
		p, _ := v.(string)
		l.Entries = append(l.Entries, LogEntry{Seq: since + int64(i) + 1, Payload: p})
	}
	return l, nil
}

// sendGroupLogged sends to one group through send_group_log.lua: logged when
// the group has a log or o.recoverable. On Cluster the script runs in the
// group's slot and the publishes follow (order between concurrent senders is
// then restored by clients from seq).
func (s *core) sendGroupLogged(ctx context.Context, gid string, env *Envelope, o *sendOptions) error {
	keys, args := s.logScriptArgs(gid, env, o.recoverable)
	res, err := scriptSendGroupLog.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		if errors.Is(logScriptError(err), ErrRecoverablePayload) {
			return fmt.Errorf("%w: group %q", ErrRecoverablePayload, gid)
		}
		return err
	}
	if !s.sharded || len(res) <= 3 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	s.publishLogReply(ctx, pipe, res)
	_, err = pipe.Exec(ctx)
	return err
}

// logScriptArgs returns the keys and arguments of send_group_log.lua for a
// send of env to gid; create makes the log when the group has none.
func (s *core) logScriptArgs(gid string, env *Envelope, create bool) ([]string, []any) {
	if env.TS == 0 { // one stamp for every group of a send
		env.TS = time.Now().UnixMilli()
	}
	payload := env.Payload
	e := *env
	e.Payload = ""
	e.Groups = []string{gid}
	head := e.encode()
	head = head[:len(head)-1] // drop the closing brace: the script appends payload, seq, epoch
	c, publish, epoch := "0", "1", ""
	if create {
		// A fresh epoch is used only when the script creates the log.
		c, epoch = "1", newEpoch()
	}
	if s.sharded {
		publish = "0"
	}
	keys := []string{string(s.k.groupGateways(gid)), string(s.k.groupLogState(gid)), string(s.k.groupLog(gid))}
	return keys, []any{s.k.p, head, payload, gid, c, s.logSize, s.logAge.Milliseconds(), epoch, publish}
}

// queueLogged queues one logged group send of a batch on pipe (by hash: the
// caller loads the script in the same pipeline on standalone and Sentinel).
func (s *core) queueLogged(ctx context.Context, pipe redis.Pipeliner, gid string, env *Envelope, create bool) *redis.Cmd {
	keys, args := s.logScriptArgs(gid, env, create)
	if s.sharded {
		// A Cluster pipeline cannot load the script on every node first.
		return scriptSendGroupLog.Eval(ctx, pipe, keys, args...)
	}
	return scriptSendGroupLog.EvalSha(ctx, pipe, keys, args...)
}

// publishLogged publishes, on Cluster, the envelopes the log scripts of a
// batch returned (the script cannot publish to other slots there).
func (s *core) publishLogged(ctx context.Context, cmds []*redis.Cmd) error {
	pipe := s.rdb.Pipeline()
	for _, c := range cmds {
		if res, err := c.Slice(); err == nil {
			s.publishLogReply(ctx, pipe, res)
		}
	}
	if pipe.Len() == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	return err
}

// publishLogReply queues the publishes of one send_group_log reply
// {seq, epoch, envelope, gateways...}.
func (s *core) publishLogReply(ctx context.Context, pipe redis.Pipeliner, res []any) {
	if len(res) <= 3 {
		return
	}
	msg, _ := res[2].(string)
	for _, gw := range res[3:] {
		if id, ok := gw.(string); ok {
			s.publishPipe(ctx, pipe, id, []byte(msg))
		}
	}
}

// logScriptError maps the script's payload refusal to ErrRecoverablePayload.
func logScriptError(err error) error {
	if err != nil && strings.Contains(err.Error(), "chatgate: payload") {
		return fmt.Errorf("%w: %v", ErrRecoverablePayload, err)
	}
	return err
}

// checkLoggedPayload checks in Go what send_group_log.lua checks before it
// logs: a JSON object without "group", "seq" or "epoch" (so that a batch can
// refuse it before anything is sent).
func checkLoggedPayload(p []byte) error {
	var obj map[string]json.RawMessage
	if t := bytes.TrimLeft(p, " \t\r\n"); len(t) == 0 || t[0] != '{' || json.Unmarshal(p, &obj) != nil {
		return ErrRecoverablePayload
	}
	for _, k := range []string{"group", "seq", "epoch"} {
		if _, ok := obj[k]; ok {
			return ErrRecoverablePayload
		}
	}
	return nil
}

// newEpoch draws a fresh epoch for a log about to be created.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// IsMember reports whether client cid is in group gid.
func (s *Recovery) IsMember(ctx context.Context, gid, cid string) (bool, error) {
	ok, err := s.rdb.SIsMember(ctx, string(s.k.group(gid)), cid).Result()
	return ok, wrap("check group member", err)
}
