// Package gatewayworker makes chatgate a drop-in server for PHP code written
// against GatewayWorker: unmodified GatewayClient calls (Gateway::bindUid,
// joinGroup, sendToGroup, getClientIdCountByGroup, …) work against chatgate
// gateways, with Redis behind them. The wire protocol is written down in
// docs/gatewayworker.md; the migration guide is there too.
//
// Two listeners:
//
//   - Inner (one per gateway process) speaks GatewayProtocol: 28-byte packet
//     headers, PHP-serialized bodies, replies framed by a 4-byte length. It
//     answers only for the clients of its own gateway; GatewayClient asks
//     every gateway and adds the answers up, as it does with GatewayWorker.
//   - Register (in any process) speaks the Register's line-JSON protocol and
//     hands out the inner addresses of the live gateways, read from Redis, so
//     any number of them can run and losing one loses nothing.
//
// A gateway in compatibility mode takes as its id the 12-hex encoding of its
// advertised IPv4 address and port, and gives clients 20-hex ids (that id
// plus a random 32-bit number): the form GatewayClient accepts and routes.
//
// The package talks to the rest of chatgate only through the push API that
// every other caller uses (the Store interfaces below, which session
// implements). Commands are executed in order per connection, and a new
// connection waits until the commands already received on earlier ones are
// executed, so a joinGroup that returned is applied before the sendToGroup
// that follows on a fresh connection (read-your-writes, as GatewayWorker's
// single-threaded loop gives).
//
// Concurrency and lifecycle: New*, then Serve(ctx, listener) until ctx ends;
// Serve closes the listener and every connection and waits for their
// goroutines. Both types are safe for concurrent use.
package gatewayworker
