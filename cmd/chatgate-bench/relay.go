package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/chatgate/chatgate/session"
)

// The relay is the client-publish path's business worker: chatgate gateways
// append each client frame to the events stream (GatewayWorker's
// BusinessWorker onMessage), and this process reads the stream and sends
// each "say" to its room with Store.SendToGroup, the way the chat app would.
// Socket.IO does the same work inside its server process (socket.on("say")
// → io.to(room).emit), so the relay's CPU counts as server CPU.

// sayFrame is what a bench client sends.
type sayFrame struct {
	Room    string `json:"room"`
	Content string `json:"content"`
	TS      int64  `json:"ts"`
}

// roomMsg is what the room receives (the peer's {from, content, ts}).
type roomMsg struct {
	Type    string `json:"type"`
	From    string `json:"from"`
	Content string `json:"content"`
	TS      int64  `json:"ts"`
}

func relayMain(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	redisURL := fs.String("redis-url", "", "Redis URL")
	prefix := fs.String("redis-prefix", session.DefaultPrefix, "key prefix")
	conc := fs.Int("concurrency", 16, "room sends in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := session.Open(ctx, *redisURL, 5*time.Second, &session.Options{Prefix: *prefix, Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	log.Info("relay ready", "stream", store.EventsStream())
	err = relay(ctx, store, *conc, log)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// relayStore is what the relay uses of session: the events stream's tail
// and the push API's group send.
type relayStore interface {
	TailEvents(ctx context.Context, after string, count int64, block time.Duration) ([]session.StreamEvent, string, error)
	SendToGroup(ctx context.Context, gid string, payload []byte, opts ...session.SendOption) error
}

var _ relayStore = (*session.Store)(nil)

// relay reads new events (TailEvents: XREAD, no consumer group: one relay) and sends
// every message event to its room, conc at a time, in stream order per batch.
func relay(ctx context.Context, store relayStore, conc int, log *slog.Logger) error {
	last := "$"
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		evs, next, err := store.TailEvents(ctx, last, 1000, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warn("xread", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		last = next
		for _, ev := range evs {
			if ev.Event.Type != session.EventMessage {
				continue
			}
			data, uid := ev.Event.Data, ev.Event.Uid
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := say(ctx, store, uid, data); err != nil {
					log.Warn("relay say", "err", err)
				}
			}()
		}
	}
	return ctx.Err()
}

func say(ctx context.Context, store relayStore, uid, data string) error {
	var f sayFrame
	if err := json.Unmarshal([]byte(data), &f); err != nil || f.Room == "" {
		return fmt.Errorf("bad say frame %q: %v", data, err)
	}
	out, _ := json.Marshal(roomMsg{Type: "say", From: uid, Content: f.Content, TS: f.TS})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return store.SendToGroup(ctx, f.Room, out)
}
