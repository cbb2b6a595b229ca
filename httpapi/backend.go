package httpapi

import (
	"context"
	"time"

	"github.com/chatgate/chatgate/session"
)

// Push is the part of session's push API the chat app calls: binding,
// membership, sends and the session fields the page reads back.
type Push interface {
	BindUid(ctx context.Context, cid, uid string) error
	JoinGroup(ctx context.Context, cid, gid string) error
	LeaveGroup(ctx context.Context, cid, gid string) error
	Ungroup(ctx context.Context, gid string) error
	CloseClient(ctx context.Context, cid string, payload []byte) error
	SendToGroup(ctx context.Context, gid string, payload []byte, opts ...session.SendOption) error
	SendToUids(ctx context.Context, uids []string, payload []byte, opts ...session.SendOption) error
	Session(ctx context.Context, cid string) (session.Session, error)
	SetSession(ctx context.Context, cid string, sess session.Session) error
	UpdateSession(ctx context.Context, cid string, sess session.Session) error
	SessionsByGroup(ctx context.Context, gid string) (map[string]session.Session, error)
	UidByClient(ctx context.Context, cid string) (string, error)
	ClientIDsByUid(ctx context.Context, uid string) ([]string, error)
	ClientIDsByGroup(ctx context.Context, gid string) ([]string, error)
	UidsByGroup(ctx context.Context, gid string) ([]string, error)
	UidCountByGroup(ctx context.Context, gid string) (int, error)
	GroupLogPosition(ctx context.Context, gid string) (epoch string, seq int64, err error)
}

// Notices is the events-stream consumer behind the close notices
// (notices.go).
type Notices interface {
	EnsureEventsGroup(ctx context.Context, group string) error
	ReadEvents(ctx context.Context, group, consumer string, count int64, block time.Duration) ([]session.StreamEvent, error)
	ClaimStaleEvents(ctx context.Context, group, consumer string, minIdle time.Duration, start string, count int64) ([]session.StreamEvent, string, error)
	AckEvents(ctx context.Context, group string, ids ...string) error
}

// Gateways is what the chat app needs from session; *session.Store
// implements it (its Push and Events parts), tests may fake it.
type Gateways interface {
	Push
	Notices
}

var _ Gateways = (*session.Store)(nil)
