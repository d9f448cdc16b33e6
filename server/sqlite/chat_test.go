package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"comet"
)

func TestSaveChat(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	fixed := time.Date(2025, 1, 2, 3, 4, 5, 678999999, time.FixedZone("Y", -7200))
	db.now = func() time.Time { return fixed }

	m := &comet.ChatMessage{Channel: "lobby", FromID: "p1", FromName: "Ann", Text: "waves", Me: true}
	mustNil(t, db.SaveChat(ctx, m))
	if m.ID <= 0 {
		t.Fatalf("ID = %d", m.ID)
	}
	want := time.Date(2025, 1, 2, 5, 4, 5, 678000000, time.UTC)
	if !m.At.Equal(want) || m.At.Location() != time.UTC {
		t.Fatalf("At = %v, want %v", m.At, want)
	}
	// A given time is kept (the caller's value, not rewritten).
	given := time.Date(2020, 6, 1, 0, 0, 0, 0, time.UTC)
	m2 := &comet.ChatMessage{Channel: "lobby", Text: "later", At: given}
	mustNil(t, db.SaveChat(ctx, m2))
	if m2.ID <= m.ID || !m2.At.Equal(given) {
		t.Fatalf("second line: ID %d (first %d), At %v", m2.ID, m.ID, m2.At)
	}

	hist, err := db.ChatHistory(ctx, "lobby", 10)
	mustNil(t, err)
	if len(hist) != 2 || hist[0] != *m || hist[1] != *m2 {
		t.Fatalf("history = %+v\nwant %+v, %+v", hist, *m, *m2)
	}

	wantCode(t, db.SaveChat(ctx, &comet.ChatMessage{Text: "no channel"}), comet.EINVALID)
	wantCode(t, db.SaveChat(ctx, nil), comet.EINVALID)
}

func TestChatHistory(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	// Interleave two channels so per-channel order and isolation both show.
	for i := range 30 {
		for _, ch := range []string{"lobby", "room:1"} {
			mustNil(t, db.SaveChat(ctx, &comet.ChatMessage{Channel: ch, FromID: "p", Text: fmt.Sprintf("%s %d", ch, i)}))
		}
	}
	texts := func(ms []comet.ChatMessage) string {
		var b []string
		for _, m := range ms {
			b = append(b, m.Text)
		}
		return strings.Join(b, ",")
	}
	seq := func(ch string, from, to int) string {
		var b []string
		for i := from; i < to; i++ {
			b = append(b, fmt.Sprintf("%s %d", ch, i))
		}
		return strings.Join(b, ",")
	}
	tests := []struct {
		name    string
		channel string
		limit   int
		want    string
		code    string
	}{
		{"last 5, oldest first", "lobby", 5, seq("lobby", 25, 30), ""},
		{"other channel", "room:1", 3, seq("room:1", 27, 30), ""},
		{"limit over count", "lobby", 100, seq("lobby", 0, 30), ""},
		{"limit over max is capped", "lobby", MaxLimit + 1, seq("lobby", 0, 30), ""},
		{"one", "room:1", 1, "room:1 29", ""},
		{"empty channel", "dm:a:b", 10, "", ""},
		{"zero limit", "lobby", 0, "", comet.EINVALID},
		{"negative limit", "lobby", -1, "", comet.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.ChatHistory(ctx, tt.channel, tt.limit)
			wantCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if texts(got) != tt.want {
				t.Fatalf("history = %s\nwant      %s", texts(got), tt.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].ID <= got[i-1].ID {
					t.Fatalf("ids not ascending: %d then %d", got[i-1].ID, got[i].ID)
				}
			}
			if got == nil {
				t.Fatal("nil slice; want empty")
			}
		})
	}
}

// FuzzChatRoundTrip checks that any channel, names and text come back exactly
// as saved (SQLite TEXT must not mangle quotes, NULs, or odd Unicode).
func FuzzChatRoundTrip(f *testing.F) {
	f.Add("lobby", "p1", "Ann", "hello", false)
	f.Add("dm:a:b", "", "", "", true)
	f.Add("room:'; DROP TABLE chat_messages;--", "x\x00y", "Zoë 🎮", "a\x00b\u2028</script>", true)
	f.Add("lobby", "p", "n", strings.Repeat("long ", 400), false)
	db := newTestDB(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, channel, fromID, fromName, text string, me bool) {
		if channel == "" || !utf8.ValidString(channel+fromID+fromName+text) {
			t.Skip("SaveChat takes a channel; the server only passes valid UTF-8")
		}
		m := &comet.ChatMessage{Channel: channel, FromID: fromID, FromName: fromName, Text: text, Me: me}
		if err := db.SaveChat(ctx, m); err != nil {
			t.Fatal(err)
		}
		got, err := db.ChatHistory(ctx, channel, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != *m {
			t.Fatalf("history = %+v, want %+v", got, *m)
		}
	})
}

func BenchmarkSaveChat(b *testing.B) {
	db := newTestDB(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m := &comet.ChatMessage{Channel: "lobby", FromID: "p1", FromName: "Ann", Text: "a typical chat line of some length"}
		if err := db.SaveChat(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSaveChatParallel(b *testing.B) {
	db := newTestDB(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := &comet.ChatMessage{Channel: "lobby", FromID: "p1", FromName: "Ann", Text: "a typical chat line of some length"}
			if err := db.SaveChat(ctx, m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkChatHistory reads the last 50 lines of one channel among 10 with
// 20,000 lines in all.
func BenchmarkChatHistory(b *testing.B) {
	db := newTestDB(b)
	ctx := context.Background()
	tx := db.DB().MustBegin()
	for i := range 20_000 {
		tx.MustExec(`INSERT INTO chat_messages (channel, from_id, from_name, text, me, at) VALUES (?, 'p', 'P', 'a typical chat line of some length', 0, ?)`,
			fmt.Sprintf("room:%d", i%10), i)
	}
	mustNil(b, tx.Commit())
	b.ReportAllocs()
	for b.Loop() {
		got, err := db.ChatHistory(ctx, "room:3", 50)
		if err != nil || len(got) != 50 {
			b.Fatalf("%d lines, %v", len(got), err)
		}
	}
}
