package pushapi

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/session"
)

// sendBatchRequest is the body of POST /send/batch.
type sendBatchRequest struct {
	Sends []batchItem `json:"sends"`
}

// batchItem is one send of a batch: "to" names the single route whose body
// the rest of the item is ("group" → the fields of /send/group).
type batchItem struct {
	To string `json:"to"`
	sendRequest
}

// batchTargets maps "to" to the field it needs and the session target.
var batchTargets = map[string]struct {
	need string
	to   session.Target
}{
	"all":     {"", session.ToAll},
	"client":  {"client_id", session.ToClients},
	"clients": {"client_ids", session.ToClients},
	"uid":     {"uid", session.ToUids},
	"uids":    {"uids", session.ToUids},
	"group":   {"group", session.ToGroups},
	"groups":  {"groups", session.ToGroups},
}

// sendBatch is POST /send/batch: many sends in one request and at most two
// Redis round trips (session.Store.SendBatch). Every send is checked first;
// one invalid send answers 400 naming its index and nothing is sent.
func (a *api) sendBatch(c *fiber.Ctx) error {
	var req sendBatchRequest
	if err := decode(c, &req); err != nil {
		return a.fail(c, err)
	}
	if req.Sends == nil {
		return a.fail(c, missing("sends"))
	}
	sends := make([]session.Send, len(req.Sends))
	for i := range req.Sends {
		if err := req.Sends[i].toSend(&sends[i]); err != nil {
			return a.fail(c, batchItemError(i, err))
		}
	}
	ctx, cancel := a.ctx(c)
	defer cancel()
	if err := a.store.SendBatch(ctx, sends); err != nil {
		return a.fail(c, err)
	}
	return sendOK(c)
}

// toSend checks one item and fills s from it.
func (it *batchItem) toSend(s *session.Send) error {
	t, known := batchTargets[it.To]
	if !known {
		return &badRequest{codeBadRequest, `field "to" must be one of all, client, clients, uid, uids, group, groups`}
	}
	if err := it.check(t.need); err != nil {
		return err
	}
	msg, err := it.Payload.bytes()
	if err != nil {
		return err
	}
	if msg == nil {
		return missing("payload")
	}
	s.To, s.Payload, s.Exclude, s.Recoverable = t.to, msg, it.Exclude, it.Recoverable
	switch it.To {
	case "client":
		s.IDs = []string{it.ClientID}
	case "clients":
		s.IDs = it.ClientIDs
	case "uid":
		s.IDs = []string{it.Uid}
	case "uids":
		s.IDs = it.Uids
	case "group":
		s.IDs = []string{it.Group}
	case "groups":
		s.IDs = it.Groups
	}
	return nil
}

// batchItemError prefixes a client error with the index of the send.
func batchItemError(i int, err error) error {
	var br *badRequest
	if errors.As(err, &br) {
		return &badRequest{br.code, "sends[" + strconv.Itoa(i) + "]: " + br.msg}
	}
	return err
}
