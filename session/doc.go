// Package session is the gateway protocol's Redis model and the Go push API:
// the keys, channels, envelopes and Lua scripts that gateways and push callers
// share (docs/redis-protocol.md), and the types that read and write them.
//
// One type per consumer, all sharing one unexported core (the client, the key
// builder, the options) on which every unexported method lives:
//
//   - Push, the push API and the Go equivalent of GatewayWorker's
//     GatewayClient, for push callers (httpapi, pushapi, gatewayworker, any
//     Go app): sends (push.go), membership and binding (membership.go),
//     sessions and queries (query.go), one gateway's share (pergateway.go);
//   - Registry, for gateways: registering and forgetting clients, liveness
//     and re-assert (gatewayside.go), the inbox subscription (inbox.go),
//     forgetting stale clients after an outage (ForgetStaleClients);
//   - Reaper, for every process: cleaning up after crashed gateways
//     (reaper.go);
//   - Events, the events stream that gateways append to and business workers
//     consume (events.go, events_consumer.go);
//   - Recovery, recoverable groups' logs (recover.go).
//
// New and Open return a Store holding the five over one client; its fields
// are the parts (store.Push, store.Registry, …) and, being embedded, also
// lend it their methods for tools and tests that use several.
//
// The chat app's own data (rooms, history, logins, rate limits) is not here:
// it lives in package chatdata, which builds its own keys.
//
// Keys: keys.go builds every key and channel name from the configured prefix
// (default "chat:"); no other file concatenates key text, and the few scripts
// that build a name from the prefix are checked against keys.go
// (lua_keys_test.go).
//
// Concurrency and lifecycle: a Store and each part are safe for concurrent use. Open dials,
// pings and returns a Store that owns its client (Close it); New wraps a
// caller's client and Close leaves it alone; Dial returns a client for a
// process that builds several stores over one pool (session's and chatdata's). Every call that does I/O
// takes a ctx, and its deadline reaches the socket (ContextTimeoutEnabled).
// Registry.Listen and Reaper.RunReaper block until their ctx ends and start no goroutine that
// outlives them.
//
// Delivery and read-your-writes: delivery is at-most-once over Redis pub/sub.
// Every operation on a client (join, leave, bind, unbind, close, session
// change, send) is published to the inbox of the gateway that holds it, and a
// gateway applies its inbox in order. So a caller that returns from JoinGroup
// and then calls SendToGroup reaches the new member, with no acknowledgement
// round trip. This holds per caller; two callers racing each other are
// ordered by Redis, not by their wall clocks.
//
// Redis Cluster differences: a gateway's inbox is a sharded channel
// (SSUBSCRIBE/SPUBLISH), so a delivery touches one shard; the broadcast
// channel stays classic pub/sub, so Listen needs two connections and reports
// the subscription up only when both are. Keys carry hash tags so that each
// script's keys share a slot. On standalone and Sentinel, each membership
// operation is one op_*.lua script (atomic, inbox publish included); on
// Cluster it is a sequence of single-slot scripts and commands with the same
// resulting keys and envelopes (membership.go, ops_test.go).
package session
