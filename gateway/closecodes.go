package gateway

import "github.com/coder/websocket"

// Close codes and reasons, in one place (docs/client-protocol.md lists them).
const (
	// StatusUnauthorized closes a connection whose connect token was refused.
	StatusUnauthorized websocket.StatusCode = 4001

	reasonSlow      = "send queue full"
	reasonHeartbeat = "heartbeat timeout"
	reasonRestart   = "server restarting"
	reasonClosed    = "closed by server"
	reasonInternal  = "internal error"
)
