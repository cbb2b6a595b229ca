// Package pushapi is chatgate's HTTP push API for other apps: every
// GatewayClient operation (send to all, clients, uids and groups with
// exclude; bind and unbind; join, leave and ungroup; session get, set and
// update; online checks; counts and lists; close) as JSON over HTTP,
// authenticated with API keys.
//
// Register mounts the routes on a Fiber router; the chat app mounts them at
// /api/push. docs/push-api.md documents every route with curl examples.
//
// Every handler calls one Backend method (*session.Push implements it), so
// the API has the push API's guarantees: delivery is at-most-once over Redis
// pub/sub, and a caller that gets a response to POST /join and then calls
// POST /send/group reaches the new member (read-your-writes). Handlers keep
// no fiber.Ctx values after they return and are safe for concurrent use.
package pushapi
