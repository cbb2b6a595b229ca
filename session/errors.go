package session

import (
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// wrap adds the operation to err in the one style of this package. redis.Nil
// never leaves session: callers see ErrNoClient or an empty result instead.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		err = ErrNoClient
	}
	return fmt.Errorf("session: %s: %w", op, err)
}
