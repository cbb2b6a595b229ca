package session

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestGroupLogPosition(t *testing.T) {
	t.Parallel()
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		s := New(rdb, nil)
		if epoch, seq, err := s.GroupLogPosition(ctx, "g"); err != nil || epoch != "" || seq != 0 {
			t.Fatalf("no log: %q %d %v, want \"\" 0", epoch, seq, err)
		}
		epoch, _, err := s.EnableRecovery(ctx, "g", nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := s.SendToGroup(ctx, "g", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		got, seq, err := s.GroupLogPosition(ctx, "g")
		if err != nil || got != epoch || seq != 3 {
			t.Fatalf("position: %q %d %v, want %q 3", got, seq, err, epoch)
		}
		if _, _, err := s.GroupLogPosition(ctx, ""); err == nil {
			t.Fatal("empty group id accepted")
		}
	})
}
