package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	fsession "github.com/gofiber/fiber/v2/middleware/session"

	"github.com/chatgate/chatgate/chatdata"
)

// Fields of a login session (Fiber session data, stored in Redis).
const (
	sessUid    = "uid"
	sessName   = "name"
	sessAvatar = "avatar"
	sessBubble = "bubble"
	sessCSRF   = "csrf"
	sessRoom   = "room_id"
)

// user is the logged-in user of a request, read from its login session.
type user struct {
	sess   *fsession.Session
	sid    string
	uid    string
	name   string
	avatar string
	bubble string
	csrf   string
	room   string
	// foreign: the request named a session of another browser (tabs.go);
	// it is not logged in, and the session must be left alone.
	foreign bool
}

const localUser = "chatgate.user"

func currentUser(c *fiber.Ctx) *user {
	u, _ := c.Locals(localUser).(*user)
	return u
}

func str(sess *fsession.Session, k string) string {
	v, _ := sess.Get(k).(string)
	return v
}

func loadUser(sess *fsession.Session) *user {
	return &user{
		sess: sess, sid: sess.ID(), uid: str(sess, sessUid), name: str(sess, sessName),
		avatar: str(sess, sessAvatar), bubble: str(sess, sessBubble), csrf: str(sess, sessCSRF), room: str(sess, sessRoom),
	}
}

// requireLogin loads the login session, the tab's or the cookie's
// (loadLogin; 401 without one) and, on every state-changing request, checks
// X-CSRF-Token against the session's token in constant time (403 otherwise).
//
// A logged-out session is not found here (session.LoginStorage), even while
// a request that loaded it before the logout is still running.
func (s *Server) requireLogin(c *fiber.Ctx) error {
	_, u, err := s.loadLogin(c)
	if err != nil {
		return unavailable(err)
	}
	if u.uid == "" {
		return errNotLoggedIn
	}
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		got := c.Get("X-CSRF-Token")
		if got == "" || u.csrf == "" || subtle.ConstantTimeCompare([]byte(got), []byte(u.csrf)) != 1 {
			return errCSRF
		}
	}
	c.Locals(localUser, u)
	return c.Next()
}

// decodeJSON reads a JSON body into v (400 on anything else).
func decodeJSON(c *fiber.Ctx, v any) error {
	if err := json.Unmarshal(c.Body(), v); err != nil {
		return errBadRequest("bad_json", "the body must be a JSON object: "+err.Error())
	}
	return nil
}

func (s *Server) getConfig(c *fiber.Ctx) error {
	return c.JSON(configResponse{Avatars: avatars, Bubbles: bubbles, GatewayURL: s.gatewayURL(c)})
}

// gatewayURL is Options.GatewayURL, or the request's host at GatewayPort.
func (s *Server) gatewayURL(c *fiber.Ctx) string {
	if s.o.GatewayURL != "" {
		return s.o.GatewayURL
	}
	host := c.Hostname()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") {
		host = strings.Trim(host, "[]")
	}
	scheme := "ws://"
	if c.Protocol() == "https" {
		scheme = "wss://"
	}
	return scheme + net.JoinHostPort(host, strconv.Itoa(s.o.GatewayPort)) + "/"
}

// login starts a new login session (a new session id, so a planted cookie
// is useless) for a new uid. Login needs no CSRF token — there is none yet —
// but it needs a JSON content type, which a cross-site form cannot send.
//
// With X-Chatgate-Session (tabs.go) it is a tab login: bound to the
// browser key, its id returned in the body (session_id) for the tab to
// send, and the login cookie left alone, so other tabs keep their logins.
func (s *Server) login(c *fiber.Ctx) error {
	if !strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEApplicationJSON) {
		return errMediaType
	}
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name, ok := cleanName(req.Name, maxNameRunes)
	if !ok {
		return errBadRequest("bad_name", "name must be 1 to 32 visible characters")
	}
	if err := safeName(name); err != nil {
		return err
	}
	if !oneOf(req.Avatar, avatars) {
		return errBadRequest("bad_avatar", "avatar must be one of GET /api/config avatars")
	}
	if !oneOf(req.Bubble, bubbles) {
		return errBadRequest("bad_bubble", "bubble must be one of GET /api/config bubbles")
	}
	tab := tabRequest(c)
	sess, old, err := s.loadLogin(c)
	if err != nil {
		return unavailable(err)
	}
	ctx := c.UserContext()
	if old.uid != "" {
		// Logging in again with a session (cookie, or the tab's id) ends it.
		if err := s.endLogin(c, old); err != nil {
			return err
		}
	}
	if old.foreign {
		sess, err = s.freshSession(c, tab)
	} else {
		// A new id and no data: nothing of a previous login (its room) carries over.
		err = sess.Reset()
	}
	if err != nil {
		return unavailable(err)
	}
	if tab {
		s.bindBrowser(c, sess)
	}
	u := &user{sess: sess, sid: sess.ID(), uid: "u" + randomID(12), name: name, avatar: req.Avatar, bubble: req.Bubble, csrf: randomID(24)}
	if err := s.chat.SetUser(ctx, u.uid, map[string]string{"name": u.name, "avatar": u.avatar, "bubble": u.bubble}, s.o.SessionTTL); err != nil {
		return unavailable(err)
	}
	for k, v := range map[string]string{sessUid: u.uid, sessName: u.name, sessAvatar: u.avatar, sessBubble: u.bubble, sessCSRF: u.csrf} {
		sess.Set(k, v)
	}
	if err := saveSession(sess); err != nil {
		return err
	}
	resp := loginResponse{Uid: u.uid, Name: u.name, Avatar: u.avatar, Bubble: u.bubble, CSRFToken: u.csrf}
	if tab {
		return c.JSON(tabLoginResponse{loginResponse: resp, SessionID: u.sid})
	}
	return c.JSON(resp)
}

// saveSession saves a login session; one that logged out meanwhile is not
// saved (chatdata.ErrLoggedOut) and the request answers 401.
func saveSession(sess *fsession.Session) error {
	err := sess.Save()
	switch {
	case errors.Is(err, chatdata.ErrLoggedOut):
		return errNotLoggedIn
	case err != nil:
		return unavailable(err)
	}
	return nil
}

// me returns the logged-in user and the entered room.
func (s *Server) me(c *fiber.Ctx) error {
	u := currentUser(c)
	resp := meResponse{loginResponse: loginResponse{Uid: u.uid, Name: u.name, Avatar: u.avatar, Bubble: u.bubble, CSRFToken: u.csrf}}
	if u.room != "" {
		room := u.room
		resp.RoomID = &room
	}
	return c.JSON(resp)
}

// logout ends the login: its connect tokens are revoked, its connections
// closed (their close events tell the room), its session destroyed.
func (s *Server) logout(c *fiber.Ctx) error {
	u := currentUser(c)
	if err := s.endLogin(c, u); err != nil {
		return err
	}
	if err := u.sess.Destroy(); err != nil {
		return unavailable(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// connectToken mints a connect token for the login's uid (POST /api/token).
// Its id is recorded with the login session, so that logout revokes it; the
// token does not carry the session id.
func (s *Server) connectToken(c *fiber.Ctx) error {
	u := currentUser(c)
	if s.o.Tokens == nil {
		return c.JSON(tokenResponse{})
	}
	tok, claims, err := s.o.Tokens.Sign(u.uid)
	if err != nil {
		return err
	}
	err = s.chat.RecordToken(c.UserContext(), u.sid, claims.ID, s.o.Tokens.TTL())
	switch {
	case errors.Is(err, chatdata.ErrLoggedOut):
		return errNotLoggedIn
	case err != nil:
		return unavailable(err)
	}
	return c.JSON(tokenResponse{Token: tok, ExpiresAt: claims.Expires.Unix()})
}

// endLogin ends the login session for good and revokes its tokens first (so
// that neither a request racing the logout brings the session back nor a
// reconnect racing the close gets in), then closes its connections and
// forgets its profile.
func (s *Server) endLogin(c *fiber.Ctx, u *user) error {
	ctx := c.UserContext()
	tokenTTL := s.o.SessionTTL
	if s.o.Tokens != nil {
		tokenTTL = s.o.Tokens.TTL()
	}
	if err := s.chat.EndLogin(ctx, u.sid, s.o.SessionTTL, tokenTTL); err != nil {
		return unavailable(err)
	}
	cids, err := s.store.ClientIDsByUid(ctx, u.uid)
	if err != nil {
		return unavailable(err)
	}
	for _, cid := range cids {
		if err := s.store.CloseClient(ctx, cid, nil); err != nil {
			return unavailable(err)
		}
	}
	if err := s.chat.DeleteUser(ctx, u.uid); err != nil {
		return unavailable(err)
	}
	return nil
}
