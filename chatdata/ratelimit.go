package chatdata

import (
	"context"
	"time"
)

// RateResult is the outcome of one RateLimit call.
type RateResult struct {
	Allowed    bool          // the request is within the limit
	Count      int64         // requests counted in the current window, this one included
	RetryAfter time.Duration // when Allowed is false: time until the window ends
}

// RateLimit counts one request against key in a fixed window (limit:{key},
// created with the window as TTL) and reports whether it is within limit.
// The count is shared by every process using this Redis and is atomic
// (MULTI: SET NX PX, INCR, PTTL).
func (s *Store) RateLimit(ctx context.Context, key string, limit int, window time.Duration) (RateResult, error) {
	const op = "rate limit"
	if err := validID(key); err != nil {
		return RateResult{}, wrap(op, err)
	}
	k := string(s.k.chatLimit(key))
	pipe := s.rdb.TxPipeline()
	pipe.SetNX(ctx, k, 0, window)
	incr := pipe.Incr(ctx, k)
	ttl := pipe.PTTL(ctx, k)
	if _, err := pipe.Exec(ctx); err != nil {
		return RateResult{}, wrap(op, err)
	}
	r := RateResult{Count: incr.Val(), Allowed: incr.Val() <= int64(limit)}
	if !r.Allowed {
		switch d := ttl.Val(); {
		case d > 0:
			r.RetryAfter = d
		case d == -1: // no TTL (should not happen): give it one
			r.RetryAfter = window
			if err := s.rdb.PExpire(ctx, k, window).Err(); err != nil {
				return r, wrap(op, err)
			}
		default: // PTTL 0: the window ends within the millisecond; never restart it
			r.RetryAfter = time.Millisecond
		}
	}
	return r, nil
}
