package session_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/session"
)

// BenchmarkRecoverable compares a send to a 100-member group without and
// with a recovery log, and a recovery read of 10 messages (docs/BENCHMARKS.md):
//
//	go test ./session -run '^$' -bench Recoverable -benchmem -benchtime 2000x
func BenchmarkRecoverable(b *testing.B) {
	e := newBenchEnv(b)
	payload := []byte(`{"type":"say","from":"u1","content":"` + strings.Repeat("x", 64) + `","ts":1}`)
	b.Run("SendToGroup100", func(b *testing.B) {
		e.measure(b, func(ctx context.Context, _ int) error { return e.store.SendToGroup(ctx, "room", payload) })
	})
	b.Run("SendToGroup100Recoverable", func(b *testing.B) {
		e.measure(b, func(ctx context.Context, _ int) error {
			return e.store.SendToGroup(ctx, "room", payload, session.Recoverable())
		})
	})
	b.Run("GroupLogSince10", func(b *testing.B) {
		l, err := e.store.GroupLogSince(context.Background(), "room", "", 0)
		if l == nil {
			b.Fatal(err)
		}
		e.measure(b, func(ctx context.Context, _ int) error {
			_, err := e.store.GroupLogSince(ctx, "room", l.Epoch, l.Seq-10)
			return err
		})
	})
}
