package chatdata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultStorageTimeout bounds each operation of a KVStorage when its timeout is 0.
const DefaultStorageTimeout = 2 * time.Second

// KVStorage is a key/value store over Redis with the method set of Fiber's
// fiber.Storage interface (Get, Set, Delete, Reset, Close), so Fiber's
// session and limiter middleware keep their data in chatgate's Redis under
// keys built here (login:{sid}). fiber.Storage methods take no context, so each operation
// runs under the storage's own timeout. It is safe for concurrent use.
type KVStorage struct {
	s       *Store
	key     func(string) Key
	pattern string
	timeout time.Duration
	// ended, when set, names a marker key per id (logout:{sid}): while it
	// exists, Get finds nothing and Set refuses with ErrLoggedOut.
	ended func(string) Key
}

// LoginStorage returns the storage of login sessions (login:{sid}). A
// session ended by EndLogin is gone for good: Get returns nil for it, and a
// Set racing the logout (a request that loaded the session before) returns
// ErrLoggedOut instead of bringing it back (issue 10, item 3).
func (s *Store) LoginStorage(timeout time.Duration) *KVStorage {
	st := s.kvStorage(s.k.chatLogin, s.k.chatLoginPattern(), timeout)
	st.ended = s.k.chatLogout
	return st
}

func (s *Store) kvStorage(key func(string) Key, pattern string, timeout time.Duration) *KVStorage {
	if timeout <= 0 {
		timeout = DefaultStorageTimeout
	}
	return &KVStorage{s: s, key: key, pattern: pattern, timeout: timeout}
}

func (st *KVStorage) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), st.timeout)
}

// Get returns the value of key, or nil and no error when it does not exist.
func (st *KVStorage) Get(key string) ([]byte, error) {
	if err := validID(key); err != nil {
		return nil, nil // an id Set would refuse cannot exist
	}
	ctx, cancel := st.ctx()
	defer cancel()
	if st.ended != nil {
		return st.getUnlessEnded(ctx, key)
	}
	b, err := st.s.rdb.Get(ctx, string(st.key(key))).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("storage get", err)
	}
	return b, nil
}

func (st *KVStorage) getUnlessEnded(ctx context.Context, key string) ([]byte, error) {
	pipe := st.s.rdb.Pipeline()
	get := pipe.Get(ctx, string(st.key(key)))
	ended := pipe.Exists(ctx, string(st.ended(key)))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap("storage get", err)
	}
	if ended.Val() > 0 || errors.Is(get.Err(), redis.Nil) {
		return nil, nil
	}
	return get.Bytes()
}

// Set stores val under key for exp (0: no expiry). An empty key or value is
// ignored, as Fiber's own storages do.
func (st *KVStorage) Set(key string, val []byte, exp time.Duration) error {
	if key == "" || len(val) == 0 {
		return nil
	}
	if err := validID(key); err != nil {
		return wrap("storage set", err)
	}
	ctx, cancel := st.ctx()
	defer cancel()
	if st.ended == nil {
		return wrap("storage set", st.s.rdb.Set(ctx, string(st.key(key)), val, exp).Err())
	}
	saved, err := scriptLoginSave.Run(ctx, st.s.rdb, []string{string(st.key(key)), string(st.ended(key))}, val, exp.Milliseconds()).Int()
	if err != nil {
		return wrap("storage set", err)
	}
	if saved == 0 {
		return wrap("storage set", ErrLoggedOut)
	}
	return nil
}

// Delete removes key; deleting a missing key is not an error.
func (st *KVStorage) Delete(key string) error {
	if validID(key) != nil {
		return nil
	}
	ctx, cancel := st.ctx()
	defer cancel()
	return wrap("storage delete", st.s.rdb.Del(ctx, string(st.key(key))).Err())
}

// Reset removes every key of this storage (SCAN + DEL; on Cluster, on each master).
func (st *KVStorage) Reset() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*st.timeout)
	defer cancel()
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, st.pattern, 500).Iterator()
		for it.Next(ctx) {
			if err := c.Del(ctx, it.Val()).Err(); err != nil {
				return err
			}
		}
		return it.Err()
	}
	var err error
	if cc, ok := st.s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, st.s.rdb)
	}
	if err != nil {
		return fmt.Errorf("session: storage reset: %w", err)
	}
	return nil
}

// Close does nothing: the Store owns the connection.
func (st *KVStorage) Close() error { return nil }

var (
	scriptLoginSave   = mustScript("login_save")
	scriptTokenRecord = mustScript("token_record")
)

// RecordToken remembers that connect token jti was issued to login session
// sid, so that EndLogin revokes it; the set of ids lives as long as its
// newest token (ttl). It returns ErrLoggedOut when sid logged out: then the
// token must not be handed out.
func (s *Store) RecordToken(ctx context.Context, sid, jti string, ttl time.Duration) error {
	const op = "record token"
	if err := validID(sid); err != nil {
		return wrap(op, err)
	}
	if err := validID(jti); err != nil {
		return wrap(op, err)
	}
	ok, err := scriptTokenRecord.Run(ctx, s.rdb, []string{string(s.k.chatTokens(sid)), string(s.k.chatLogout(sid))},
		jti, max(ttl, time.Millisecond).Milliseconds()).Int()
	if err != nil {
		return wrap(op, err)
	}
	if ok == 0 {
		return wrap(op, ErrLoggedOut)
	}
	return nil
}

// EndLogin ends login session sid for good: it marks it logged out for
// loginTTL (LoginStorage will neither find nor save it again, RecordToken
// refuses), then revokes every connect token recorded for it for tokenTTL
// (TokenRevoked). The marker is set first, so a token issued concurrently is
// either refused or in the set read here. Calling it again is harmless (a
// failed logout can be retried). It does not delete the session data: the
// caller does (Fiber's Destroy).
func (s *Store) EndLogin(ctx context.Context, sid string, loginTTL, tokenTTL time.Duration) error {
	const op = "end login"
	if err := validID(sid); err != nil {
		return wrap(op, err)
	}
	tokens := string(s.k.chatTokens(sid))
	tx := s.rdb.TxPipeline() // both keys share the {sid} slot
	tx.Set(ctx, string(s.k.chatLogout(sid)), "1", max(loginTTL, time.Millisecond))
	ids := tx.SMembers(ctx, tokens)
	if _, err := tx.Exec(ctx); err != nil {
		return wrap(op, err)
	}
	if len(ids.Val()) > 0 {
		pipe := s.rdb.Pipeline()
		for _, jti := range ids.Val() {
			pipe.Set(ctx, string(s.k.chatRevoked(jti)), "1", max(tokenTTL, time.Millisecond))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return wrap(op, err)
		}
	}
	return wrap(op, s.rdb.Del(ctx, tokens).Err())
}

// TokenRevoked reports whether connect token jti was revoked (EndLogin, or
// another backend's SET of revoked:{jti}).
func (s *Store) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	const op = "token revoked"
	if err := validID(jti); err != nil {
		return false, wrap(op, err)
	}
	n, err := s.rdb.Exists(ctx, string(s.k.chatRevoked(jti))).Result()
	return n > 0, wrap(op, err)
}
