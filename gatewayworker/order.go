package gatewayworker

import (
	"sync"
	"time"
)

// Ordering across connections (docs/gatewayworker.md, "Ordering").
//
// GatewayClient opens a new TCP connection per call and never waits for a
// fire-and-forget command, yet a joinGroup that returned must be applied
// before the sendToGroup that follows on the next connection. GatewayWorker
// gets that from its single-threaded loop; here each connection has its own
// goroutine, so:
//
//   - a connection executes its packets one at a time, each to completion
//     (Redis written, inbox envelope published) before the next;
//   - when a connection is accepted, the listener notes for every earlier,
//     still open connection how many bytes it will have read once it has
//     read everything already in its kernel receive buffer (bytes pulled so
//     far + SIOCINQ, Linux's FIONREAD). Before executing its first packet, the new connection
//     waits until each of them has executed that many bytes, or closed, or
//     sat for OrderWait on a partial packet (its sender stopped mid-packet),
//     and never longer than CommandTimeout in all.
//
// Bytes a client wrote before it connected again are in the first socket's
// buffer by the time the second connection is accepted (on loopback at
// once; across a network TCP delivers them first in practice), so they are
// executed first, as on GatewayWorker.

// progress is what a connection has executed, for connections accepted
// after it to wait on.
type progress struct {
	mu        sync.Mutex
	executed  int64     // bytes of whole packets executed
	closed    bool      // the connection is done: nothing more to wait for
	idleSince time.Time // zero while not blocked reading; else when it started
	changed   chan struct{}
}

func newProgress() *progress { return &progress{changed: make(chan struct{})} }

// notifyLocked wakes every waiter. The caller holds p.mu.
func (p *progress) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// advance records n more executed bytes.
func (p *progress) advance(n int) {
	p.mu.Lock()
	p.executed += int64(n)
	p.notifyLocked()
	p.mu.Unlock()
}

// setIdle records that the reader blocks for more bytes (true) or got some.
func (p *progress) setIdle(idle bool) {
	p.mu.Lock()
	if idle {
		p.idleSince = time.Now()
	} else {
		p.idleSince = time.Time{}
	}
	p.notifyLocked()
	p.mu.Unlock()
}

func (p *progress) close() {
	p.mu.Lock()
	p.closed = true
	p.notifyLocked()
	p.mu.Unlock()
}

// waitFor waits until target bytes are executed or the connection closed
// (true), or until it has been idle on a partial packet for stall, or
// deadline passed (false). Idle time counts from the call at the earliest:
// a persistent connection idle for long whose next bytes just arrived
// wakes up and executes them; it is not stalled.
func (p *progress) waitFor(target int64, stall time.Duration, deadline time.Time) bool {
	start := time.Now()
	for {
		p.mu.Lock()
		if p.executed >= target || p.closed {
			p.mu.Unlock()
			return true
		}
		wake := deadline
		if !p.idleSince.IsZero() {
			giveUp := p.idleSince
			if giveUp.Before(start) {
				giveUp = start
			}
			giveUp = giveUp.Add(stall)
			if !time.Now().Before(giveUp) {
				p.mu.Unlock()
				return false
			}
			if giveUp.Before(wake) {
				wake = giveUp
			}
		}
		ch := p.changed
		p.mu.Unlock()
		d := time.Until(wake)
		if d <= 0 {
			return false
		}
		t := time.NewTimer(d)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

// orderTarget is an earlier connection and the executed-bytes count a new
// connection waits for.
type orderTarget struct {
	c      *innerConn
	target int64
}
