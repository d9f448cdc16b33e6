package retention

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"comet"
	"comet/internal/check"
	"comet/server/sqlite"
)

const day = 24 * time.Hour

// syncBuffer is a log sink safe to read while Run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// openStore opens a real SQLite file with a guest "g" (token tg), a claimed
// player "c" and one lobby line said now.
func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, id := range []string{"g", "c"} {
		if err := db.CreatePlayer(ctx, &comet.Player{ID: id, Name: id}, []byte("t"+id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ClaimName(ctx, "c", "Cee", []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if err := db.Mute(ctx, "c", "g"); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", FromID: "g", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	return db
}

// value reads a counter.
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestRunPurgesAtStartAndOnInterval(t *testing.T) {
	db := openStore(t)
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	var mu sync.Mutex
	now := time.Now().Add(40 * day) // g is 40 days unseen; the chat line 40 days old
	r, err := New(Config{
		Store: db, Policy: comet.RetentionPolicy{Guests: 30 * day, Chat: 90 * day},
		Interval: 10 * time.Millisecond, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Now:    func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	purged := func(kind string) float64 { return value(t, r.purged.WithLabelValues(kind)) }
	check.For(t, 5*time.Second, func() error {
		if n := purged("guests"); n != 1 {
			return fmt.Errorf("the first pass purged %v guests, want 1", n)
		}
		return nil
	})
	if _, err := db.PlayerByID(ctx, "g"); comet.ErrorCode(err) != comet.ENOTFOUND {
		t.Fatalf("guest g after the pass: %v", err)
	}
	if _, err := db.PlayerByID(ctx, "c"); err != nil {
		t.Fatalf("claimed player c: %v", err)
	}
	if purged("tokens") != 1 || purged("mutes") != 1 || purged("chat") != 0 {
		t.Fatalf("counters: tokens %v mutes %v chat %v", purged("tokens"), purged("mutes"), purged("chat"))
	}

	// Later passes run on the interval: move the clock past the chat retention.
	mu.Lock()
	now = now.Add(60 * day)
	mu.Unlock()
	check.For(t, 5*time.Second, func() error {
		if n := purged("chat"); n != 1 {
			return fmt.Errorf("a later pass purged %v chat lines, want 1", n)
		}
		return nil
	})
	if h, err := db.ChatHistory(ctx, "lobby", 10); err != nil || len(h) != 0 {
		t.Fatalf("history after chat retention = %+v, %v", h, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, want := range []string{"retention: on", "retention: purged", "guests=1", "chat=1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	// The counters are on the registry given.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, f := range families {
		series[f.GetName()] = len(f.GetMetric())
	}
	if series["comet_retention_purged_total"] != 4 || series["comet_retention_errors_total"] != 1 {
		t.Fatalf("gathered %v; want 4 kinds of purged and one error counter", series)
	}
}

func TestNewAndRunConfig(t *testing.T) {
	db := openStore(t)
	taken := prometheus.NewRegistry()
	if _, err := New(Config{Store: db, Registerer: taken}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no store", Config{Policy: comet.RetentionPolicy{Chat: day}}, "a store is required"},
		{"guests below the minimum", Config{Store: db, Policy: comet.RetentionPolicy{Guests: time.Hour}}, "below the minimum"},
		{"metrics already registered", Config{Store: db, Registerer: taken}, "register metrics"},
		{"keep forever", Config{Store: db, Policy: comet.RetentionPolicy{Guests: -1, Chat: 0}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := Run(ctx, tt.cfg) // returns at once: an error, or nothing to do
			if tt.wantErr == "" {
				if err != nil || ctx.Err() != nil {
					t.Fatalf("Run = %v (ctx %v); want an immediate nil", err, ctx.Err())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run = %v, want %q", err, tt.wantErr)
			}
		})
	}
	// Nothing was purged by the policy that keeps everything.
	if _, err := db.PlayerByID(context.Background(), "g"); err != nil {
		t.Fatal(err)
	}
}

// TestPassErrorIsCounted: a pass against a closed store fails, is counted,
// and Run keeps going until cancelled.
func TestPassErrorIsCounted(t *testing.T) {
	db := openStore(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	r, err := New(Config{Store: db, Policy: comet.RetentionPolicy{Chat: day}, Interval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pass(context.Background()); err == nil || !strings.Contains(err.Error(), "retention pass") {
		t.Fatalf("Pass on a closed store = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	check.For(t, 5*time.Second, func() error {
		if n := value(t, r.errs); n < 3 {
			return fmt.Errorf("%v failed passes, want two more than the first", n)
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !strings.Contains(logs.String(), "retention: pass failed") {
		t.Fatalf("log:\n%s", logs.String())
	}
}
