package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Crash cleanup (DESIGN "Failure model", issue 5 item 1).
//
// A gateway refreshes its liveness key gw:{id}:alive every AliveTTL/3. When a
// gateway dies without draining (kill -9, OOM, lost machine) the key expires
// and its clients stay behind in every set. Every chatgate process runs a
// reaper: it finds gateways listed in `gateways` whose liveness key is gone,
// takes the gateway's reap lock, forgets each of its clients (appending the
// close event a normal close would have appended) and unregisters it.
//
// Exactly one process cleans a gateway: the lock is taken atomically with the
// liveness check (reap_lock.lua, both keys share the {gwid} hash tag). Two
// reapers racing anyway (a lock that expired mid-way) are still safe:
// client_forget.lua deletes a client's hash atomically and returns it, so
// only the reaper that got the hash appends the close event, and every other
// step is idempotent. A gateway whose liveness key reappears is left alone
// (checked again before every batch); if it was partly reaped, it finds its
// liveness key gone on its next refresh and re-asserts its connections.

// Defaults of ReaperOptions and RunReaper.
const (
	DefaultReaperInterval = 3 * time.Second
	DefaultReapLockTTL    = 30 * time.Second
	DefaultOrphanSweep    = 5 * time.Minute
	// ReasonGatewayCrashed is the close event reason of a reaped client.
	ReasonGatewayCrashed = "gateway crashed"
	// ReasonStale is the close event reason of a client that ForgetStaleClients
	// removed: its gateway could not forget it when it closed.
	ReasonStale = "closed while Redis was unreachable"
	// ReasonRestarted is the close event reason of a client that a gateway
	// found registered under its own id when it started: a previous process
	// with the same id (a fixed --gateway-id, or a GatewayWorker-compatible
	// gateway restarted at the same address) held it and died.
	ReasonRestarted = "gateway restarted"
)

const (
	reapBatch        = 100              // clients forgotten between two lock renewals
	reapParallel     = 8                // concurrent ForgetClient calls
	reaperMaxBackoff = 30 * time.Second // RunReaper's longest wait after failures
)

var (
	scriptReapLock   = mustScript("reap_lock")
	scriptReapUnlock = mustScript("reap_unlock")
)

// ReaperOptions configures ReapDeadGateways and RunReaper. The zero value is
// ready to use.
type ReaperOptions struct {
	// Owner names this reaper in lock values; it must differ between
	// processes. Default: hostname, pid and a random suffix.
	Owner string
	// LockTTL bounds how long a reaper that dies mid-way blocks others; the
	// lock is renewed before each batch of 100 clients. Default 30s.
	LockTTL time.Duration
	// NoEvents disables the close events appended for reaped clients. Default
	// false: a close event per client, as a normal close appends (set it when
	// gateways run with events off).
	NoEvents bool
	// EventsMaxLen caps the events stream (see AppendEvent). Default
	// DefaultEventsMaxLen.
	EventsMaxLen int64
	// StaleReason is the reason of the close events ForgetStaleClients
	// appends. Default ReasonStale.
	StaleReason string
	// OrphanSweep is how often RunReaper also looks for orphans: clients left
	// in group or uid sets by a gateway that is no longer registered (it
	// unregistered on drain without forgetting them, because Redis failed
	// then). Each process sweeps about this often (±50%, at random); a sweep
	// reads every group's routing hash and every uid set, and a gateway found
	// in two sweeps in a row is cleaned up like a crashed one. Default 5m;
	// negative disables it.
	OrphanSweep time.Duration
	// Logger receives what the reaper did. Default: the Store's logger.
	Logger *slog.Logger
	// OnPass, when set, is called by RunReaper after each pass with the
	// number of dead gateways it cleaned up and the pass's error (nil on
	// success), for metrics; it must not block. Default: none.
	OnPass func(reaped int, err error)
}

func (o *ReaperOptions) withDefaults(s *Store) ReaperOptions {
	c := ReaperOptions{}
	if o != nil {
		c = *o
	}
	if c.Owner == "" {
		c.Owner = defaultOwner()
	}
	if c.LockTTL <= 0 {
		c.LockTTL = DefaultReapLockTTL
	}
	if c.OrphanSweep == 0 {
		c.OrphanSweep = DefaultOrphanSweep
	}
	if c.Logger == nil {
		c.Logger = s.log
	}
	if c.StaleReason == "" {
		c.StaleReason = ReasonStale
	}
	return c
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])
}

// Reaped reports the cleanup of one crashed gateway.
type Reaped struct {
	Gateway string        // the dead gateway
	Clients int           // clients forgotten (a close event each, unless NoEvents)
	Strays  int           // its clients found in a group or uid set but not in its client set
	Took    time.Duration // time spent on it
	Partial bool          // stopped early: it came back to life or the lock was lost
}

// ReapDeadGateways cleans up every registered gateway whose liveness key is
// gone, and returns what it did. Gateways being reaped by another process are
// skipped. It is safe to call concurrently from many processes. An error
// stops it; what is left is retried on the next call.
func (s *Store) ReapDeadGateways(ctx context.Context, opts *ReaperOptions) ([]Reaped, error) {
	o := opts.withDefaults(s)
	gws, err := s.rdb.SMembers(ctx, string(s.k.gateways())).Result()
	if err != nil {
		return nil, wrap("reap: list gateways", err)
	}
	dead, err := s.deadGateways(ctx, gws)
	if err != nil {
		return nil, err
	}
	var out []Reaped
	for _, gw := range dead {
		r, ok, err := s.reapGateway(ctx, gw, &o)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// deadGateways returns the gateways of gws whose liveness key is gone, in
// one round trip (every process asks every few seconds; most are alive).
func (s *Store) deadGateways(ctx context.Context, gws []string) ([]string, error) {
	_, dead, err := s.liveness(ctx, gws)
	return dead, err
}

// liveness splits gws into gateways whose liveness key exists and those
// whose key is gone, in one round trip. Ids that no gateway could have
// written are dropped from the gateways set, so that they are not listed
// forever.
func (s *Store) liveness(ctx context.Context, gws []string) (alive, dead []string, err error) {
	var valid []string
	for _, gw := range gws {
		if validGatewayID(gw) != nil {
			if err := s.rdb.SRem(ctx, string(s.k.gateways()), gw).Err(); err != nil {
				return nil, nil, wrap("reap: drop invalid gateway id", err)
			}
			continue
		}
		valid = append(valid, gw)
	}
	if len(valid) == 0 {
		return nil, nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(valid))
	for i, gw := range valid {
		cmds[i] = pipe.Exists(ctx, string(s.k.gwAlive(gw)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, wrap("reap: check liveness", err)
	}
	for i, c := range cmds {
		if c.Val() == 0 {
			dead = append(dead, valid[i])
		} else {
			alive = append(alive, valid[i])
		}
	}
	return alive, dead, nil
}

// LiveGateways returns the registered gateways whose liveness key exists:
// those running now (a crashed one stays listed until its key expires).
func (s *Store) LiveGateways(ctx context.Context) ([]string, error) {
	gws, err := s.rdb.SMembers(ctx, string(s.k.gateways())).Result()
	if err != nil {
		return nil, wrap("live gateways", err)
	}
	alive, _, err := s.liveness(ctx, gws)
	return alive, err
}

// reapLock takes or renews gw's reap lock; it returns -1 when gw is alive,
// 0 when another reaper holds the lock, 1 when the caller holds it.
func (s *Store) reapLock(ctx context.Context, gw string, o *ReaperOptions) (int, error) {
	n, err := scriptReapLock.Run(ctx, s.rdb, []string{string(s.k.gwAlive(gw)), string(s.k.reapLock(gw))},
		o.Owner, o.LockTTL.Milliseconds()).Int()
	if err != nil {
		return 0, wrap(fmt.Sprintf("reap %q: lock", gw), err)
	}
	return n, nil
}

// reapGateway cleans up gw if it is dead and its lock is free; ok reports
// whether it did anything.
func (s *Store) reapGateway(ctx context.Context, gw string, o *ReaperOptions) (r Reaped, ok bool, err error) {
	start := time.Now()
	r.Gateway = gw
	if n, err := s.reapLock(ctx, gw, o); err != nil || n != 1 {
		return r, false, err
	}
	defer func() {
		// Release with a fresh ctx: ctx may be the reason we stop.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = scriptReapUnlock.Run(uctx, s.rdb, []string{string(s.k.reapLock(gw))}, o.Owner).Err()
		r.Took = time.Since(start)
	}()
	cids, err := s.rdb.SMembers(ctx, string(s.k.gwClients(gw))).Result()
	if err != nil {
		return r, true, wrap(fmt.Sprintf("reap %q: list clients", gw), err)
	}
	for i := 0; i < len(cids); i += reapBatch {
		if i > 0 && !s.stillReaping(ctx, gw, o, &r) {
			return r, true, nil
		}
		n, err := s.forgetAll(ctx, gw, cids[i:min(i+reapBatch, len(cids))], nil, ReasonGatewayCrashed, o)
		r.Clients += n
		if err != nil {
			return r, true, err
		}
	}
	if !s.stillReaping(ctx, gw, o, &r) {
		return r, true, nil
	}
	if r.Strays, err = s.reapStrays(ctx, gw, o); err != nil {
		return r, true, err
	}
	if err := s.RemoveGateway(ctx, gw); err != nil {
		return r, true, fmt.Errorf("session: reap: %w", err)
	}
	o.Logger.Info("reaped crashed gateway", "gateway", gw, "clients", r.Clients, "strays", r.Strays,
		"took", time.Since(start).Round(time.Millisecond))
	return r, true, nil
}

// stillReaping renews gw's lock, which also checks that gw is still dead. If
// not (it came back, or the lock expired and another reaper took over) it
// marks r partial, logs why, and returns false: the caller stops.
func (s *Store) stillReaping(ctx context.Context, gw string, o *ReaperOptions, r *Reaped) bool {
	n, err := s.reapLock(ctx, gw, o)
	if err == nil && n == 1 {
		return true
	}
	r.Partial = true
	why := "gateway came back"
	switch {
	case err != nil:
		why = err.Error()
	case n == 0:
		why = "lock taken over by another reaper"
	}
	o.Logger.Warn("reaper stopped early", "gateway", gw, "clients", r.Clients, "why", why)
	return false
}

// forgetAll forgets the given clients of dead gateway gw with bounded
// concurrency, appending a close event for each client whose hash this call
// deleted. extra holds memberships found outside the client's own records
// (strays). It returns the number of close events due (hashes deleted).
func (s *Store) forgetAll(ctx context.Context, gw string, cids []string, extra map[string]*stray, reason string, o *ReaperOptions) (int, error) {
	var (
		mu    sync.Mutex
		n     int
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, reapParallel)
	)
	for _, cid := range cids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			got, err := s.forgetOne(ctx, gw, cid, extra[cid], reason, o)
			mu.Lock()
			defer mu.Unlock()
			if got {
				n++
			}
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return n, first
}

// forgetOne forgets one client of a dead gateway; got reports whether its
// hash still existed (so that this call owns its close event).
func (s *Store) forgetOne(ctx context.Context, gw, cid string, extra *stray, reason string, o *ReaperOptions) (got bool, err error) {
	c := &ClientState{ID: cid, Gateway: gw}
	if extra != nil {
		c.Groups = extra.groups
		if len(extra.uids) > 0 {
			c.Uid = extra.uids[0]
		}
	}
	held, err := s.ForgetClient(ctx, c)
	if err != nil {
		return false, fmt.Errorf("session: reap %q: %w", gw, err)
	}
	if extra != nil && len(extra.uids) > 1 {
		if err := s.removeMemberships(ctx, cid, gw, nil, extra.uids[1:], false); err != nil {
			return false, wrap(fmt.Sprintf("reap %q: stray uids", gw), err)
		}
	}
	// The gateway writes _at in every client hash: without it the hash was
	// already gone, and whoever deleted it owns the close event.
	if held.ConnectedAt.IsZero() {
		return false, nil
	}
	if o.NoEvents {
		return true, nil
	}
	ev := &Event{Type: EventClose, ClientID: cid, Gateway: gw, Uid: held.Uid, IP: held.IP,
		Session: held.Session, Groups: held.Groups, Reason: reason, At: time.Now()}
	if ev.Groups == nil {
		ev.Groups = []string{}
	}
	return true, s.AppendEvent(ctx, ev, o.EventsMaxLen)
}

// stray is where a client of a dead gateway was found outside its own records.
type stray struct{ groups, uids []string }

// reapStrays finds members of dead gateway gw that are in a group or uid set
// without being in its client set (a JoinGroup or BindUid that raced the
// crash: the gateway that would have undone it is gone) and forgets them.
func (s *Store) reapStrays(ctx context.Context, gw string, o *ReaperOptions) (int, error) {
	held := func(cid string) bool { g, ok := GatewayOf(cid); return ok && g == gw }
	found := make(map[string]*stray)
	add := func(cid string, group, uid string) {
		c := found[cid]
		if c == nil {
			c = &stray{}
			found[cid] = c
		}
		if group != "" {
			c.groups = append(c.groups, group)
		}
		if uid != "" {
			c.uids = append(c.uids, uid)
		}
	}
	groups, err := s.groupsHeldBy(ctx, gw)
	if err != nil {
		return 0, wrap(fmt.Sprintf("reap %q: stray groups", gw), err)
	}
	if err := s.scanSets(ctx, groups, s.k.group, held, func(cid, gid string) { add(cid, gid, "") }); err != nil {
		return 0, wrap(fmt.Sprintf("reap %q: stray groups", gw), err)
	}
	uids, err := s.rdb.SMembers(ctx, string(s.k.uids())).Result()
	if err != nil {
		return 0, wrap(fmt.Sprintf("reap %q: list uids", gw), err)
	}
	if err := s.scanSets(ctx, uids, s.k.uid, held, func(cid, uid string) { add(cid, "", uid) }); err != nil {
		return 0, wrap(fmt.Sprintf("reap %q: stray uids", gw), err)
	}
	cids := make([]string, 0, len(found))
	for cid := range found {
		cids = append(cids, cid)
	}
	if _, err := s.forgetAll(ctx, gw, cids, found, ReasonGatewayCrashed, o); err != nil {
		return len(cids), err
	}
	// No client of gw is left in these groups: drop its routing entry even if
	// a count drifted.
	pipe := s.rdb.Pipeline()
	for _, g := range groups {
		pipe.HDel(ctx, string(s.k.groupGateways(g)), gw)
	}
	if len(groups) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return len(cids), wrap(fmt.Sprintf("reap %q: group routes", gw), err)
		}
	}
	return len(cids), nil
}

// groupsHeldBy returns the groups whose gateway routing hash still names gw.
func (s *Store) groupsHeldBy(ctx context.Context, gw string) ([]string, error) {
	all, err := s.rdb.SMembers(ctx, string(s.k.groups())).Result()
	if err != nil {
		return nil, err
	}
	var out []string
	for start := 0; start < len(all); start += readBatch {
		batch := all[start:min(start+readBatch, len(all))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.BoolCmd, len(batch))
		for i, g := range batch {
			cmds[i] = pipe.HExists(ctx, string(s.k.groupGateways(g)), gw)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for i, c := range cmds {
			if c.Val() {
				out = append(out, batch[i])
			}
		}
	}
	return out, nil
}

// scanSets reads the sets key(id) for ids in batches and calls f for every
// member that match accepts (every member when match is nil).
func (s *Store) scanSets(ctx context.Context, ids []string, key func(string) Key, match func(member string) bool, f func(member, id string)) error {
	keys := make([]Key, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	lists, err := s.members(ctx, keys)
	if err != nil {
		return err
	}
	for i, l := range lists {
		for _, m := range l {
			if match == nil || match(m) {
				f(m, ids[i])
			}
		}
	}
	return nil
}

// ForgetStaleClients forgets the clients that Redis lists for the live
// gateway gw but that the gateway no longer holds, appending a close event
// (reason opts.StaleReason, default ReasonStale) for each unless NoEvents, and returns how many it
// forgot. held reports whether the gateway still holds a client; it is
// called after Redis was read, so a client registered meanwhile is kept (a
// gateway adds a client to its local index before registering it in Redis).
//
// A gateway whose ForgetClient failed (Redis unreachable or slow when the
// client closed) leaves a ghost that no reaper removes, since the gateway is
// alive; it calls this once Redis answers again (e.g. from its liveness
// loop, after a failed forget or a re-assert). A client closing at that very
// moment may get a second close event from the gateway's own close path.
func (s *Store) ForgetStaleClients(ctx context.Context, gw string, held func(cid string) bool, opts *ReaperOptions) (int, error) {
	o := opts.withDefaults(s)
	cids, err := s.rdb.SMembers(ctx, string(s.k.gwClients(gw))).Result()
	if err != nil {
		return 0, wrap(fmt.Sprintf("forget stale clients of %q", gw), err)
	}
	var stale []string
	for _, cid := range cids {
		if !held(cid) {
			stale = append(stale, cid)
		}
	}
	if len(stale) == 0 {
		return 0, nil
	}
	// The caller logs the count, with its reason.
	return s.forgetAll(ctx, gw, stale, nil, o.StaleReason, &o)
}

// RunReaper calls ReapDeadGateways every interval (DefaultReaperInterval when
// interval <= 0) until ctx ends, then returns nil. Failures (Redis down) are
// logged and retried with exponential backoff up to 30s. Run it in every
// process that has a Store: any survivor can clean up after a crash.
func (s *Store) RunReaper(ctx context.Context, interval time.Duration, opts *ReaperOptions) error {
	o := opts.withDefaults(s)
	if interval <= 0 {
		interval = DefaultReaperInterval
	}
	log := o.Logger.With("component", "reaper")
	o.Logger = log
	wait, failures := interval, 0
	t := time.NewTimer(interval)
	defer t.Stop()
	var suspects map[string]bool
	nextSweep := time.Now().Add(jitter(o.OrphanSweep))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		reaped, err := s.ReapDeadGateways(ctx, &o)
		if err == nil && o.OrphanSweep > 0 && !time.Now().Before(nextSweep) {
			nextSweep = time.Now().Add(jitter(o.OrphanSweep))
			suspects, _, err = s.sweepOrphans(ctx, suspects, &o)
		}
		if o.OnPass != nil && ctx.Err() == nil {
			o.OnPass(len(reaped), err)
		}
		switch {
		case err == nil:
			if failures > 0 {
				log.Info("reaper recovered", "after_failures", failures)
			}
			wait, failures = interval, 0
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			return nil
		default:
			failures++
			wait = min(interval<<min(failures, 10), max(reaperMaxBackoff, interval))
			log.Warn("reaper pass failed; retrying", "err", err, "failures", failures, "retry_in", wait)
		}
		t.Reset(wait)
	}
}

// jitter returns d scaled by a random factor in [0.5, 1.5), so that
// processes started together do not sweep together. It returns d when d <= 0.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d/2 + time.Duration(mrand.Int64N(int64(d)))
}

// sweepOrphans finds gateways that are neither registered nor alive but
// still have clients in a group or uid set, and cleans up those that were
// already suspects in the previous sweep (a gateway starting up may hold
// clients for a moment before it registers). It returns the new suspects.
func (s *Store) sweepOrphans(ctx context.Context, prev map[string]bool, o *ReaperOptions) (map[string]bool, []Reaped, error) {
	found, err := s.orphanGateways(ctx)
	if err != nil {
		return prev, nil, wrap("reap: find orphans", err)
	}
	next := make(map[string]bool, len(found))
	var out []Reaped
	for _, gw := range found {
		if !prev[gw] {
			next[gw] = true
			continue
		}
		r, ok, err := s.reapGateway(ctx, gw, o)
		if err != nil {
			return next, out, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return next, out, nil
}

// orphanGateways returns the gateway ids named by group routing hashes or by
// uid set members that are not in `gateways` and have no liveness key.
func (s *Store) orphanGateways(ctx context.Context) ([]string, error) {
	live, err := s.rdb.SMembers(ctx, string(s.k.gateways())).Result()
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(live))
	for _, gw := range live {
		known[gw] = true
	}
	cand := map[string]bool{}
	note := func(gw string) {
		if !known[gw] && validGatewayID(gw) == nil {
			cand[gw] = true
		}
	}
	groups, err := s.rdb.SMembers(ctx, string(s.k.groups())).Result()
	if err != nil {
		return nil, err
	}
	for start := 0; start < len(groups); start += readBatch {
		batch := groups[start:min(start+readBatch, len(groups))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringSliceCmd, len(batch))
		for i, g := range batch {
			cmds[i] = pipe.HKeys(ctx, string(s.k.groupGateways(g)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for _, c := range cmds {
			for _, gw := range c.Val() {
				note(gw)
			}
		}
	}
	uids, err := s.rdb.SMembers(ctx, string(s.k.uids())).Result()
	if err != nil {
		return nil, err
	}
	if err := s.scanSets(ctx, uids, s.k.uid, nil, func(cid, _ string) {
		if gw, ok := GatewayOf(cid); ok {
			note(gw)
		}
	}); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(cand))
	for gw := range cand {
		ids = append(ids, gw)
	}
	// Not registered, but alive: a gateway between its first client and its
	// first liveness refresh, or one Redis lost and that re-asserts soon.
	return s.deadGateways(ctx, ids)
}
