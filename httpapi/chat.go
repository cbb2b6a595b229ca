package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/session"
)

// bind binds a connection (its client id from the init frame) to the
// login's uid and room: it joins the room group, stores the client session
// the room list is built from, then tells the room (join notice when the
// user was not there yet, and a flush). A connection the gateway already
// bound from a connect token may be bound again by the same uid.
func (s *Server) bind(c *fiber.Ctx) error {
	var req bindRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if _, ok := session.GatewayOf(req.ClientID); !ok {
		return errBadRequest("bad_client_id", "client_id must be the id from the init frame")
	}
	u, ctx := currentUser(c), c.UserContext()
	if u.room == "" {
		return errNotInRoom
	}
	owner, err := s.store.UidByClient(ctx, req.ClientID)
	switch {
	case errors.Is(err, session.ErrNoClient):
		return errNoClient
	case err != nil:
		return unavailable(err)
	case owner != "" && owner != u.uid:
		return errForbidden
	}
	if _, err := s.roomByID(ctx, u.room); err != nil {
		return err
	}
	if err := s.bindClient(ctx, u, req.ClientID, owner == ""); err != nil {
		if errors.Is(err, session.ErrNoClient) {
			return errNoClient
		}
		return unavailable(err)
	}
	return c.JSON(okResponse{OK: true})
}

func (s *Server) bindClient(ctx context.Context, u *user, cid string, needBind bool) error {
	if needBind {
		if err := s.store.BindUid(ctx, cid, u.uid); err != nil {
			return err
		}
	}
	if old, err := s.store.Session(ctx, cid); err != nil {
		return err
	} else if prev := old[sessRoom]; prev != "" && prev != u.room {
		if err := s.store.LeaveGroup(ctx, cid, prev); err != nil {
			return err
		}
	}
	if err := s.store.JoinGroup(ctx, cid, u.room); err != nil {
		return err
	}
	err := s.store.SetSession(ctx, cid, session.Session{
		sessUid: u.uid, "uname": u.name, sessAvatar: u.avatar, sessBubble: u.bubble, sessRoom: u.room,
	})
	if err != nil {
		return err
	}
	added, err := s.store.MarkPresent(ctx, u.room, u.uid)
	if err != nil {
		return err
	}
	if added {
		join, _ := json.Marshal(noticeMessage{Type: typeJoin, Uid: u.uid, Uname: u.name, Avatar: u.avatar})
		if err := s.store.SendToGroup(ctx, u.room, join); err != nil {
			return err
		}
	}
	return s.sendFlush(ctx, u.room)
}

// sendFlush sends the room its current user list.
func (s *Server) sendFlush(ctx context.Context, room string) error {
	sessions, err := s.store.SessionsByGroup(ctx, room)
	if err != nil {
		return err
	}
	list := make(map[string]string, len(sessions))
	for _, sess := range sessions {
		if uid := sess[sessUid]; uid != "" && sess[sessRoom] == room {
			list[uid] = sess["uname"]
		}
	}
	msg, _ := json.Marshal(flushMessage{Type: typeFlush, UsersList: list})
	return s.store.SendToGroup(ctx, room, msg)
}

// announceLeave tells room that uid left — a "close" notice and a fresh
// flush — unless uid still has a connection in it. The notice goes out once
// even when several of uid's connections close at the same time (members
// set); a bind racing the departure is seen by the second look and wins.
func (s *Server) announceLeave(ctx context.Context, room, uid, uname string) error {
	present, err := s.store.UidsByGroup(ctx, room)
	if err != nil || slices.Contains(present, uid) {
		return err
	}
	announce, err := s.store.MarkAbsent(ctx, room, uid)
	if err != nil {
		return err
	}
	if present, err = s.store.UidsByGroup(ctx, room); err != nil {
		return err
	}
	if slices.Contains(present, uid) {
		_, err := s.store.MarkPresent(ctx, room, uid)
		return err
	}
	if announce {
		msg, _ := json.Marshal(noticeMessage{Type: typeClose, Uid: uid, Uname: uname})
		if err := s.store.SendToGroup(ctx, room, msg); err != nil {
			return err
		}
	}
	return s.sendFlush(ctx, room)
}

// say posts a public message to the login's room (kept in its history) or a
// private one to another user (and back to the sender's connections).
func (s *Server) say(c *fiber.Ctx) error {
	var req sayRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if !validContent(req.Content) {
		return errBadRequest("bad_content", "content must be 1 to 2000 characters, not only spaces")
	}
	u, ctx := currentUser(c), c.UserContext()
	msg := chatMessage{
		Type: req.Type, Uid: u.uid, Uname: u.name, Avatar: u.avatar, Bubble: u.bubble,
		Content: html.EscapeString(req.Content), Ts: time.Now().UnixMilli(),
	}
	switch req.Type {
	case typeAll:
		if u.room == "" {
			return errNotInRoom
		}
		b, _ := json.Marshal(msg)
		if err := s.store.SendToGroup(ctx, u.room, b); err != nil {
			return unavailable(err)
		}
		if err := s.store.AppendHistory(ctx, u.room, b, s.o.HistoryLen); err != nil {
			return unavailable(err)
		}
	case typeTo:
		if req.ToUid == "" {
			return errBadRequest("bad_to_uid", "to_uid is required for a private message")
		}
		to, err := s.store.User(ctx, req.ToUid)
		if errors.Is(err, session.ErrNoUser) {
			return errNoUser
		}
		if err != nil {
			return unavailable(err)
		}
		msg.ToUid, msg.ToUname = req.ToUid, to["name"]
		b, _ := json.Marshal(msg)
		if err := s.store.SendToUids(ctx, []string{req.ToUid, u.uid}, b); err != nil {
			return unavailable(err)
		}
	default:
		return errBadRequest("bad_type", `type must be "all" or "to"`)
	}
	return c.Status(fiber.StatusAccepted).JSON(okResponse{OK: true})
}

// flush sends the login's room its user list.
func (s *Server) flush(c *fiber.Ctx) error {
	u := currentUser(c)
	if u.room == "" {
		return errNotInRoom
	}
	if err := s.sendFlush(c.UserContext(), u.room); err != nil {
		return unavailable(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(okResponse{OK: true})
}
