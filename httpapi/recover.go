package httpapi

import (
	"context"

	"github.com/chatgate/chatgate/session"
)

// sendToRoom pushes one frame to a room. Rooms are recoverable groups: each
// frame gets the room's seq and epoch appended, so a page that missed frames
// (reconnect, gap in seq) asks its gateway for exactly those
// (docs/client-protocol.md, "Recovery"); the HTTP history is for a page that
// cannot recover (recover_failed) or has just entered the room.
func (s *Server) sendToRoom(ctx context.Context, room string, frame []byte) error {
	return s.store.SendToGroup(ctx, room, frame, session.Recoverable())
}
