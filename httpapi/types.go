package httpapi

// Request and response bodies of the HTTP API, and the frames pushed to the
// page. docs/http-api.md shows each with an example; doc_test.go decodes the
// examples into these types so the document cannot drift.

// configResponse is GET /api/config.
type configResponse struct {
	Avatars    []string `json:"avatars"`
	Bubbles    []string `json:"bubbles"`
	GatewayURL string   `json:"gateway_url"`
}

// loginRequest is POST /api/login.
type loginRequest struct {
	Name   string `json:"name"`
	Avatar string `json:"avatar"`
	Bubble string `json:"bubble"`
}

// loginResponse is POST /api/login: the user and the CSRF token for later
// state-changing requests.
type loginResponse struct {
	Uid       string `json:"uid"`
	Name      string `json:"name"`
	Avatar    string `json:"avatar"`
	Bubble    string `json:"bubble"`
	CSRFToken string `json:"csrf_token"`
}

// tabLoginResponse is POST /api/login with X-Chatgate-Session (a tab
// login): loginResponse plus the id the tab sends as X-Chatgate-Session.
type tabLoginResponse struct {
	loginResponse
	SessionID string `json:"session_id"`
}

// tokenResponse is POST /api/token: a connect token for the gateway and its
// expiry (unix seconds).
type tokenResponse struct {
	Token     string `json:"token"`
	ExpiresAt int64  `json:"expires_at"`
}

// meResponse is GET /api/me: loginResponse plus the entered room (null if none).
type meResponse struct {
	loginResponse
	RoomID *string `json:"room_id"`
}

// roomRequest is POST /api/rooms.
type roomRequest struct {
	Name string `json:"name"`
}

// roomResponse is POST /api/rooms and POST /api/rooms/{id}/enter.
type roomResponse struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// roomListItem is one element of GET /api/rooms.
type roomListItem struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Online int    `json:"online"`
}

// bindRequest is POST /api/bind.
type bindRequest struct {
	ClientID string `json:"client_id"`
}

// okResponse is {"ok":true} (bind, say, flush).
type okResponse struct {
	OK bool `json:"ok"`
}

// sayRequest is POST /api/say.
type sayRequest struct {
	Type    string `json:"type"`
	ToUid   string `json:"to_uid,omitempty"`
	Content string `json:"content"`
}

// chatMessage is a pushed "all" or "to" frame, and an element of history.
// Content is HTML-escaped; names are plain text.
type chatMessage struct {
	Type    string `json:"type"`
	Uid     string `json:"uid"`
	Uname   string `json:"uname"`
	Avatar  string `json:"avatar"`
	Bubble  string `json:"bubble"`
	Content string `json:"content"`
	Ts      int64  `json:"ts"`
	ToUid   string `json:"to_uid,omitempty"`
	ToUname string `json:"to_uname,omitempty"`
}

// noticeMessage is a pushed "join" or "close" frame.
type noticeMessage struct {
	Type   string `json:"type"`
	Uid    string `json:"uid"`
	Uname  string `json:"uname"`
	Avatar string `json:"avatar,omitempty"`
}

// flushMessage is a pushed "flush" frame: the room's users, uid → name.
type flushMessage struct {
	Type      string            `json:"type"`
	UsersList map[string]string `json:"users_list"`
}

// roomDeletedMessage is a pushed "room_deleted" frame: an operator deleted
// the room (DELETE /admin/rooms/{id}); the connection has left its group.
type roomDeletedMessage struct {
	Type   string `json:"type"`
	RoomID string `json:"room_id"`
	Name   string `json:"name"`
}

// roomDeletedResponse is DELETE /admin/rooms/{id}: the room deleted and how
// many connections were in it (and were told).
type roomDeletedResponse struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Connections int    `json:"connections"`
}

// Message types.
const (
	typeAll         = "all"
	typeTo          = "to"
	typeJoin        = "join"
	typeClose       = "close"
	typeFlush       = "flush"
	typeRoomDeleted = "room_deleted"
)
