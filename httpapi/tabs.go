package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"time"

	"github.com/gofiber/fiber/v2"
	fsession "github.com/gofiber/fiber/v2/middleware/session"
)

// Per-tab logins (issue 15): two tabs of one browser can be two users.
//
// The tabs of a browser share its cookies, so a login kept only in a cookie
// is one per browser: logging in from a second tab replaces the first tab's
// login. The page therefore keeps its login session id per tab (in
// sessionStorage) and sends it on every request as X-Chatgate-Session; a
// request without the header uses the login cookie as before.
//
// The id in a tab is readable by the page's own scripts, so it is not
// enough alone: a tab login is bound to the browser key, a random value in
// the HttpOnly cookie chatgate_browser that the tabs of one browser share
// and no script can read. The session holds the key's SHA-256, and a
// request is the tab login's only with both the id (header) and the key
// (cookie). A script injected into the page can act as the user while the
// page is open, as it could with the cookie login, but what it can read
// (the id, the CSRF token) is useless from anywhere else. Other origins can
// read neither: sessionStorage is per origin, and the API sends no CORS
// headers, so a cross-site request can neither set the header nor read a
// response. CSRF checks are unchanged. See docs/http-api.md, "Sessions".
const (
	// tabHeader carries a tab's login session id; on POST /api/login the
	// value tabNew (or the tab's current id) asks for a tab login.
	tabHeader = "X-Chatgate-Session"
	tabNew    = "new"
	// browserCookie holds the browser key (HttpOnly, SameSite=Lax).
	browserCookie = "chatgate_browser"
	// sessBrowser is the login session field with the browser key's hash;
	// only tab logins have it.
	sessBrowser = "browser"
	// browserKeyLen is the key's length: 32 random bytes in base64url.
	browserKeyLen = 43
)

// tabRequest reports whether the request names a tab login (X-Chatgate-Session).
func tabRequest(c *fiber.Ctx) bool { return c.Get(tabHeader) != "" }

// loadLogin loads the request's login session: the tab's when the request
// has X-Chatgate-Session, else the cookie's. The user is empty (not logged
// in) when the session has no uid, or when it is not this browser's: a tab
// login needs the browser key it was bound to, and a cookie login (no
// binding) is never reachable through the header.
func (s *Server) loadLogin(c *fiber.Ctx) (*fsession.Session, *user, error) {
	st := s.sessionStore(c)
	tab := tabRequest(c)
	if tab {
		// Fiber looks for a cookie of the header's name first: only the
		// header counts.
		c.Request().Header.DelCookie(tabHeader)
		st = s.tabSessions
	}
	sess, err := st.Get(c)
	if err != nil {
		return nil, nil, err
	}
	u := loadUser(sess)
	if u.uid != "" && !sameBrowser(c, str(sess, sessBrowser), tab) {
		return sess, &user{sess: sess, sid: sess.ID(), foreign: true}, nil
	}
	return sess, u, nil
}

// sameBrowser reports whether a session whose browser-key hash is bound
// ("" for a cookie login) belongs to the request.
func sameBrowser(c *fiber.Ctx, bound string, tab bool) bool {
	if bound == "" {
		return !tab
	}
	key := c.Cookies(browserCookie)
	if len(key) != browserKeyLen {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(browserHash(key)), []byte(bound)) == 1
}

func browserHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// freshSession returns a new empty session for a login, leaving the
// request's current one (another browser's) untouched: Fiber's Reset would
// delete it.
func (s *Server) freshSession(c *fiber.Ctx, tab bool) (*fsession.Session, error) {
	if tab {
		c.Request().Header.Del(tabHeader)
		return s.tabSessions.Get(c)
	}
	c.Request().Header.DelCookie(sessionCookie)
	return s.sessionStore(c).Get(c)
}

// bindBrowser binds a new tab login to the request's browser key, making
// one (and setting its cookie) when the request has none. The cookie's
// lifetime is renewed to the session's.
func (s *Server) bindBrowser(c *fiber.Ctx, sess *fsession.Session) {
	key := c.Cookies(browserCookie)
	if len(key) != browserKeyLen {
		key = randomID(32)
	}
	c.Cookie(&fiber.Cookie{
		Name:     browserCookie,
		Value:    key,
		Path:     "/",
		MaxAge:   int(s.o.SessionTTL / time.Second),
		Expires:  time.Now().Add(s.o.SessionTTL),
		Secure:   s.secureCookie(c),
		HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode,
	})
	sess.Set(sessBrowser, browserHash(key))
}
