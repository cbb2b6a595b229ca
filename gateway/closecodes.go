package gateway

import "github.com/coder/websocket"

// Close codes and reasons, in one place (docs/client-protocol.md lists them).
const (
	// StatusUnauthorized closes a connection whose connect token was refused.
	StatusUnauthorized websocket.StatusCode = 4001

	reasonSlow      = "send queue full"
	reasonRateLimit = "sending too fast"
	reasonHeartbeat = "heartbeat timeout"
	reasonRestart   = "server restarting"
	reasonClosed    = "closed by server"
	reasonInternal  = "internal error"
)

// cause classifies why a connection ended, for metrics and close events.
type cause uint32

const (
	causeUnknown      cause = iota
	causeClient             // the client closed (close frame)
	causeLost               // the connection broke (no close frame)
	causeSlow               // send queue full
	causeWriteTimeout       // a write did not complete in WriteTimeout
	causeHeartbeat          // silent for more than PingNotResponseLimit intervals
	causeRestart            // gateway draining
	causeServer             // closed through the push API
	causeTooBig             // frame over ReadLimit
	causeRateLimit          // over the frame budget (FrameRate, ByteRate)
	numCauses
)

var causeNames = [numCauses]string{"unknown", "client", "lost", "slow_client", "write_timeout", "heartbeat", "restart", "server", "too_big", "rate_limited"}

func (c cause) String() string { return causeNames[c] }
