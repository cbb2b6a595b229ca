package session

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

// Rooms returns up to limit rooms, oldest first.
func (s *Store) Rooms(ctx context.Context, limit int) ([]Room, error) {
	const op = "list rooms"
	if limit <= 0 {
		return []Room{}, nil
	}
	ids, err := s.rdb.ZRange(ctx, string(s.k.chatRooms()), 0, int64(limit-1)).Result()
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

// RoomCount returns the number of rooms.
func (s *Store) RoomCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.ZCard(ctx, string(s.k.chatRooms())).Result()
	return n, wrap("room count", err)
}

// MarkPresent records that uid was announced as present in room (members:{id})
// and reports whether it was not already: the caller sends the join notice
// only then, so concurrent binds announce a user once.
func (s *Store) MarkPresent(ctx context.Context, room, uid string) (bool, error) {
	if err := validID(room); err != nil {
		return false, wrap("mark present", err)
	}
	n, err := s.rdb.SAdd(ctx, string(s.k.chatMembers(room)), uid).Result()
	return n > 0, wrap("mark present", err)
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

// AppendHistory appends msg (one JSON message) to the history of room id and
// keeps only the last max entries.
func (s *Store) AppendHistory(ctx context.Context, id string, msg []byte, max int) error {
	const op = "append history"
	if err := validID(id); err != nil {
		return wrap(op, err)
	}
	if max <= 0 {
		max = 1
	}
	k := string(s.k.chatHistory(id))
	pipe := s.rdb.Pipeline()
	pipe.RPush(ctx, k, msg)
	pipe.LTrim(ctx, k, int64(-max), -1)
	_, err := pipe.Exec(ctx)
	return wrap(op, err)
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
