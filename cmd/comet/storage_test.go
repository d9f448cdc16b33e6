package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"comet"
	"comet/internal/check"
	"comet/internal/pgtest"
	"comet/server/postgres"
	"comet/server/sqlite"
)

// logBuffer is a log sink safe to read while the server writes to it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve runs m (its fields already set) on a loopback port until the test ends.
func serve(t *testing.T, m *Main) string {
	t.Helper()
	m.Addr = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		t.Fatalf("open: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("graceful shutdown took over 15 s")
		}
	})
	return m.URL()
}

func TestRetentionAndStoreFlags(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    comet.RetentionPolicy
		db      string
		wantErr string
	}{
		{"defaults", nil, nil, comet.RetentionPolicy{Guests: 30 * day, Chat: 90 * day}, "data/comet.db", ""},
		{"environment", map[string]string{"COMET_RETAIN_GUESTS": "48h", "COMET_RETAIN_CHAT": "0"}, nil,
			comet.RetentionPolicy{Guests: 48 * time.Hour}, "data/comet.db", ""},
		{"flags win", map[string]string{"COMET_RETAIN_GUESTS": "48h"}, []string{"--retain-guests", "0", "--retain-chat", "168h"},
			comet.RetentionPolicy{Chat: 7 * day}, "data/comet.db", ""},
		{"negative keeps forever", nil, []string{"--retain-guests=-1s", "--retain-chat=-1s"},
			comet.RetentionPolicy{Guests: -time.Second, Chat: -time.Second}, "data/comet.db", ""},
		{"guests below a day", nil, []string{"--retain-guests", "1h"}, comet.RetentionPolicy{}, "", "below the minimum"},
		{"postgres url", map[string]string{"COMET_DB": "postgresql://db.example/comet"}, nil,
			comet.RetentionPolicy{Guests: 30 * day, Chat: 90 * day}, "postgresql://db.example/comet", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"COMET_RETAIN_GUESTS", "COMET_RETAIN_CHAT", "COMET_DB"} {
				t.Setenv(k, tt.env[k])
				if _, ok := tt.env[k]; !ok {
					os.Unsetenv(k)
				}
			}
			m := NewMain()
			m.Stderr = io.Discard
			err := m.ParseFlags("serve", tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFlags = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Retain != tt.want || m.DBPath != tt.db {
				t.Fatalf("retain %+v db %q, want %+v %q", m.Retain, m.DBPath, tt.want, tt.db)
			}
			if postgres.IsDSN(m.DBPath) != strings.HasPrefix(tt.db, "postgres") {
				t.Fatalf("IsDSN(%q) wrong", m.DBPath)
			}
		})
	}
}

// TestServeRunsRetention: a served Main purges chat past --retain-chat at
// start and counts it on /metrics.
func TestServeRunsRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.db")
	db, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{time.Now().Add(-48 * time.Hour), time.Now()} {
		if err := db.SaveChat(context.Background(), &comet.ChatMessage{Channel: "lobby", Text: "x", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	m := NewMain()
	m.DBPath = path
	m.Retain = comet.RetentionPolicy{Chat: 24 * time.Hour}
	m.Logger = slog.New(slog.DiscardHandler)
	m.Stdout, m.Stderr = io.Discard, io.Discard
	url := serve(t, m)

	check.For(t, 10*time.Second, func() error {
		if _, body := get(t, url+"/metrics"); !strings.Contains(string(body), `comet_retention_purged_total{kind="chat"} 1`) {
			return fmt.Errorf("/metrics never counted the purged line:\n%s", body)
		}
		return nil
	})
	hist, err := m.Store.ChatHistory(context.Background(), "lobby", 10)
	if err != nil || len(hist) != 1 {
		t.Fatalf("history = %+v, %v; want the recent line only", hist, err)
	}
}

// TestPostgresURLSelectsPostgres runs `comet migrate` and the server on a
// real PostgreSQL cluster: a session made over HTTP lands in PostgreSQL, and
// the URL's password is never printed.
func TestPostgresURLSelectsPostgres(t *testing.T) {
	if os.Getenv(pgtest.SkipEnv) == "1" {
		t.Skip(pgtest.SkipEnv + "=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	_, dsn, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Trust authentication ignores the password; it must not be printed.
	dsn = strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:s3cret@", 1)

	var out bytes.Buffer
	var logs logBuffer
	m := NewMain()
	m.Stdout, m.Stderr = &out, io.Discard
	m.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if err := m.Run(ctx, []string{"migrate", "--db", dsn}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied 0001_init.sql") || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("migrate printed %q", out.String())
	}

	m = NewMain()
	m.DBPath = dsn
	m.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	m.Stdout, m.Stderr = io.Discard, io.Discard
	url := serve(t, m)
	if m.DB != nil {
		t.Fatal("a postgres:// --db opened SQLite")
	}
	if _, ok := m.Store.(*postgres.DB); !ok {
		t.Fatalf("store is %T", m.Store)
	}
	resp, err := http.Post(url+"/comet/session", "application/json", strings.NewReader(`{"name":"Ada"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("session: %d", resp.StatusCode)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM players WHERE name = 'Ada'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("players named Ada in PostgreSQL = %d, %v", n, err)
	}
	for _, s := range []string{out.String(), logs.String()} {
		if strings.Contains(s, "s3cret") {
			t.Fatalf("password printed:\n%s", s)
		}
	}
	if !strings.Contains(logs.String(), "postgres://postgres:xxxxx@") {
		t.Errorf("log does not name the database:\n%s", logs.String())
	}
}
