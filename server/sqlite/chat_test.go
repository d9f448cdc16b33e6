package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"comet"
)

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
