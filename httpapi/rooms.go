package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/chatdata"
	"github.com/chatgate/chatgate/session"
)

// listRooms returns up to MaxListedRooms rooms, the most recently active
// first, with the number of distinct users connected to each.
func (s *Server) listRooms(c *fiber.Ctx) error {
	ctx := c.UserContext()
	rooms, err := s.chat.Rooms(ctx, s.o.MaxListedRooms)
	if err != nil {
		return unavailable(err)
	}
	out := make([]roomListItem, 0, len(rooms))
	for _, r := range rooms {
		n, err := s.store.UidCountByGroup(ctx, r.ID)
		if err != nil {
			return unavailable(err)
		}
		out = append(out, roomListItem{ID: r.ID, Name: r.Name, Online: n})
	}
	return c.JSON(out)
}

func (s *Server) createRoom(c *fiber.Ctx) error {
	var req roomRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name, ok := cleanName(req.Name, maxRoomNameRunes)
	if !ok {
		return errBadRequest("bad_name", "room name must be 1 to 64 visible characters")
	}
	if err := safeName(name); err != nil {
		return err
	}
	ctx := c.UserContext()
	n, err := s.chat.RoomCount(ctx)
	if err != nil {
		return unavailable(err)
	}
	if n >= int64(s.o.MaxRooms) {
		return errTooManyRooms
	}
	id := newRoomID()
	if _, err := s.chat.CreateRoom(ctx, id, name); err != nil {
		return unavailable(err)
	}
	return c.Status(fiber.StatusCreated).JSON(roomResponse{ID: id, Name: name})
}

// room returns the room named by the :id parameter (404 when unknown).
func (s *Server) room(c *fiber.Ctx) (chatdata.Room, error) {
	return s.roomByID(c.UserContext(), c.Params("id"))
}

func (s *Server) roomByID(ctx context.Context, id string) (chatdata.Room, error) {
	r, err := s.chat.Room(ctx, id)
	if errors.Is(err, chatdata.ErrNoRoom) {
		return r, errNoRoom
	}
	if err != nil {
		return r, unavailable(err)
	}
	return r, nil
}

// enterRoom makes the room the login's current one. Connections still in
// the previous room leave it (the page opens a new connection and binds it).
func (s *Server) enterRoom(c *fiber.Ctx) error {
	r, err := s.room(c)
	if err != nil {
		return err
	}
	u := currentUser(c)
	if u.room != r.ID {
		u.sess.Set(sessRoom, r.ID)
		if err := saveSession(u.sess); err != nil {
			return err
		}
		if u.room != "" {
			if err := s.leaveRoom(c, u, u.room); err != nil {
				return err
			}
		}
	}
	return c.JSON(roomResponse{ID: r.ID, Name: r.Name})
}

// leaveRoom takes u's connections out of room and, when none is left there,
// tells the room that u left.
func (s *Server) leaveRoom(c *fiber.Ctx, u *user, room string) error {
	ctx := c.UserContext()
	cids, err := s.store.ClientIDsByUid(ctx, u.uid)
	if err != nil {
		return unavailable(err)
	}
	for _, cid := range cids {
		sess, err := s.store.Session(ctx, cid)
		if errors.Is(err, session.ErrNoClient) {
			continue
		}
		if err != nil {
			return unavailable(err)
		}
		if sess[sessRoom] != room {
			continue
		}
		if err := s.store.LeaveGroup(ctx, cid, room); err != nil {
			return unavailable(err)
		}
		// Its later close event must not announce a departure from room again.
		if err := s.store.UpdateSession(ctx, cid, session.Session{sessRoom: ""}); err != nil && !errors.Is(err, session.ErrNoClient) {
			return unavailable(err)
		}
	}
	if err := s.announceLeave(ctx, room, u.uid, u.name); err != nil {
		return unavailable(err)
	}
	return nil
}

// Headers of the history response: the room's log position when it was read
// (docs/http-api.md).
const (
	headerRoomEpoch = "X-Chatgate-Epoch"
	headerRoomSeq   = "X-Chatgate-Seq"
)

func (s *Server) history(c *fiber.Ctx) error {
	limit := defaultHistory
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return errBadRequest("bad_limit", "limit must be a positive integer")
		}
		limit = min(n, maxHistory)
	}
	r, err := s.room(c)
	if err != nil {
		return err
	}
	// The room's log position first, then the history: a message is stored
	// in the history before it gets its seq, so every message up to seq is in
	// the history, and recovering from seq misses none said meanwhile.
	epoch, seq, err := s.store.GroupLogPosition(c.UserContext(), r.ID)
	if err != nil {
		return unavailable(err)
	}
	msgs, err := s.chat.History(c.UserContext(), r.ID, limit)
	if err != nil {
		return unavailable(err)
	}
	c.Set(headerRoomSeq, strconv.FormatInt(seq, 10))
	if epoch != "" {
		c.Set(headerRoomEpoch, epoch)
	}
	out := make([]json.RawMessage, 0, len(msgs))
	for _, m := range msgs {
		if json.Valid([]byte(m)) {
			out = append(out, json.RawMessage(m))
		}
	}
	return c.JSON(out)
}
