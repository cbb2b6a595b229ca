package httpapi

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/internal/apikey"
	"github.com/chatgate/chatgate/session"
)

// Errors of the operator endpoints.
var (
	errAdminDisabled = &apiError{status: 503, code: "admin_disabled", msg: "the operator API is disabled: no API key is configured (--api-keys / API_KEYS)"}
	errUnauthorized  = &apiError{status: 401, code: "unauthorized", msg: "missing or wrong API key (header Authorization: Bearer KEY)"}
)

// RegisterAdmin adds the operator endpoints to r, with paths relative to it
// (internal/app mounts r at /admin beside the push API):
//
//	DELETE /rooms/{id}   delete a room and tell its members (room_deleted)
//
// Every request needs Authorization: Bearer <one of apiKeys> (the push API's
// keys); with no key every route answers 503 admin_disabled. The routes
// answer their errors themselves, in the chat app's error format, so they
// work on any Fiber app, and bound their Redis work by
// Options.RequestTimeout.
func (s *Server) RegisterAdmin(r fiber.Router, apiKeys []string) {
	keys := apikey.New(apiKeys)
	r.Delete("/rooms/:id", func(c *fiber.Ctx) error {
		err := s.adminGuard(c, keys)
		if err == nil {
			err = s.deleteRoom(c)
		}
		if err != nil {
			return s.writeError(c, err)
		}
		return nil
	})
}

func (s *Server) adminGuard(c *fiber.Ctx, keys *apikey.Set) error {
	if keys.Empty() {
		return errAdminDisabled
	}
	if !keys.Authorized(c.Get(fiber.HeaderAuthorization)) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="chatgate operator API"`)
		return errUnauthorized
	}
	return nil
}

// writeError answers err as the chat app's error handler does.
func (s *Server) writeError(c *fiber.Ctx, err error) error {
	return errorHandler(s.log)(c, err)
}

// deleteRoom deletes the room named by :id: its history, announced members
// and list entry go at once; its connected members get a room_deleted frame
// and leave the room's group. Their client sessions forget the room, so
// their later close events announce nothing.
func (s *Server) deleteRoom(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), s.o.RequestTimeout)
	defer cancel()
	id := c.Params("id")
	r, err := s.roomByID(ctx, id)
	if err != nil {
		return err
	}
	existed, err := s.store.DeleteRoom(ctx, id)
	if err != nil {
		return unavailable(err)
	}
	if !existed {
		return errNoRoom // deleted meanwhile by another request
	}
	cids, err := s.store.ClientIDsByGroup(ctx, id)
	if err != nil {
		return unavailable(err)
	}
	// The frame first: it goes through each gateway's inbox ahead of the
	// group's dissolution, so every member still gets it.
	if err := s.sendToRoom(ctx, id, frame(roomDeletedMessage{Type: typeRoomDeleted, RoomID: id, Name: r.Name})); err != nil {
		return unavailable(err)
	}
	for _, cid := range cids {
		err := s.store.UpdateSession(ctx, cid, session.Session{sessRoom: ""})
		if err != nil && !errors.Is(err, session.ErrNoClient) {
			return unavailable(err)
		}
	}
	if err := s.store.Ungroup(ctx, id); err != nil {
		return unavailable(err)
	}
	s.log.Info("room deleted by an operator", "room", id, "name", r.Name, "connections", len(cids))
	return c.JSON(roomDeletedResponse{ID: id, Name: r.Name, Connections: len(cids)})
}
