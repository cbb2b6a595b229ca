// Package httpapi is chatgate's chat app: a Fiber v2 HTTP server that logs
// users in, lists and enters rooms, binds WebSocket connections (held by the
// gateways) to users and rooms, posts messages, and serves the browser page.
//
// It never talks to a gateway: it writes the Redis model through
// session.Store, which publishes to the gateways' inboxes. Login sessions,
// rate-limit counters, rooms and history live in Redis too, so any number of
// replicas serve any user. docs/http-api.md is the contract.
//
// Lifecycle: New builds the app (no I/O); serve App() on a listener; run Run
// for the background work (the close-notice consumer) until its ctx ends.
// A Server is safe for concurrent use.
package httpapi
