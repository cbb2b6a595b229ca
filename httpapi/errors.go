package httpapi

import (
	"errors"
	"log/slog"

	"github.com/gofiber/fiber/v2"
)

// apiError is a client-visible failure: an HTTP status, a stable code and a
// message. err, when set, is the cause; it is logged, never shown.
type apiError struct {
	status int
	code   string
	msg    string
	err    error
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.code + ": " + e.err.Error()
	}
	return e.code + ": " + e.msg
}

func (e *apiError) Unwrap() error { return e.err }

// errorResponse is the body of every error: {"error":"<code>","message":"…"}.
type errorResponse struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// Client errors with fixed codes (docs/http-api.md, "Errors").
func errBadRequest(code, msg string) error { return &apiError{status: 400, code: code, msg: msg} }

var (
	errNotLoggedIn  = &apiError{status: 401, code: "not_logged_in", msg: "log in first"}
	errCSRF         = &apiError{status: 403, code: "csrf", msg: "missing or wrong X-CSRF-Token header"}
	errForbidden    = &apiError{status: 403, code: "forbidden", msg: "this connection belongs to another user"}
	errNoRoom       = &apiError{status: 404, code: "room_not_found", msg: "no such room"}
	errNoClient     = &apiError{status: 404, code: "client_not_found", msg: "no such connection (closed or never opened)"}
	errNoUser       = &apiError{status: 404, code: "user_not_found", msg: "no such user (logged out?)"}
	errNotInRoom    = &apiError{status: 409, code: "not_in_room", msg: "enter a room first"}
	errTooManyRooms = &apiError{status: 409, code: "too_many_rooms", msg: "the room limit is reached"}
	errMediaType    = &apiError{status: 415, code: "unsupported_media_type", msg: "send Content-Type: application/json"}
	errRateLimited  = &apiError{status: 429, code: "rate_limited", msg: "too many requests, slow down"}
)

// unavailable wraps a storage (Redis) failure: 503, never 500, so clients
// and load balancers retry instead of reporting a bug.
func unavailable(err error) error {
	return &apiError{status: 503, code: "unavailable", msg: "storage is unavailable, try again shortly", err: err}
}

// fiberCodes names the errors Fiber itself raises (routing, body limit).
var fiberCodes = map[int]string{
	400: "bad_request",
	404: "not_found",
	405: "method_not_allowed",
	413: "body_too_large",
	415: "unsupported_media_type",
	431: "headers_too_large",
}

// errorHandler is the one place errors become responses.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		resp, status := errorResponse{Error: "internal", Message: "internal error"}, 500
		var ae *apiError
		var fe *fiber.Error
		switch {
		case errors.As(err, &ae):
			resp, status = errorResponse{Error: ae.code, Message: ae.msg}, ae.status
			if ae.err != nil {
				log.Warn("request failed", "method", c.Method(), "path", c.Path(), "code", ae.code, "err", ae.err)
			}
		case errors.As(err, &fe):
			status = fe.Code
			resp = errorResponse{Error: fiberCodes[fe.Code], Message: fe.Message}
			if resp.Error == "" {
				resp.Error = "http_" + httpStatusCode(fe.Code)
			}
			if status >= 500 {
				resp = errorResponse{Error: "internal", Message: "internal error"}
				log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
			}
		default:
			log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		}
		return c.Status(status).JSON(resp)
	}
}

func httpStatusCode(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "error"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}
