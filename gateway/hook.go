package gateway

import (
	"maps"
	"net/http"

	"github.com/chatgate/chatgate/session"
)

// ClientHook is told about each client's life in this gateway's process
// (Options.Hook). The GatewayWorker compatibility layer implements it to feed
// BusinessWorker processes (docs/gatewayworker.md, "BusinessWorker").
//
// For one client the calls come in order, never concurrently: Connected,
// then Message for each data frame the client sends (heartbeat replies
// excepted), then Closed. Calls for different clients run concurrently.
// Each call must return quickly (queue, never wait on the network): it runs
// on the client's reader. Arguments are not retained by the gateway after
// the call returns and must not be retained by the hook either (copy them).
type ClientHook interface {
	// ClientConnected: the client is registered and its init frame queued.
	// ip is the client address as the gateway sees it (Options.TrustedProxies
	// applied); r is the upgrade request, valid during the call only.
	ClientConnected(cid, ip string, r *http.Request)
	// ClientMessage: the client sent data (text or binary frame payload);
	// sess is its session now (nil when none), system fields included.
	ClientMessage(cid string, data []byte, sess session.Session)
	// ClientClosed: the connection ended, for any reason; sess is its last
	// session. Called before the client is forgotten in Redis.
	ClientClosed(cid string, sess session.Session)
}

// sessionOf returns a copy of c's session, for the hook.
func (g *Gateway) sessionOf(c *conn) session.Session {
	g.idx.mu.RLock()
	defer g.idx.mu.RUnlock()
	return maps.Clone(c.session)
}
