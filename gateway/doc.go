// Package gateway is chatgate's WebSocket server: it holds client
// connections, keeps their state in Redis through session, and delivers what
// arrives on its Redis inbox.
//
// Each gateway subscribes to exactly two channels, its inbox and the
// broadcast channel, and keeps local indexes of its clients by id, group and
// uid. An envelope is decoded once; its payload bytes are queued as-is for
// every local target.
//
// Concurrency: with Options.Engine "std" a connection has one goroutine, its
// reader, which ServeHTTP starts before it returns (net/http's handler
// goroutine and its buffers are not kept). With "nbio" an idle connection has
// none: nbio's epoll pollers read, and the client's frames are handled in
// order on a goroutine that lives while they are (nbio.go). A writer goroutine exists only while the connection's bounded
// send queue is non-empty; a client that lets the queue fill is closed with
// 1008 and never delays anyone else. A client that sends more than its frame
// budget (Options.FrameRate, ByteRate) is closed with 1008 too. One sweeper
// goroutine heartbeats all connections and enforces write deadlines.
//
// Lifecycle: New, mount the Gateway as an http.Handler, Run(ctx). When ctx
// ends, Run drains: new clients are refused (a connection upgraded while the
// drain starts is closed with 1012 at once), connected ones are closed with
// 1012 (service restart), their state and the gateway's keys are removed from
// Redis, and Run returns. Run returns only once every goroutine the gateway
// started has ended, readers included: after Run, the gateway does not touch
// its Registry. Past Options.DrainTimeout the remaining connections are dropped
// without a close frame.
package gateway
