package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

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

// errorBody is the one JSON error shape of every endpoint.
type errorBody struct {
	Error string `json:"error"`
}

// errorHandler writes every error as {"error": "..."} with the right status.
// Internal errors are logged with their detail and answered without it.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, msg := http.StatusInternalServerError, "internal error"
		var he *echo.HTTPError
		var ce *comet.Error
		switch {
		case errors.As(err, &ce):
			status, msg = statusOf(ce.Code), ce.Message
		case errors.As(err, &he):
			status = he.Code
			if m, ok := he.Message.(string); ok {
				msg = m
			} else {
				msg = http.StatusText(he.Code)
			}
			if he.Code == http.StatusNotFound {
				msg = "not found"
			}
		}
		if status >= 500 {
			log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		}
		if ra, ok := retryAfter(err); ok {
			c.Response().Header().Set("Retry-After", ra)
		}
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(status)
			return
		}
		_ = c.JSON(status, errorBody{Error: msg})
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
