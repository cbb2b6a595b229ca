package session

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ParseRedisURL turns a Redis URL into client options for one of the three
// deployments, all served by one redis.UniversalClient:
//
//	redis://[user:pass@]host:6379/0                       standalone (rediss:// for TLS)
//	redis://host:26379?master_name=mymaster&addr=host2:26379  Sentinel (addresses are sentinels)
//	redis-cluster://host:7000?addr=host2:7000&addr=host3:7000  Cluster (rediss-cluster:// for TLS)
//
// Query parameters are go-redis's (dial_timeout, pool_size, max_retries,
// pool_timeout, client_name, …): every option go-redis parses for the
// deployment reaches the client, and go-redis refuses an unknown one by name.
func ParseRedisURL(raw string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("session: parse redis url: %w", err)
	}
	switch u.Scheme {
	case "redis-cluster", "rediss-cluster":
		u.Scheme = strings.TrimSuffix(u.Scheme, "-cluster")
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("session: parse redis cluster url: %w", err)
		}
		uo := &redis.UniversalOptions{IsClusterMode: true}
		copySameFields(uo, o)
		return uo, nil
	case "redis", "rediss":
	default:
		return nil, fmt.Errorf("session: redis url %q: scheme must be redis, rediss, redis-cluster or rediss-cluster", raw)
	}
	if u.Query().Get("master_name") != "" {
		o, err := redis.ParseFailoverURL(raw)
		if err != nil {
			return nil, fmt.Errorf("session: parse redis sentinel url: %w", err)
		}
		uo := &redis.UniversalOptions{Addrs: o.SentinelAddrs}
		copySameFields(uo, o)
		return uo, nil
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("session: parse redis url: %w", err)
	}
	uo := &redis.UniversalOptions{Addrs: []string{o.Addr}}
	copySameFields(uo, o)
	return uo, nil
}

// copySameFields sets each field of *dst that *src has under the same name
// and type (go-redis's Options, FailoverOptions and ClusterOptions share
// their names with UniversalOptions), leaving the others alone. Listing the
// fields by hand silently dropped every option added later (issue 11).
func copySameFields(dst *redis.UniversalOptions, src any) {
	d, sv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem()
	for i := range sv.NumField() {
		f := sv.Type().Field(i)
		df := d.FieldByName(f.Name)
		if !f.IsExported() || !df.IsValid() || !df.CanSet() || df.Type() != f.Type || sv.Field(i).IsZero() {
			continue
		}
		df.Set(sv.Field(i))
	}
}

// Open connects to the Redis at redisURL (see ParseRedisURL), checks that it
// answers within timeout, and returns a Store that owns the client: Close it.
func Open(ctx context.Context, redisURL string, timeout time.Duration, opts *Options) (*Store, error) {
	rdb, err := Dial(ctx, redisURL, timeout, opts)
	if err != nil {
		return nil, err
	}
	s := New(rdb, opts)
	s.owned = true
	return s, nil
}

// Dial is Open without the Store: it returns the client, which the caller
// owns and closes, so that a process builds its Store and the chat app's
// store (chatdata) over one connection pool. opts is what the Store will be
// built with: Dial refuses a prefix New would not take.
func Dial(ctx context.Context, redisURL string, timeout time.Duration, opts *Options) (redis.UniversalClient, error) {
	uo, err := ParseRedisURL(redisURL)
	if err != nil {
		return nil, err
	}
	if opts != nil {
		if err := validPrefix(opts.Prefix); err != nil {
			return nil, err
		}
	}
	// Without this, go-redis ignores ctx deadlines and only its own
	// read/write timeouts apply.
	uo.ContextTimeoutEnabled = true
	rdb := redis.NewUniversalClient(uo)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("session: redis at %s does not answer: %w", redact(u(redisURL)), err)
	}
	return rdb, nil
}

// Close closes the Redis client if the Store opened it (Open); a Store made
// with New leaves the caller's client alone.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	return s.rdb.Close()
}

func u(raw string) *url.URL { p, _ := url.Parse(raw); return p }

// redact hides a password for logs and errors.
func redact(p *url.URL) string {
	if p == nil {
		return "(invalid url)"
	}
	return p.Redacted()
}
