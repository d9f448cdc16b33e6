package comet

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in server/ and travels as the
// "code" of a sys.error event.
const (
	EINVALID      = "invalid"            // malformed or out-of-range input
	ENOTFOUND     = "not_found"          // unknown sid, room, player, ...
	EMETHOD       = "method_not_allowed" // a route that exists, asked with another HTTP method
	ECONFLICT     = "conflict"           // name taken, already in a room, ...
	EUNAUTHORIZED = "unauthorized"       // no or bad credentials
	EFORBIDDEN    = "forbidden"          // credentials for someone else
	ETOOLARGE     = "too_large"          // body or batch over its limit
	ERATELIMIT    = "rate_limited"       // too many of something per time
	EUNKNOWN      = "unknown_type"       // an event type nobody handles
	EINTERNAL     = "internal"           // a bug or a failed dependency; details logged, not sent
)

// Error is an error meant to be shown to the client: a code and a message.
// Any other error is internal and its text is logged, never sent.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("comet %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, EINTERNAL for any
// other error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the client-safe message of err: the *Error's message,
// or "internal error" for an EINTERNAL *Error (its detail is for the log) and
// for anything else.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e) && e.Code != EINTERNAL:
		return e.Message
	default:
		return "internal error"
	}
}
