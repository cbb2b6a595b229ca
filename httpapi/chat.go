package httpapi

import (
	"bytes"
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
		switch {
		case errors.Is(err, session.ErrNoClient):
			return errNoClient
		case errors.Is(err, session.ErrNoRoom):
			return errNoRoom
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
	present, changed, err := s.settlePresence(ctx, u.room, u.uid)
	if errors.Is(err, session.ErrNoRoom) {
		// Deleted while binding: take the connection out of the dead room.
		if lerr := s.store.LeaveGroup(ctx, cid, u.room); lerr != nil {
			return lerr
		}
		return err
	}
	if err != nil {
		return err
	}
	if present && changed {
		join := frame(noticeMessage{Type: typeJoin, Uid: u.uid, Uname: u.name, Avatar: u.avatar})
		if err := s.sendToRoom(ctx, u.room, join); err != nil {
			return err
		}
	}
	return s.sendFlush(ctx, u.room)
}

// maxSettleRounds bounds settlePresence when the truth keeps changing under
// it; whoever changes it settles after, so giving up is safe.
const maxSettleRounds = 4

// settlePresence makes the announced members of room (members:{room}) agree
// with the truth — whether uid has a connection in the room's group — and
// reports the final state and whether this call moved the announced state
// to it (then the caller sends the join or close notice).
//
// Everyone who changes the group settles after the change, and each settle
// reads the truth again after every write until a read agrees with what it
// wrote. So the last write to members:{room} is followed by a read that saw
// the final truth: presence converges whatever the interleaving (a bind
// racing its connection's close used to leave a ghost uid, issue 10 item 8).
// ErrNoRoom when the room was deleted.
func (s *Server) settlePresence(ctx context.Context, room, uid string) (present, changed bool, err error) {
	if present, err = s.hasConnectionIn(ctx, room, uid); err != nil {
		return false, false, err
	}
	moved := 0 // +1 per member added by this call, -1 per member removed
	for range maxSettleRounds {
		var did bool
		if present {
			if did, err = s.store.MarkPresent(ctx, room, uid); did {
				moved++
			}
		} else if did, err = s.store.MarkAbsent(ctx, room, uid); did {
			moved--
		}
		if err != nil {
			return false, false, err
		}
		again, err := s.hasConnectionIn(ctx, room, uid)
		if err != nil {
			return false, false, err
		}
		if again == present {
			break
		}
		present = again
	}
	return present, present && moved > 0 || !present && moved < 0, nil
}

// hasConnectionIn reports whether uid has a live connection in room's group.
func (s *Server) hasConnectionIn(ctx context.Context, room, uid string) (bool, error) {
	uids, err := s.store.UidsByGroup(ctx, room)
	return slices.Contains(uids, uid), err
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
	return s.sendToRoom(ctx, room, frame(flushMessage{Type: typeFlush, UsersList: list}))
}

// announceLeave tells room that uid left — a "close" notice and a fresh
// flush — unless uid still has a connection in it. The notice goes out once
// even when several of uid's connections close at the same time (members
// set); a bind racing the departure is settled by settlePresence. A deleted
// room needs no notice.
func (s *Server) announceLeave(ctx context.Context, room, uid, uname string) error {
	present, changed, err := s.settlePresence(ctx, room, uid)
	if errors.Is(err, session.ErrNoRoom) {
		return nil
	}
	if err != nil || present {
		return err
	}
	if changed {
		msg := frame(noticeMessage{Type: typeClose, Uid: uid, Uname: uname})
		if err := s.sendToRoom(ctx, room, msg); err != nil {
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
		// History first: a room deleted meanwhile refuses the message.
		b := frame(msg)
		if err := s.store.AppendHistory(ctx, u.room, b, s.o.HistoryLen); errors.Is(err, session.ErrNoRoom) {
			return errNoRoom
		} else if err != nil {
			return unavailable(err)
		}
		if err := s.sendToRoom(ctx, u.room, b); err != nil {
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
		if err := s.store.SendToUids(ctx, []string{req.ToUid, u.uid}, frame(msg)); err != nil {
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

// marshalJSON encodes v without encoding/json's HTML escaping (<, > and & as
// \u003c…): message content is HTML-escaped once already, and escaping its
// entities again made a stored message up to 10 times its text (issue 10
// item 7: 2,000 '"' took 20,120 bytes). Every pushed frame, history entry
// and response body goes through it.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// frame is marshalJSON for the frame types of types.go, which always encode.
func frame(v any) []byte {
	b, _ := marshalJSON(v)
	return b
}
