package pushapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/session"
)

// memberRequest is the body of /bind, /unbind, /join, /leave and /ungroup.
type memberRequest struct {
	ClientID string `json:"client_id"`
	Uid      string `json:"uid"`
	Group    string `json:"group"`
}

// need returns an error naming the first empty field among names.
func (r *memberRequest) need(names ...string) error {
	for _, n := range names {
		v := map[string]string{"client_id": r.ClientID, "uid": r.Uid, "group": r.Group}[n]
		if v == "" {
			return missing(n)
		}
	}
	return nil
}

// member builds the handler of one membership route: decode, check the
// fields, run op.
func (a *api) member(fields []string, op func(c *fiber.Ctx, r *memberRequest) error) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var req memberRequest
		if err := decode(c, &req); err != nil {
			return a.fail(c, err)
		}
		if err := req.need(fields...); err != nil {
			return a.fail(c, err)
		}
		if err := op(c, &req); err != nil {
			return a.fail(c, err)
		}
		return c.JSON(ok)
	}
}

func (a *api) bind() fiber.Handler {
	return a.member([]string{"client_id", "uid"}, func(c *fiber.Ctx, r *memberRequest) error {
		ctx, cancel := a.ctx(c)
		defer cancel()
		return a.store.BindUid(ctx, r.ClientID, r.Uid)
	})
}

func (a *api) unbind() fiber.Handler {
	return a.member([]string{"client_id", "uid"}, func(c *fiber.Ctx, r *memberRequest) error {
		ctx, cancel := a.ctx(c)
		defer cancel()
		return a.store.UnbindUid(ctx, r.ClientID, r.Uid)
	})
}

func (a *api) join() fiber.Handler {
	return a.member([]string{"client_id", "group"}, func(c *fiber.Ctx, r *memberRequest) error {
		ctx, cancel := a.ctx(c)
		defer cancel()
		return a.store.JoinGroup(ctx, r.ClientID, r.Group)
	})
}

func (a *api) leave() fiber.Handler {
	return a.member([]string{"client_id", "group"}, func(c *fiber.Ctx, r *memberRequest) error {
		ctx, cancel := a.ctx(c)
		defer cancel()
		return a.store.LeaveGroup(ctx, r.ClientID, r.Group)
	})
}

func (a *api) ungroup() fiber.Handler {
	return a.member([]string{"group"}, func(c *fiber.Ctx, r *memberRequest) error {
		ctx, cancel := a.ctx(c)
		defer cancel()
		return a.store.Ungroup(ctx, r.Group)
	})
}

// closeRequest is the body of /close.
type closeRequest struct {
	ClientID string  `json:"client_id"`
	Payload  payload `json:"payload"`
}

func (a *api) closeClient(c *fiber.Ctx) error {
	var req closeRequest
	if err := decode(c, &req); err != nil {
		return a.fail(c, err)
	}
	if req.ClientID == "" {
		return a.fail(c, missing("client_id"))
	}
	msg, err := req.Payload.bytes()
	if err != nil {
		return a.fail(c, err)
	}
	ctx, cancel := a.ctx(c)
	defer cancel()
	if err := a.store.CloseClient(ctx, req.ClientID, msg); err != nil {
		return a.fail(c, err)
	}
	return c.JSON(ok)
}

// sessionRequest is the body of /session/set and /session/update.
type sessionRequest struct {
	ClientID string            `json:"client_id"`
	Session  map[string]string `json:"session"`
}

// writeSession builds the handler of /session/set (merge false) or
// /session/update (merge true).
func (a *api) writeSession(merge bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var req sessionRequest
		if err := decode(c, &req); err != nil {
			return a.fail(c, err)
		}
		if req.ClientID == "" {
			return a.fail(c, missing("client_id"))
		}
		if req.Session == nil {
			return a.fail(c, missing("session"))
		}
		ctx, cancel := a.ctx(c)
		defer cancel()
		var err error
		if merge {
			err = a.store.UpdateSession(ctx, req.ClientID, session.Session(req.Session))
		} else {
			err = a.store.SetSession(ctx, req.ClientID, session.Session(req.Session))
		}
		if err != nil {
			return a.fail(c, err)
		}
		return c.JSON(ok)
	}
}
