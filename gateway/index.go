package gateway

import (
	"sync"

	"github.com/chatgate/chatgate/session"
)

// index maps client ids, groups and uids to this gateway's connections. It is
// changed only by accept/close and by control envelopes from the inbox, which
// arrive in the order their senders wrote Redis.
type index struct {
	mu      sync.RWMutex
	clients map[string]*conn
	groups  map[string]map[*conn]struct{}
	uids    map[string]map[*conn]struct{}
	perIP   map[string]int
	closed  bool // the gateway drains: no connection is added, no ServeHTTP admitted
}

func newIndex() *index {
	return &index{
		clients: make(map[string]*conn),
		groups:  make(map[string]map[*conn]struct{}),
		uids:    make(map[string]map[*conn]struct{}),
		perIP:   make(map[string]int),
	}
}

// Why index.add refused a connection.
type addResult int

const (
	added        addResult = iota
	addFull                // c's IP holds the maximum of connections already
	addClosed              // the gateway drains
	addDuplicate           // a live connection has c's id (compact ids: draw another)
)

// add registers c, unless c's IP already holds max connections (max <= 0:
// no limit), the index is closed, or a live connection has c's id.
func (x *index) add(c *conn, max int) addResult {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case x.closed:
		return addClosed
	case max > 0 && x.perIP[c.ip] >= max:
		return addFull
	case x.clients[c.id] != nil:
		return addDuplicate
	}
	x.perIP[c.ip]++
	x.clients[c.id] = c
	if c.uid != "" {
		addTo(x.uids, c.uid, c)
	}
	return added
}

// close refuses every later add and returns the connections held now (for
// the drain: each of them, and no other, gets its 1012 from the drain).
func (x *index) close() []*conn {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	return x.snapshotLocked()
}

// remove unregisters c and returns its final local state.
func (x *index) remove(c *conn) *session.ClientState {
	x.mu.Lock()
	defer x.mu.Unlock()
	st := c.state()
	if x.clients[c.id] != c {
		return st
	}
	delete(x.clients, c.id)
	if x.perIP[c.ip]--; x.perIP[c.ip] <= 0 {
		delete(x.perIP, c.ip)
	}
	if c.uid != "" {
		removeFrom(x.uids, c.uid, c)
	}
	for g := range c.groups {
		removeFrom(x.groups, g, c)
	}
	return st
}

func (x *index) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.clients)
}

// snapshot returns every connection (for the sweeper and drain).
func (x *index) snapshot() []*conn {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.snapshotLocked()
}

func (x *index) snapshotLocked() []*conn {
	out := make([]*conn, 0, len(x.clients))
	for _, c := range x.clients {
		out = append(out, c)
	}
	return out
}

// states returns every connection's local state (to re-assert it in Redis).
func (x *index) states() []*session.ClientState {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]*session.ClientState, 0, len(x.clients))
	for _, c := range x.clients {
		out = append(out, c.state())
	}
	return out
}

func addTo(m map[string]map[*conn]struct{}, k string, c *conn) {
	s := m[k]
	if s == nil {
		s = make(map[*conn]struct{}, 1)
		m[k] = s
	}
	s[c] = struct{}{}
}

func removeFrom(m map[string]map[*conn]struct{}, k string, c *conn) {
	if s := m[k]; s != nil {
		delete(s, c)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

func (x *index) has(cid string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.clients[cid]
	return ok
}

func (x *index) countIP(ip string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.perIP[ip]
}
