package gatewayworker

import (
	"context"

	"github.com/chatgate/chatgate/session"
)

// The session methods the inner listener calls, by concern. *session.Push
// implements all of them; each listener command uses the push API exactly
// as a Go caller would, restricted to its own gateway's share.

// Sender delivers messages and closes clients.
type Sender interface {
	SendToAll(ctx context.Context, payload []byte, opts ...session.SendOption) error
	SendToClients(ctx context.Context, cids []string, payload []byte, opts ...session.SendOption) error
	SendToUids(ctx context.Context, uids []string, payload []byte, opts ...session.SendOption) error
	SendToGroups(ctx context.Context, gids []string, payload []byte, opts ...session.SendOption) error
	CloseClient(ctx context.Context, cid string, payload []byte) error
}

// Members changes uid bindings and group membership.
type Members interface {
	BindUid(ctx context.Context, cid, uid string) error
	UnbindUid(ctx context.Context, cid, uid string) error
	UidByClient(ctx context.Context, cid string) (string, error)
	JoinGroup(ctx context.Context, cid, gid string) error
	LeaveGroup(ctx context.Context, cid, gid string) error
	UngroupOnGateway(ctx context.Context, gid, gw string) error
}

// Queries reads what one gateway holds.
type Queries interface {
	IsOnline(ctx context.Context, cid string) (bool, error)
	ClientCountOnGateway(ctx context.Context, gw string) (int64, error)
	ClientIDsOnGateway(ctx context.Context, gw string) ([]string, error)
	GroupCountsOnGateway(ctx context.Context, gw string, gids []string) ([]int64, error)
	GroupIDsOnGateway(ctx context.Context, gw string) ([]string, error)
	ClientIDsByUids(ctx context.Context, uids []string) (map[string][]string, error)
	ClientIDsByGroup(ctx context.Context, gid string) ([]string, error)
	ClientRecords(ctx context.Context, cids []string, withGroups bool) ([]*session.ClientRecord, error)
}

// Sessions writes sessions (compare-and-swap; reads are ClientRecords).
type Sessions interface {
	ReplaceSessionIf(ctx context.Context, cid string, prev, next session.SessionState) (bool, error)
}

// Store is everything the inner listener needs.
type Store interface {
	Sender
	Members
	Queries
	Sessions
}

// Gateways lists the live gateways, for the Register.
type Gateways interface {
	LiveGateways(ctx context.Context) ([]string, error)
}

var (
	_ Store    = (*session.Push)(nil)
	_ Gateways = (*session.Push)(nil)
)
