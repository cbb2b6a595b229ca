package httpapi

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/chatgate/chatgate/session"
)

// Tuning of the close-notice consumer.
const (
	noticeBatch     = 100
	noticeBlock     = 2 * time.Second
	noticeClaimScan = 10 * time.Second // how often stale entries are looked for
	noticeBackoff   = 250 * time.Millisecond
	noticeMaxWait   = 5 * time.Second
)

// Run does the server's background work until ctx ends, then returns nil:
// it creates the default room, and consumes the events stream in consumer
// group Options.NoticeGroup, turning each close event into a "close" notice
// and a fresh "flush" for the room the closed client was in, when its user
// has no other connection left there. Close events come from gateways
// (normal closes) and from the crash reaper (clients of a dead gateway), so
// rooms hear about both. Several replicas share the group: each event is
// handled once; one a replica read but did not acknowledge (it died) is
// claimed by another after NoticeClaimIdle. Redis outages are retried with
// backoff.
func (s *Server) Run(ctx context.Context) error {
	s.ensureDefaultRoom(ctx)
	consumer := consumerName()
	log := s.log.With("consumer", consumer, "group", s.o.NoticeGroup)
	wait := noticeBackoff
	for ctx.Err() == nil {
		err := s.consumeNotices(ctx, consumer)
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, session.ErrNoConsumerGroup) {
			log.Warn("events consumer group lost (Redis lost its data?); creating it again")
			continue
		}
		log.Warn("close-notice consumer failed; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, noticeMaxWait)
	}
	return nil
}

func (s *Server) ensureDefaultRoom(ctx context.Context) {
	if s.o.DefaultRoom == "-" {
		return
	}
	for wait := noticeBackoff; ctx.Err() == nil; wait = min(2*wait, noticeMaxWait) {
		rctx, cancel := context.WithTimeout(ctx, s.o.RequestTimeout)
		_, err := s.chat.CreateRoom(rctx, s.o.DefaultRoom, "Lobby")
		cancel()
		if err == nil {
			return
		}
		s.log.Warn("create default room", "room", s.o.DefaultRoom, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

func consumerName() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "httpapi"
	}
	return host + "-" + randomID(6)
}

// consumeNotices runs one session of the consumer until ctx ends or Redis fails.
func (s *Server) consumeNotices(ctx context.Context, consumer string) error {
	rctx, cancel := context.WithTimeout(ctx, s.o.RequestTimeout)
	err := s.store.EnsureEventsGroup(rctx, s.o.NoticeGroup)
	cancel()
	if err != nil {
		return err
	}
	cursor, lastScan := "0-0", time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastScan) >= noticeClaimScan {
			lastScan = time.Now()
			rctx, cancel := context.WithTimeout(ctx, s.o.RequestTimeout)
			evs, next, err := s.store.ClaimStaleEvents(rctx, s.o.NoticeGroup, consumer, s.o.NoticeClaimIdle, cursor, noticeBatch)
			cancel()
			if err != nil {
				return err
			}
			cursor = next
			s.handleNotices(ctx, evs)
		}
		evs, err := s.store.ReadEvents(ctx, s.o.NoticeGroup, consumer, noticeBatch, noticeBlock)
		if err != nil {
			return err
		}
		s.handleNotices(ctx, evs)
	}
	return nil
}

// handleNotices handles and acknowledges events; one that fails stays
// pending and is claimed again after NoticeClaimIdle.
func (s *Server) handleNotices(ctx context.Context, evs []session.StreamEvent) {
	if len(evs) == 0 {
		return
	}
	ack := make([]string, 0, len(evs))
	for _, e := range evs {
		rctx, cancel := context.WithTimeout(ctx, s.o.RequestTimeout)
		err := s.closeNotice(rctx, &e.Event)
		cancel()
		if err != nil {
			s.log.Warn("close notice", "event", e.ID, "client", e.Event.ClientID, "err", err)
			continue
		}
		ack = append(ack, e.ID)
	}
	// Acknowledge what was handled even when ctx just ended (shutdown).
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.RequestTimeout)
	defer cancel()
	if err := s.store.AckEvents(rctx, s.o.NoticeGroup, ack...); err != nil {
		s.log.Warn("ack close events", "err", err)
	}
}

// closeNotice tells the room of a closed chat client that its user left,
// unless the user still has a connection there.
func (s *Server) closeNotice(ctx context.Context, e *session.Event) error {
	if e.Type != session.EventClose {
		return nil
	}
	room, uid := e.Session[sessRoom], e.Uid
	if uid == "" {
		uid = e.Session[sessUid]
	}
	if room == "" || uid == "" {
		return nil // not a chat client, or it had already left its room
	}
	return s.announceLeave(ctx, room, uid, e.Session["uname"])
}
