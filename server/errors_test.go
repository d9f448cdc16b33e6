package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
)

// logBuffer records a server's log as text lines, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns the lines logged at level (e.g. "ERROR") since the last take,
// and forgets every line.
func (l *logBuffer) take(level string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.SplitSeq(l.b.String(), "\n") {
		if strings.Contains(line, "level="+level+" ") {
			out = append(out, line)
		}
	}
	l.b.Reset()
	return out
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// faultyStore fails PlayerByToken for two magic tokens: one with an internal
// error whose message holds a detail clients must not see, one with a panic.
type faultyStore struct{ comet.Store }

const (
	tokenInternal = "token-internal"
	tokenPanic    = "token-panic"
	secretDetail  = "/var/secret/comet.db is locked"
)

func (f faultyStore) PlayerByToken(ctx context.Context, tokenHash []byte) (*comet.Player, error) {
	switch {
	case bytes.Equal(tokenHash, hashToken(tokenInternal)):
		return nil, comet.Errorf(comet.EINTERNAL, "store: %s", secretDetail)
	case bytes.Equal(tokenHash, hashToken(tokenPanic)):
		panic("store exploded: " + secretDetail)
	}
	return f.Store.PlayerByToken(ctx, tokenHash)
}

// startErrorServer is a server on a faultyStore whose log the test reads.
func startErrorServer(t *testing.T, hook func(*Server)) (*testServer, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	ts := startServerHooked(t, func(c *Config) {
		c.Store = faultyStore{c.Store}
		c.Logger = logs.logger()
		c.BodyLimit = 1 << 10
		c.Limits.SessionsPerMinute, c.Limits.StreamsPerIP = -1, -1
	}, nil, hook)
	return ts, logs
}

// rawRequest writes req as is on a new connection and reads one response.
func rawRequest(t *testing.T, base, req string) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return resp.StatusCode, body
}

// wantErrorJSON checks body is exactly {"error": ..., "code": code} with a
// message containing msg and nothing of secretDetail.
func wantErrorJSON(t *testing.T, body []byte, code, msg string) {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("error body %q is not a JSON object of strings: %v", body, err)
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, []string{"code", "error"}) {
		t.Fatalf("error body %s has members %v, want code and error", body, got)
	}
	if m["code"] != code || !strings.Contains(m["error"], msg) {
		t.Fatalf("error body %s, want code %q and a message containing %q", body, code, msg)
	}
	if strings.Contains(string(body), "secret") || strings.Contains(string(body), "exploded") {
		t.Fatalf("error body %s leaks internal detail", body)
	}
}

// TestErrorResponses checks every kind of refusal answers the one JSON shape
// with its code, internal errors without their detail, and that a 5xx is
// logged exactly once (a panic with its stack) while a 4xx is not logged.
func TestErrorResponses(t *testing.T) {
	ts, logs := startErrorServer(t, func(s *Server) {
		s.e.GET("/test/panic", func(echo.Context) error { panic("handler exploded: " + secretDetail) })
		s.e.GET("/test/echo500", func(echo.Context) error {
			return echo.NewHTTPError(http.StatusServiceUnavailable, "upstream "+secretDetail)
		})
	})
	tests := []struct {
		name, method, path, token, body string
		status                          int
		code, msg                       string
		logged                          []string // substrings of the one ERROR line; nil: no ERROR line
	}{
		{"unknown route", "GET", "/no/such/thing", "", "", 404, comet.ENOTFOUND, "not found", nil},
		{"wrong method", "DELETE", "/comet/session", "", "", 405, comet.EMETHOD, "Method Not Allowed", nil},
		{"missing asset", "GET", "/assets/no-such.css", "", "", 404, comet.ENOTFOUND, "not found", nil},
		{"unknown session", "GET", "/comet/nosuchsession/poll", "", "", 404, comet.ENOTFOUND, "session not found", nil},
		{"body over the limit", "POST", "/comet/session", "", `{"name":"` + strings.Repeat("x", 2<<10) + `"}`, 413, comet.ETOOLARGE, "Too Large", nil},
		{"bad JSON", "POST", "/comet/session", "", `{"name":`, 400, comet.EINVALID, "JSON object", nil},
		{"internal error with detail", "POST", "/comet/session", tokenInternal, "", 500, comet.EINTERNAL, "internal error",
			[]string{"request failed", "status=500", secretDetail}},
		{"panic in a store call", "POST", "/comet/session", tokenPanic, "", 500, comet.EINTERNAL, "internal error",
			[]string{"request failed", "err.panic=", "err.stack=", "faultyStore", "errors_test.go"}},
		{"panic in a handler", "GET", "/test/panic", "", "", 500, comet.EINTERNAL, "internal error",
			[]string{"request failed", "err.stack=", "errors_test.go"}},
		{"echo's own 5xx", "GET", "/test/echo500", "", "", 503, comet.EINTERNAL, "internal error",
			[]string{"request failed", "status=503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.take("ERROR")
			req, err := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			wantErrorJSON(t, body, tt.code, tt.msg)
			lines := logs.take("ERROR")
			if tt.logged == nil {
				if len(lines) != 0 {
					t.Fatalf("a %d was logged as an error: %q", tt.status, lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("a %d was logged %d times at ERROR, want once: %q", tt.status, len(lines), lines)
			}
			for _, sub := range tt.logged {
				if !strings.Contains(lines[0], sub) {
					t.Errorf("the error log line lacks %q: %s", sub, lines[0])
				}
			}
		})
	}
}

// TestBodyReadErrorsAreTheClients sends a malformed chunked body to every
// endpoint that reads one: each is the client's fault, 400 invalid, not
// logged as an error.
func TestBodyReadErrorsAreTheClients(t *testing.T) {
	ts, logs := startErrorServer(t, nil)
	c := newClient(t, ts.URL)
	const badChunks = "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
	tests := []struct{ name, path, auth string }{
		{"session", "/comet/session", ""},
		{"send", "/comet/" + c.SID + "/send", "Authorization: Bearer " + c.Token + "\r\n"},
		{"login", "/comet/login", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.take("ERROR")
			status, body := rawRequest(t, ts.URL, "POST "+tt.path+" HTTP/1.1\r\nHost: x\r\n"+tt.auth+badChunks)
			if status != http.StatusBadRequest {
				t.Fatalf("POST %s with a malformed chunked body: %d %s, want 400", tt.path, status, body)
			}
			wantErrorJSON(t, body, comet.EINVALID, "")
			if lines := logs.take("ERROR"); len(lines) != 0 {
				t.Fatalf("the client's bad body was logged as an error: %q", lines)
			}
		})
	}
}
