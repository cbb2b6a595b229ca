package pushapi

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/session"
)

// read builds the handler of a GET route: param names the query parameter
// it needs ("" for none); f does the Redis work and returns the response body.
func (a *api) read(param string, f func(ctx context.Context, id string) (fiber.Map, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := ""
		if param != "" {
			// Copy: Fiber's strings point into a buffer reused after the handler.
			id = string([]byte(c.Query(param)))
			if id == "" {
				return a.fail(c, &badRequest{codeBadRequest, "query parameter " + param + " is required"})
			}
		}
		ctx, cancel := a.ctx(c)
		defer cancel()
		body, err := f(ctx, id)
		if err != nil {
			return a.fail(c, err)
		}
		return c.JSON(body)
	}
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *api) getSession() fiber.Handler {
	return a.read("client_id", func(ctx context.Context, cid string) (fiber.Map, error) {
		sess, err := a.store.Session(ctx, cid)
		if err != nil {
			return nil, err
		}
		return fiber.Map{"client_id": cid, "session": sess}, nil
	})
}

func (a *api) isOnline() fiber.Handler {
	return a.read("client_id", func(ctx context.Context, cid string) (fiber.Map, error) {
		on, err := a.store.IsOnline(ctx, cid)
		return fiber.Map{"client_id": cid, "online": on}, err
	})
}

func (a *api) isUidOnline() fiber.Handler {
	return a.read("uid", func(ctx context.Context, uid string) (fiber.Map, error) {
		on, err := a.store.IsUidOnline(ctx, uid)
		return fiber.Map{"uid": uid, "online": on}, err
	})
}

func (a *api) clientsByUid() fiber.Handler {
	return a.read("uid", func(ctx context.Context, uid string) (fiber.Map, error) {
		ids, err := a.store.ClientIDsByUid(ctx, uid)
		return fiber.Map{"uid": uid, "client_ids": nonNil(ids)}, err
	})
}

func (a *api) uidByClient() fiber.Handler {
	return a.read("client_id", func(ctx context.Context, cid string) (fiber.Map, error) {
		uid, err := a.store.UidByClient(ctx, cid)
		return fiber.Map{"client_id": cid, "uid": uid}, err
	})
}

func (a *api) clientIDs() fiber.Handler {
	return a.read("", func(ctx context.Context, _ string) (fiber.Map, error) {
		ids, err := a.store.ClientIDs(ctx)
		return fiber.Map{"client_ids": nonNil(ids)}, err
	})
}

func (a *api) clientCount() fiber.Handler {
	return a.read("", func(ctx context.Context, _ string) (fiber.Map, error) {
		n, err := a.store.ClientCount(ctx)
		return fiber.Map{"count": n}, err
	})
}

func (a *api) groupClients() fiber.Handler {
	return a.read("group", func(ctx context.Context, gid string) (fiber.Map, error) {
		ids, err := a.store.ClientIDsByGroup(ctx, gid)
		return fiber.Map{"group": gid, "client_ids": nonNil(ids)}, err
	})
}

func (a *api) groupCount() fiber.Handler {
	return a.read("group", func(ctx context.Context, gid string) (fiber.Map, error) {
		n, err := a.store.ClientCountByGroup(ctx, gid)
		return fiber.Map{"group": gid, "count": n}, err
	})
}

func (a *api) groupSessions() fiber.Handler {
	return a.read("group", func(ctx context.Context, gid string) (fiber.Map, error) {
		s, err := a.store.SessionsByGroup(ctx, gid)
		if s == nil {
			s = map[string]session.Session{}
		}
		return fiber.Map{"group": gid, "sessions": s}, err
	})
}

func (a *api) groupUids() fiber.Handler {
	return a.read("group", func(ctx context.Context, gid string) (fiber.Map, error) {
		uids, err := a.store.UidsByGroup(ctx, gid)
		return fiber.Map{"group": gid, "uids": nonNil(uids)}, err
	})
}

func (a *api) groupUidCount() fiber.Handler {
	return a.read("group", func(ctx context.Context, gid string) (fiber.Map, error) {
		n, err := a.store.UidCountByGroup(ctx, gid)
		return fiber.Map{"group": gid, "count": n}, err
	})
}

func (a *api) groupIDs() fiber.Handler {
	return a.read("", func(ctx context.Context, _ string) (fiber.Map, error) {
		ids, err := a.store.GroupIDs(ctx)
		return fiber.Map{"groups": nonNil(ids)}, err
	})
}

func (a *api) uids() fiber.Handler {
	return a.read("", func(ctx context.Context, _ string) (fiber.Map, error) {
		ids, err := a.store.Uids(ctx)
		return fiber.Map{"uids": nonNil(ids)}, err
	})
}

func (a *api) uidCount() fiber.Handler {
	return a.read("", func(ctx context.Context, _ string) (fiber.Map, error) {
		n, err := a.store.UidCount(ctx)
		return fiber.Map{"count": n}, err
	})
}

// batchRequest is the body of the batch routes /uids/online and /uids/clients.
type batchRequest struct {
	Uids []string `json:"uids"`
}

// batch builds the handler of a batch route.
func (a *api) batch(f func(ctx context.Context, uids []string) (fiber.Map, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var req batchRequest
		if err := decode(c, &req); err != nil {
			return a.fail(c, err)
		}
		if req.Uids == nil {
			return a.fail(c, missing("uids"))
		}
		ctx, cancel := a.ctx(c)
		defer cancel()
		body, err := f(ctx, req.Uids)
		if err != nil {
			return a.fail(c, err)
		}
		return c.JSON(body)
	}
}

func (a *api) uidsOnline() fiber.Handler {
	return a.batch(func(ctx context.Context, uids []string) (fiber.Map, error) {
		on, err := a.store.UidsOnline(ctx, uids)
		return fiber.Map{"online": on}, err
	})
}

func (a *api) clientsByUids() fiber.Handler {
	return a.batch(func(ctx context.Context, uids []string) (fiber.Map, error) {
		m, err := a.store.ClientIDsByUids(ctx, uids)
		for k, v := range m {
			m[k] = nonNil(v)
		}
		return fiber.Map{"client_ids": m}, err
	})
}
