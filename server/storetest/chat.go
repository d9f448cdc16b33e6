package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"comet"
)

func init() {
	tests = append(tests,
		test{"SaveChat", testSaveChat},
		test{"ChatHistory", testChatHistory},
		test{"ChatRoundTrip", testChatRoundTrip},
		test{"SaveChatKeyed", testSaveChatKeyed},
	)
}

func testSaveChat(t *testing.T, e *env) {
	ctx := e.ctx
	fixed := time.Date(2025, 1, 2, 3, 4, 5, 678999999, time.FixedZone("Y", -7200))
	e.clock.Set(fixed)

	m := &comet.ChatMessage{Channel: "lobby", FromID: "p1", FromName: "Ann", Text: "waves", Me: true}
	mustNil(t, e.SaveChat(ctx, m))
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
	mustNil(t, e.SaveChat(ctx, m2))
	if m2.ID <= m.ID || !m2.At.Equal(given) {
		t.Fatalf("second line: ID %d (first %d), At %v", m2.ID, m.ID, m2.At)
	}

	hist, err := e.ChatHistory(ctx, "lobby", 10)
	mustNil(t, err)
	if len(hist) != 2 || hist[0] != *m || hist[1] != *m2 {
		t.Fatalf("history = %+v\nwant %+v, %+v", hist, *m, *m2)
	}

	wantCode(t, e.SaveChat(ctx, &comet.ChatMessage{Text: "no channel"}), comet.EINVALID)
	wantCode(t, e.SaveChat(ctx, nil), comet.EINVALID)
}

func testChatHistory(t *testing.T, e *env) {
	ctx := e.ctx
	// Interleave two channels so per-channel order and isolation both show.
	for i := range 30 {
		for _, ch := range []string{"lobby", "room:1"} {
			mustNil(t, e.SaveChat(ctx, &comet.ChatMessage{Channel: ch, FromID: "p", Text: fmt.Sprintf("%s %d", ch, i)}))
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
		{"huge limit is capped, not refused", "lobby", 1 << 30, seq("lobby", 0, 30), ""},
		{"one", "room:1", 1, "room:1 29", ""},
		{"empty channel", "dm:a:b", 10, "", ""},
		{"zero limit", "lobby", 0, "", comet.EINVALID},
		{"negative limit", "lobby", -1, "", comet.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.ChatHistory(ctx, tt.channel, tt.limit)
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

// testChatRoundTrip: channel, names and text come back exactly as saved
// (quotes, SQL, odd Unicode, long lines). Strings are valid UTF-8 without
// NUL: the server never passes anything else.
func testChatRoundTrip(t *testing.T, e *env) {
	tests := []struct {
		name                            string
		channel, fromID, fromName, text string
		me                              bool
	}{
		{"plain", "lobby", "p1", "Ann", "hello", false},
		{"empty text and names", "dm:a:b", "", "", "", true},
		{"sql and quotes", "room:'; DROP TABLE chat_messages;--", `x"y'z`, "Zoë 🎮", "a\\b\u2028</script>$1 ?", true},
		{"long", "lobby", "p", "n", strings.Repeat("long ", 400), false},
		{"control characters", "lobby", "p", "n", "tab\tnew\nline\r\x01\x7f", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &comet.ChatMessage{Channel: tt.channel, FromID: tt.fromID, FromName: tt.fromName, Text: tt.text, Me: tt.me}
			mustNil(t, e.SaveChat(e.ctx, m))
			got, err := e.ChatHistory(e.ctx, tt.channel, 1)
			mustNil(t, err)
			if len(got) != 1 || got[0] != *m {
				t.Fatalf("history = %+v, want %+v", got, *m)
			}
		})
	}
}

// testSaveChatKeyed: a line saved twice under one key (a chat.say retried
// into a session that forgot its seq) is stored once; the second save is
// reported as a duplicate with the first's id and time. Keyless lines never
// collide, and distinct keys are distinct lines.
func testSaveChatKeyed(t *testing.T, e *env) {
	ctx := e.ctx
	e.clock.Set(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	first := &comet.ChatMessage{Channel: "lobby", FromID: "p1", FromName: "Ann", Text: "once", Key: "s_1:7"}
	mustNil(t, e.SaveChat(ctx, first))
	mustNil(t, e.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", Text: "server line"}))
	mustNil(t, e.SaveChat(ctx, &comet.ChatMessage{Channel: "lobby", Text: "server line"}))

	e.clock.Advance(time.Minute)
	again := &comet.ChatMessage{Channel: "lobby", FromID: "p1", FromName: "Ann", Text: "once", Key: "s_1:7"}
	if err := e.SaveChat(ctx, again); !errors.Is(err, comet.ErrDuplicate) {
		t.Fatalf("second save under one key: err = %v, want comet.ErrDuplicate", err)
	}
	if again.ID != first.ID || !again.At.Equal(first.At) {
		t.Fatalf("duplicate reported id %d at %v, want the first's: %d at %v", again.ID, again.At, first.ID, first.At)
	}
	// A given time does not hide the duplicate either.
	given := &comet.ChatMessage{Channel: "room:1", Text: "elsewhere", Key: "s_1:7", At: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := e.SaveChat(ctx, given); !errors.Is(err, comet.ErrDuplicate) || given.ID != first.ID || !given.At.Equal(first.At) {
		t.Fatalf("save with a given time under a stored key: err %v, id %d at %v", err, given.ID, given.At)
	}
	other := &comet.ChatMessage{Channel: "lobby", FromID: "p1", Text: "once", Key: "s_1:8"}
	mustNil(t, e.SaveChat(ctx, other))

	hist, err := e.ChatHistory(ctx, "lobby", 10)
	mustNil(t, err)
	var got []string
	for _, m := range hist {
		got = append(got, m.Text+"/"+m.Key)
	}
	if want := "once/s_1:7,server line/,server line/,once/s_1:8"; strings.Join(got, ",") != want {
		t.Fatalf("history = %s, want %s", strings.Join(got, ","), want)
	}
	if hist[0] != *first {
		t.Fatalf("stored line = %+v, want %+v", hist[0], *first)
	}
	if h, err := e.ChatHistory(ctx, "room:1", 10); err != nil || len(h) != 0 {
		t.Fatalf("room:1 history = %+v, %v; the duplicate must not be stored there", h, err)
	}
}
