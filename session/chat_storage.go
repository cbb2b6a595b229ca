package session

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
}

// LoginStorage returns the storage of login sessions (login:{sid}).
func (s *Store) LoginStorage(timeout time.Duration) *KVStorage {
	return s.kvStorage(s.k.chatLogin, s.k.chatLoginPattern(), timeout)
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
	b, err := st.s.rdb.Get(ctx, string(st.key(key))).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("storage get", err)
	}
	return b, nil
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
	return wrap("storage set", st.s.rdb.Set(ctx, string(st.key(key)), val, exp).Err())
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
