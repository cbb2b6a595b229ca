package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/session"
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

// fromStream converts what session reads into the example's JSON form.
func fromStream(se session.StreamEvent) event {
	e := se.Event
	return event{ID: se.ID, Type: e.Type, ClientID: e.ClientID, Gateway: e.Gateway, Uid: e.Uid,
		IP: e.IP, TS: strconv.FormatInt(e.At.UnixMilli(), 10), Session: e.Session, Groups: e.Groups,
		Data: e.Data, Reason: e.Reason}
}

// printer is the example handler: onConnect, onMessage and onClose each print
// the event as one JSON line. Replace it with the app's logic; keep it
// idempotent, since an event may be delivered again after a crash.
func printer(w io.Writer) func(context.Context, event) error {
	return func(_ context.Context, e event) error {
		switch e.Type {
		case "connect": // onConnect: e.g. send a welcome with session.Push.SendToClient
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
	events eventStream
	handle func(context.Context, event) error
	done   int
}

// eventStream is the part of session's events API a worker uses.
type eventStream interface {
	EnsureEventsGroupFrom(ctx context.Context, group, from string) error
	ReadEvents(ctx context.Context, group, consumer string, count int64, block time.Duration) ([]session.StreamEvent, error)
	ReadPendingEvents(ctx context.Context, group, consumer string, count int64) ([]session.StreamEvent, error)
	ClaimStaleEvents(ctx context.Context, group, consumer string, minIdle time.Duration, start string, count int64) ([]session.StreamEvent, string, error)
	AckEvents(ctx context.Context, group string, ids ...string) error
}

var _ eventStream = (*session.Events)(nil)

// Run creates the group if needed, handles this consumer's pending entries,
// claims abandoned ones, then new ones. It returns the number handled.
func (w *worker) Run(ctx context.Context) (int, error) {
	if err := w.events.EnsureEventsGroupFrom(ctx, w.cfg.group, "0"); err != nil {
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
		msgs, err := w.events.ReadEvents(ctx, w.cfg.group, w.cfg.consumer, w.batch(), w.cfg.block)
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

// pending re-handles entries this consumer fetched but did not ack before a restart.
func (w *worker) pending(ctx context.Context) error {
	for !w.full() {
		msgs, err := w.events.ReadPendingEvents(ctx, w.cfg.group, w.cfg.consumer, w.batch())
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
		msgs, next, err := w.events.ClaimStaleEvents(ctx, w.cfg.group, w.cfg.consumer, w.cfg.claimIdle, start, w.batch())
		if err != nil {
			return err
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
// stream while pending comes back empty (no type): it is only acked.
func (w *worker) handleAll(ctx context.Context, msgs []session.StreamEvent) error {
	for _, m := range msgs {
		if m.Event.Type != "" {
			if err := w.handle(ctx, fromStream(m)); err != nil {
				return fmt.Errorf("handle event %s: %w", m.ID, err)
			}
			w.done++
		}
		if err := w.events.AckEvents(ctx, w.cfg.group, m.ID); err != nil {
			return err
		}
	}
	return nil
}
