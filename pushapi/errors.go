package pushapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/session"
)

// Error codes of {"error":"<code>","message":"…"} responses (docs/push-api.md).
const (
	codeDisabled       = "push_disabled"    // 503: no API key configured
	codeUnauthorized   = "unauthorized"     // 401: missing or wrong key
	codeTooLarge       = "body_too_large"   // 413: body over MaxBodyBytes (the chat app's code too)
	codeBadJSON        = "bad_json"         // 400: body is not the expected JSON object
	codeBadRequest     = "bad_request"      // 400: a required field is missing
	codeInvalidID      = "invalid_id"       // 400: client id, uid or group id malformed
	codeInvalidPayload = "invalid_payload"  // 400: payload not valid UTF-8
	codeReservedField  = "reserved_field"   // 400: session field starting with '_'
	codeNoClient       = "client_not_found" // 404: the client id names no live connection (the chat app's code too)
	codeNotFound       = "not_found"        // 404: no such route
	codeUnavailable    = "unavailable"      // 503: Redis did not answer in time (the chat app's code and status too)
	codeInternal       = "internal"         // 500: anything else (logged)
)

// errorBody is the JSON of every error response.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeError(c *fiber.Ctx, status int, code, msg string) error {
	return c.Status(status).JSON(errorBody{Error: code, Message: msg})
}

// badRequest is a client error found by a handler before any Redis work.
type badRequest struct{ code, msg string }

func (e *badRequest) Error() string { return e.msg }

func missing(field string) error {
	return &badRequest{codeBadRequest, fmt.Sprintf("field %q is required", field)}
}

// fail maps an error to its response: the one place session errors become
// HTTP statuses. Internal errors are logged here and answered generically.
func (a *api) fail(c *fiber.Ctx, err error) error {
	var br *badRequest
	switch {
	case errors.As(err, &br):
		return writeError(c, fiber.StatusBadRequest, br.code, br.msg)
	case errors.Is(err, session.ErrInvalidID):
		return writeError(c, fiber.StatusBadRequest, codeInvalidID, err.Error())
	case errors.Is(err, session.ErrInvalidPayload), errors.Is(err, session.ErrRecoverablePayload):
		return writeError(c, fiber.StatusBadRequest, codeInvalidPayload, err.Error())
	case errors.Is(err, session.ErrReservedField):
		return writeError(c, fiber.StatusBadRequest, codeReservedField, err.Error())
	case errors.Is(err, session.ErrNoClient):
		return writeError(c, fiber.StatusNotFound, codeNoClient, err.Error())
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		a.log.Warn("push API request timed out", "method", c.Method(), "path", c.Path(), "err", err)
		return writeError(c, fiber.StatusServiceUnavailable, codeUnavailable, "Redis did not answer in time, try again shortly")
	default:
		a.log.Error("push API request failed", "method", c.Method(), "path", c.Path(), "err", err)
		return writeError(c, fiber.StatusInternalServerError, codeInternal, "internal error")
	}
}

// isTimeout reports a network timeout: with ContextTimeoutEnabled, go-redis
// turns the request's deadline into the socket's, so an expired deadline
// comes back as an i/o timeout rather than context.DeadlineExceeded.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// decode parses the request body into v: one JSON object, no unknown fields,
// nothing after it.
func decode(c *fiber.Ctx, v any) error {
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return &badRequest{codeBadJSON, "request body must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &badRequest{codeBadJSON, "invalid JSON body: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &badRequest{codeBadJSON, "invalid JSON body: data after the object"}
	}
	return nil
}

// ok is the body of a successful write.
var ok = fiber.Map{"ok": true}

// okBody is ok encoded once: the send routes answer it without encoding.
var okBody = []byte(`{"ok":true}`)

// sendOK answers 200 {"ok":true}, as c.JSON(ok) does.
func sendOK(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(okBody)
}
