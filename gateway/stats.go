package gateway

import (
	"sync/atomic"

	"github.com/coder/websocket"
)

type websocketStatus = websocket.StatusCode

// counters are the gateway's own monotonic counters; Stats copies them.
type counters struct {
	connects    atomic.Uint64
	closes      atomic.Uint64
	framesIn    atomic.Uint64
	framesOut   atomic.Uint64
	writes      atomic.Uint64
	bytesOut    atomic.Uint64
	envelopes   atomic.Uint64
	slowCloses  atomic.Uint64
	pubsubDrops atomic.Uint64
	resyncs     atomic.Uint64
	recoveries  atomic.Uint64 // recover frames served (recover.go)
	caughtUp    atomic.Uint64 // logged messages delivered after an inbox outage
	closesBy    [numCauses]atomic.Uint64
}

// Stats is a snapshot of a gateway's counters (monotonic since start) and
// gauges, for metrics.
type Stats struct {
	Connections  int    // connected clients now
	QueuedFrames int    // frames waiting in all send queues now
	Connects     uint64 // connections accepted
	Closes       uint64 // connections ended
	FramesIn     uint64 // frames received from clients
	FramesOut    uint64 // frames written to clients
	Writes       uint64 // writes to clients (one system call each, or more when a socket is full)
	BytesOut     uint64 // payload bytes written to clients
	Envelopes    uint64 // envelopes received from Redis
	SlowCloses   uint64 // clients closed because their send queue filled
	PubSubLosses uint64 // times the inbox subscription went down
	Resyncs      uint64 // times connections were re-asserted in Redis
	Recoveries   uint64 // recover frames served (recoverable groups)
	CaughtUp     uint64 // logged messages delivered after the inbox subscription came back
	Subscribed   bool   // inbox subscription is up
}

// CloseReasons returns how many connections ended for each reason since
// start: client, lost, slow_client, write_timeout, heartbeat, restart,
// server, too_big, rate_limited, unknown.
func (g *Gateway) CloseReasons() map[string]uint64 {
	out := make(map[string]uint64, numCauses)
	for i := range numCauses {
		out[causeNames[i]] = g.metrics.closesBy[i].Load()
	}
	return out
}

// Stats returns the gateway's counters and gauges.
func (g *Gateway) Stats() Stats {
	s := Stats{
		Connects:     g.metrics.connects.Load(),
		Closes:       g.metrics.closes.Load(),
		FramesIn:     g.metrics.framesIn.Load(),
		FramesOut:    g.metrics.framesOut.Load(),
		Writes:       g.metrics.writes.Load(),
		BytesOut:     g.metrics.bytesOut.Load(),
		Envelopes:    g.metrics.envelopes.Load(),
		SlowCloses:   g.metrics.slowCloses.Load(),
		PubSubLosses: g.metrics.pubsubDrops.Load(),
		Resyncs:      g.metrics.resyncs.Load(),
		Recoveries:   g.metrics.recoveries.Load(),
		CaughtUp:     g.metrics.caughtUp.Load(),
		Subscribed:   g.subUp.Load(),
	}
	for _, c := range g.idx.snapshot() {
		s.Connections++
		s.QueuedFrames += c.queueLen()
	}
	return s
}
