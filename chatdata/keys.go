package chatdata

import "errors"

// Keys of the chat app (httpapi): rooms, their history, user profiles, login
// sessions, logouts, connect token ids and rate-limit counters. They share the Store's
// prefix; docs/http-api.md lists them.
//
//	room:{id}      hash   name, created (unix ms)
//	rooms          zset   room id → last activity (unix ms: latest public message, else creation); the room list
//	members:{id}   set    uids announced as present in a room (join sent, close not yet)
//	history:{id}   list   public messages of a room as JSON, oldest first, capped
//	user:{uid}     hash   name, avatar, bubble of a logged-in user (TTL = login lifetime)
//	login:{sid}    string a login session (fiber session data), TTL = login lifetime
//	logout:{sid}   string "1" once a login session logged out: it is never saved again, TTL = login lifetime
//	tokens:{sid}   set    ids (jti) of the connect tokens issued to a login session, TTL = token lifetime
//	revoked:{jti}  string "1" while a revoked connect token must be refused, TTL = token lifetime
//	limit:{key}    string a rate-limit counter (INCR), TTL = its window
func (k keys) chatRoom(id string) Key     { return Key(k.p + "room:{" + id + "}") }
func (k keys) chatRooms() Key             { return Key(k.p + "rooms") }
func (k keys) chatMembers(id string) Key  { return Key(k.p + "members:{" + id + "}") }
func (k keys) chatHistory(id string) Key  { return Key(k.p + "history:{" + id + "}") }
func (k keys) chatUser(uid string) Key    { return Key(k.p + "user:{" + uid + "}") }
func (k keys) chatLogin(sid string) Key   { return Key(k.p + "login:{" + sid + "}") }
func (k keys) chatLogout(sid string) Key  { return Key(k.p + "logout:{" + sid + "}") }
func (k keys) chatTokens(sid string) Key  { return Key(k.p + "tokens:{" + sid + "}") }
func (k keys) chatRevoked(jti string) Key { return Key(k.p + "revoked:{" + jti + "}") }
func (k keys) chatLimit(key string) Key   { return Key(k.p + "limit:{" + key + "}") }
func (k keys) chatLoginPattern() string   { return k.p + "login:{*" }

// Errors of the chat data. Callers branch with errors.Is.
var (
	// ErrNoRoom: the room id names no room.
	ErrNoRoom = errors.New("no such room")
	// ErrNoUser: the uid names no logged-in user.
	ErrNoUser = errors.New("no such user")
	// ErrLoggedOut: the login session logged out; it cannot be saved again
	// nor be issued connect tokens.
	ErrLoggedOut = errors.New("logged out")
)
