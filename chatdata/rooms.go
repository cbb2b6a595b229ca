package chatdata

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Room is a chat room. Its id is also the group id its members join.
type Room struct {
	ID      string
	Name    string
	Created time.Time
}

// CreateRoom creates room id named name unless it exists, and reports
// whether it created it. An existing room keeps its name.
func (s *Store) CreateRoom(ctx context.Context, id, name string) (bool, error) {
	const op = "create room"
	if err := validID(id); err != nil {
		return false, wrap(op, err)
	}
	now := time.Now()
	created, err := s.rdb.HSetNX(ctx, string(s.k.chatRoom(id)), "name", name).Result()
	if err != nil || !created {
		return false, wrap(op, err)
	}
	pipe := s.rdb.Pipeline()
	pipe.HSet(ctx, string(s.k.chatRoom(id)), "created", strconv.FormatInt(now.UnixMilli(), 10))
	pipe.ZAdd(ctx, string(s.k.chatRooms()), redis.Z{Score: float64(now.UnixMilli()), Member: id})
	_, err = pipe.Exec(ctx)
	return true, wrap(op, err)
}

// Room returns room id, or ErrNoRoom.
func (s *Store) Room(ctx context.Context, id string) (Room, error) {
	const op = "get room"
	if err := validID(id); err != nil {
		return Room{}, wrap(op, fmt.Errorf("%w: %w", ErrNoRoom, err))
	}
	h, err := s.rdb.HGetAll(ctx, string(s.k.chatRoom(id))).Result()
	if err != nil {
		return Room{}, wrap(op, err)
	}
	if h["name"] == "" {
		return Room{}, wrap(op, fmt.Errorf("%w: %q", ErrNoRoom, id))
	}
	return roomOf(id, h), nil
}

func roomOf(id string, h map[string]string) Room {
	ms, _ := strconv.ParseInt(h["created"], 10, 64)
	return Room{ID: id, Name: h["name"], Created: time.UnixMilli(ms)}
}

// Rooms returns up to limit rooms, the most recently active first: by the
// time of their latest public message (AppendHistory), or of their creation
// when they have none.
func (s *Store) Rooms(ctx context.Context, limit int) ([]Room, error) {
	const op = "list rooms"
	if limit <= 0 {
		return []Room{}, nil
	}
	ids, err := s.rdb.ZRevRange(ctx, string(s.k.chatRooms()), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]Room, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, string(s.k.chatRoom(id)))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap(op, err)
	}
	for i, c := range cmds {
		if h := c.Val(); h["name"] != "" {
			out = append(out, roomOf(ids[i], h))
		}
	}
	return out, nil
}

// DeleteRoom deletes room id with its history and announced members and
// takes it off the room list, and reports whether it existed. The room hash
// goes first: from then on AppendHistory and MarkPresent refuse the room
// (ErrNoRoom), so nothing brings its keys back. Group membership is not
// touched: the caller tells the members and dissolves the group.
func (s *Store) DeleteRoom(ctx context.Context, id string) (bool, error) {
	const op = "delete room"
	if err := validID(id); err != nil {
		return false, wrap(op, fmt.Errorf("%w: %w", ErrNoRoom, err))
	}
	pipe := s.rdb.Pipeline()
	room := pipe.Del(ctx, string(s.k.chatRoom(id)))
	pipe.Del(ctx, string(s.k.chatHistory(id)), string(s.k.chatMembers(id))) // one slot: {id}
	pipe.ZRem(ctx, string(s.k.chatRooms()), id)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, wrap(op, err)
	}
	return room.Val() > 0, nil
}

// RoomCount returns the number of rooms.
func (s *Store) RoomCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, string(s.k.chatRooms())).Result()
	return n, wrap("room count", err)
}

// MarkPresent records that uid was announced as present in room (members:{id})
// and reports whether it was not already: the caller sends the join notice
// only then, so concurrent binds announce a user once. ErrNoRoom when the
// room does not exist (deleted): nothing is written (chat_member_add.lua).
func (s *Store) MarkPresent(ctx context.Context, room, uid string) (bool, error) {
	const op = "mark present"
	if err := validID(room); err != nil {
		return false, wrap(op, err)
	}
	n, err := scriptChatMemberAdd.Run(ctx, s.rdb, []string{string(s.k.chatRoom(room)), string(s.k.chatMembers(room))}, uid).Int()
	if err == nil && n < 0 {
		err = fmt.Errorf("%w: %q", ErrNoRoom, room)
	}
	return n > 0, wrap(op, err)
}

// MarkAbsent removes uid from the announced members of room and reports
// whether the caller should announce the departure: uid was a member (so
// concurrent closes announce once), or the set is gone altogether (Redis
// lost its data; better a notice too many than a ghost in the list).
func (s *Store) MarkAbsent(ctx context.Context, room, uid string) (bool, error) {
	if err := validID(room); err != nil {
		return false, wrap("mark absent", err)
	}
	k := string(s.k.chatMembers(room))
	pipe := s.rdb.Pipeline()
	rem := pipe.SRem(ctx, k, uid)
	exists := pipe.Exists(ctx, k)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, wrap("mark absent", err)
	}
	return rem.Val() > 0 || exists.Val() == 0, nil
}

// AppendHistory appends msg (one JSON message) to the history of room id,
// keeps only the last max entries, and moves the room to the top of the
// room list (its score becomes now, never lower). ErrNoRoom when the room
// does not exist (deleted): nothing is written (chat_history_append.lua).
// One round trip.
func (s *Store) AppendHistory(ctx context.Context, id string, msg []byte, max int) error {
	const op = "append history"
	if err := validID(id); err != nil {
		return wrap(op, err)
	}
	if max <= 0 {
		max = 1
	}
	pipe := s.rdb.Pipeline()
	appended := scriptChatHistoryAppend.Eval(ctx, pipe, []string{string(s.k.chatRoom(id)), string(s.k.chatHistory(id))}, msg, max)
	// XX: a room deleted meanwhile stays off the list; GT: replicas whose
	// clocks lag never move a room down.
	pipe.ZAddArgs(ctx, string(s.k.chatRooms()), redis.ZAddArgs{XX: true, GT: true,
		Members: []redis.Z{{Score: float64(time.Now().UnixMilli()), Member: id}}})
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap(op, err)
	}
	if n, _ := appended.Int(); n == 0 {
		return wrap(op, fmt.Errorf("%w: %q", ErrNoRoom, id))
	}
	return nil
}

// History returns the last n messages of room id, oldest first.
func (s *Store) History(ctx context.Context, id string, n int) ([]string, error) {
	const op = "history"
	if err := validID(id); err != nil {
		return nil, wrap(op, err)
	}
	if n <= 0 {
		return []string{}, nil
	}
	msgs, err := s.rdb.LRange(ctx, string(s.k.chatHistory(id)), int64(-n), -1).Result()
	return msgs, wrap(op, err)
}

// SetUser stores the profile of a logged-in user for ttl (0: no expiry).
func (s *Store) SetUser(ctx context.Context, uid string, profile map[string]string, ttl time.Duration) error {
	const op = "set user"
	if err := validID(uid); err != nil {
		return wrap(op, err)
	}
	k := string(s.k.chatUser(uid))
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, k)
	pipe.HSet(ctx, k, profile)
	if ttl > 0 {
		pipe.PExpire(ctx, k, ttl)
	}
	_, err := pipe.Exec(ctx)
	return wrap(op, err)
}

// User returns the profile of a logged-in user, or ErrNoUser.
func (s *Store) User(ctx context.Context, uid string) (map[string]string, error) {
	const op = "get user"
	if err := validID(uid); err != nil {
		return nil, wrap(op, fmt.Errorf("%w: %w", ErrNoUser, err))
	}
	h, err := s.rdb.HGetAll(ctx, string(s.k.chatUser(uid))).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(h) == 0 {
		return nil, wrap(op, fmt.Errorf("%w: %q", ErrNoUser, uid))
	}
	return h, nil
}

// DeleteUser removes the profile of a user who logged out.
func (s *Store) DeleteUser(ctx context.Context, uid string) error {
	if err := validID(uid); err != nil {
		return wrap("delete user", err)
	}
	return wrap("delete user", s.rdb.Del(ctx, string(s.k.chatUser(uid))).Err())
}
