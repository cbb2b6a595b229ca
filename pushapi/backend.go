package pushapi

import (
	"context"

	"github.com/chatgate/chatgate/session"
)

// The session methods the handlers call, by concern: the push API is the
// HTTP form of session's, so it uses most of it. *session.Push implements
// all of them.

// Sender delivers messages and closes clients.
type Sender interface {
	SendToAll(ctx context.Context, payload []byte, opts ...session.SendOption) error
	SendToClient(ctx context.Context, cid string, payload []byte, opts ...session.SendOption) error
	SendToClients(ctx context.Context, cids []string, payload []byte, opts ...session.SendOption) error
	SendToUid(ctx context.Context, uid string, payload []byte, opts ...session.SendOption) error
	SendToUids(ctx context.Context, uids []string, payload []byte, opts ...session.SendOption) error
	SendToGroup(ctx context.Context, gid string, payload []byte, opts ...session.SendOption) error
	SendToGroups(ctx context.Context, gids []string, payload []byte, opts ...session.SendOption) error
	CloseClient(ctx context.Context, cid string, payload []byte) error
	SendBatch(ctx context.Context, sends []session.Send) error
}

// Members changes uid bindings and group membership.
type Members interface {
	BindUid(ctx context.Context, cid, uid string) error
	UnbindUid(ctx context.Context, cid, uid string) error
	JoinGroup(ctx context.Context, cid, gid string) error
	LeaveGroup(ctx context.Context, cid, gid string) error
	Ungroup(ctx context.Context, gid string) error
}

// Sessions reads and writes clients' app sessions.
type Sessions interface {
	Session(ctx context.Context, cid string) (session.Session, error)
	SetSession(ctx context.Context, cid string, sess session.Session) error
	UpdateSession(ctx context.Context, cid string, sess session.Session) error
}

// Queries reads who is online and where.
type Queries interface {
	IsOnline(ctx context.Context, cid string) (bool, error)
	IsUidOnline(ctx context.Context, uid string) (bool, error)
	UidsOnline(ctx context.Context, uids []string) (map[string]bool, error)
	UidByClient(ctx context.Context, cid string) (string, error)
	ClientIDsByUid(ctx context.Context, uid string) ([]string, error)
	ClientIDsByUids(ctx context.Context, uids []string) (map[string][]string, error)
	ClientCount(ctx context.Context) (int64, error)
	ClientIDs(ctx context.Context) ([]string, error)
	ClientCountByGroup(ctx context.Context, gid string) (int64, error)
	ClientIDsByGroup(ctx context.Context, gid string) ([]string, error)
	SessionsByGroup(ctx context.Context, gid string) (map[string]session.Session, error)
	UidsByGroup(ctx context.Context, gid string) ([]string, error)
	UidCountByGroup(ctx context.Context, gid string) (int, error)
	Uids(ctx context.Context) ([]string, error)
	UidCount(ctx context.Context) (int64, error)
	GroupIDs(ctx context.Context) ([]string, error)
}

// Backend is everything the handlers need.
type Backend interface {
	Sender
	Members
	Sessions
	Queries
}

var _ Backend = (*session.Push)(nil)
