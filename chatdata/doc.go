// Package chatdata holds the chat app's own data in Redis: rooms and their
// history, presence announcements, user profiles, login sessions (a Fiber
// session storage), connect-token revocation and rate-limit counters.
//
// It is the chat app's (httpapi, and the gateway's connect-token check in
// internal/app), not the gateway protocol's: package session owns the keys,
// channels and scripts that gateways and push callers share, chatdata owns
// the chat app's keys (keys.go, one builder per kind, listed in
// docs/http-api.md) and scripts (lua/*.lua). Neither builds the other's keys.
//
// Concurrency: a Store is safe for concurrent use. It shares the caller's
// go-redis client (the process builds one, session.Dial, and hands it to
// both session.New and New) and starts no goroutines. Every call that does
// I/O takes a ctx; its deadline reaches the socket when the client has
// ContextTimeoutEnabled (session.Dial sets it).
package chatdata
