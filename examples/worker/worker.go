package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// event is one entry of the events stream (docs/push-api.md, part 3).
type event struct {
	ID       string            `json:"id"`
	Type     string            `json:"type"`
	ClientID string            `json:"client_id"`
	Gateway  string            `json:"gateway"`
	Uid      string            `json:"uid"`
	IP       string            `json:"ip"`
	TS       string            `json:"ts"`
	Session  map[string]string `json:"session,omitempty"`
	Groups   []string          `json:"groups,omitempty"`
	Data     string            `json:"data,omitempty"`
	Reason   string            `json:"reason,omitempty"`
}

func decodeEvent(m redis.XMessage) event {
	s := func(k string) string { v, _ := m.Values[k].(string); return v }
	e := event{ID: m.ID, Type: s("type"), ClientID: s("client_id"), Gateway: s("gateway"), Uid: s("uid"),
		IP: s("ip"), TS: s("ts"), Data: s("data"), Reason: s("reason")}
	if v := s("session"); v != "" {
		_ = json.Unmarshal([]byte(v), &e.Session)
	}
	if v := s("groups"); v != "" {
		_ = json.Unmarshal([]byte(v), &e.Groups)
	}
	return e
}

// printer is the example handler: onConnect, onMessage and onClose each print
// the event as one JSON line. Replace it with the app's logic; keep it
// idempotent, since an event may be delivered again after a crash.
func printer(w io.Writer) func(context.Context, event) error {
	return func(_ context.Context, e event) error {
		switch e.Type {
		case "connect": // onConnect: e.g. send a welcome with session.Store.SendToClient
		case "message": // onMessage: e.g. parse e.Data and SendToGroup
		case "close": // onClose: e.g. tell e.Groups that e.Uid left
		}
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
}

// worker consumes the events stream in a consumer group. Run owns its loop;
// it returns when ctx ends, after cfg.max events, or after cfg.idleExit.
type worker struct {
	cfg    *config
	rdb    redis.UniversalClient
	stream string
	handle func(context.Context, event) error
	done   int
}

// Run creates the group if needed, handles this consumer's pending entries,
// claims abandoned ones, then new ones. It returns the number handled.
func (w *worker) Run(ctx context.Context) (int, error) {
	err := w.rdb.XGroupCreateMkStream(ctx, w.stream, w.cfg.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return 0, fmt.Errorf("create group %q: %w", w.cfg.group, err)
	}
	if err := w.pending(ctx); err != nil {
		return w.done, err
	}
	if err := w.claim(ctx); err != nil {
		return w.done, err
	}
	last := time.Now()
	for !w.full() {
		if w.cfg.idleExit > 0 && time.Since(last) > w.cfg.idleExit {
			return w.done, nil
		}
		msgs, err := w.read(ctx, ">", w.cfg.block)
		if err != nil {
			return w.done, err
		}
		if len(msgs) > 0 {
			last = time.Now()
		}
		if err := w.handleAll(ctx, msgs); err != nil {
			return w.done, err
		}
	}
	return w.done, nil
}

func (w *worker) full() bool { return w.cfg.max > 0 && w.done >= w.cfg.max }

// batch is how many entries one read fetches: never more than will be
// handled, so nothing is left pending when --max stops the worker.
func (w *worker) batch() int64 {
	if w.cfg.max > 0 {
		return int64(min(100, w.cfg.max-w.done))
	}
	return 100
}

// read fetches entries for this consumer: id ">" for new ones, "0" for its pending ones.
func (w *worker) read(ctx context.Context, id string, block time.Duration) ([]redis.XMessage, error) {
	args := &redis.XReadGroupArgs{Group: w.cfg.group, Consumer: w.cfg.consumer, Streams: []string{w.stream, id}, Count: w.batch(), Block: block}
	if id != ">" {
		args.Block = -1 // pending entries are there or not: do not wait
	}
	res, err := w.rdb.XReadGroup(ctx, args).Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return res[0].Messages, nil
}

// pending re-handles entries this consumer fetched but did not ack before a restart.
func (w *worker) pending(ctx context.Context) error {
	for !w.full() {
		msgs, err := w.read(ctx, "0", 0)
		if err != nil || len(msgs) == 0 {
			return err
		}
		if err := w.handleAll(ctx, msgs); err != nil {
			return err
		}
	}
	return nil
}

// claim takes over entries other consumers left pending longer than claimIdle.
func (w *worker) claim(ctx context.Context) error {
	start := "0-0"
	for !w.full() {
		msgs, next, err := w.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: w.stream, Group: w.cfg.group,
			Consumer: w.cfg.consumer, MinIdle: w.cfg.claimIdle, Start: start, Count: w.batch()}).Result()
		if err != nil {
			return fmt.Errorf("claim events: %w", err)
		}
		if err := w.handleAll(ctx, msgs); err != nil {
			return err
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
	return nil
}

// handleAll handles and acks each entry in order. An entry trimmed from the
// stream while pending comes back without fields: it is only acked.
func (w *worker) handleAll(ctx context.Context, msgs []redis.XMessage) error {
	for _, m := range msgs {
		if len(m.Values) > 0 {
			if err := w.handle(ctx, decodeEvent(m)); err != nil {
				return fmt.Errorf("handle event %s: %w", m.ID, err)
			}
			w.done++
		}
		if err := w.rdb.XAck(ctx, w.stream, w.cfg.group, m.ID).Err(); err != nil {
			return fmt.Errorf("ack event %s: %w", m.ID, err)
		}
	}
	return nil
}
