package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"comet"
)

// statusOf maps a domain error code to its HTTP status; this is the only place
// that does.
func statusOf(code string) int {
	switch code {
	case comet.EINVALID, comet.EUNKNOWN:
		return http.StatusBadRequest
	case comet.ENOTFOUND:
		return http.StatusNotFound
	case comet.EMETHOD:
		return http.StatusMethodNotAllowed
	case comet.ECONFLICT:
		return http.StatusConflict
	case comet.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case comet.EFORBIDDEN:
		return http.StatusForbidden
	case comet.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case comet.ERATELIMIT:
		return http.StatusTooManyRequests
	default:
		return http.StatusInternalServerError
	}
}

// codes are the codes statusOf maps, in the order codeOf prefers them.
var codes = []string{
	comet.EINVALID, comet.ENOTFOUND, comet.EMETHOD, comet.ECONFLICT, comet.EUNAUTHORIZED,
	comet.EFORBIDDEN, comet.ETOOLARGE, comet.ERATELIMIT, comet.EUNKNOWN,
}

// codeOf is statusOf read backwards, for errors that carry only a status
// (echo's own 404, 405, 413): another 4xx is invalid, another 5xx internal.
func codeOf(status int) string {
	for _, code := range codes {
		if statusOf(code) == status {
			return code
		}
	}
	if status < http.StatusInternalServerError {
		return comet.EINVALID
	}
	return comet.EINTERNAL
}

// errorBody is the one JSON error shape of every endpoint: a client-safe
// message and the code a sys.error carries.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// httpError returns err's status, code and client-safe message; a 5xx never
// carries detail.
func httpError(err error) (int, string, string) {
	var ce *comet.Error
	var he *echo.HTTPError
	if !errors.As(err, &ce) && errors.As(err, &he) {
		msg, ok := he.Message.(string)
		switch {
		case he.Code >= http.StatusInternalServerError:
			msg = "internal error"
		case he.Code == http.StatusNotFound:
			msg = "not found"
		case !ok:
			msg = http.StatusText(he.Code)
		}
		return he.Code, codeOf(he.Code), msg
	}
	code := comet.ErrorCode(err)
	return statusOf(code), code, comet.ErrorMessage(err)
}

// errorHandler writes every error as {"error": "...", "code": "..."} with
// the right status. It is the one place a failed request is logged: 5xx with
// their detail (and a panic's stack), once; clients never see the detail.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, code, msg := httpError(err)
		if status >= 500 {
			log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path,
				"status", status, "err", err)
		}
		if ra, ok := retryAfter(err); ok {
			c.Response().Header().Set("Retry-After", ra)
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, errorBody{Error: msg, Code: code})
	}
}

// panicError is a recovered panic with the stack where it happened; logged,
// it shows both. It unwraps to nothing, so it is always internal.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// LogValue makes slog print the stack with the panic wherever it is logged.
func (e *panicError) LogValue() slog.Value {
	return slog.GroupValue(slog.String("panic", fmt.Sprint(e.value)), slog.String("stack", string(e.stack)))
}

// recovered turns a panic anywhere in a request's handlers into a panicError
// for the error handler, which logs it once with its stack.
func recovered() echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		StackSize: 16 << 10, DisableStackAll: true,
		LogErrorFunc: func(_ echo.Context, err error, stack []byte) error {
			return &panicError{value: err, stack: stack}
		},
	})
}

// clientBody marks an error reading a request body as the client's fault: a
// malformed chunked encoding, an upload cut short or too slow.
type clientBody struct{ io.ReadCloser }

func (b clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = &bodyError{err: err}
	}
	return n, err
}

// bodyError is a failed read of a request body; it unwraps to the read error
// and to an EINVALID *comet.Error, so any handler returning it answers 400.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "read request body: " + e.err.Error() }

func (e *bodyError) Unwrap() []error {
	return []error{comet.Errorf(comet.EINVALID, "the request body could not be read (malformed or cut short)"), e.err}
}

// clientBodies wraps every request body in clientBody.
func clientBodies(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r := c.Request(); r.Body != nil && r.Body != http.NoBody {
			r.Body = clientBody{r.Body}
		}
		return next(c)
	}
}

// limitError is a rate-limit refusal that tells the client when to retry.
type limitError struct {
	err        *comet.Error
	retryAfter string // seconds
}

func (e *limitError) Error() string { return e.err.Error() }
func (e *limitError) Unwrap() error { return e.err }

func retryAfter(err error) (string, bool) {
	var le *limitError
	if errors.As(err, &le) {
		return le.retryAfter, true
	}
	return "", false
}
