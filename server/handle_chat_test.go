package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/server/bus"
	"comet/server/sqlite"
)

// TestChatSayReachesChannel: a line said in the lobby reaches every session
// on the channel, the sender's included, with its stored id and time.
func TestChatSayReachesChannel(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	c := openTab(t, ts.URL, "")
	a.rename(t, "Ada")
	before := time.Now().UnixMilli()
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "hello all"})
	var first wireChat
	for i, tb := range []*testTab{a, b, c} {
		ev := tb.waitFor(t, ofType("chat.msg"))
		wantKeys(t, "chat.msg", ev.Data, "id", "channel", "from", "text", "at")
		m := decodeAs[wireChat](t, ev)
		if m.Channel != "lobby" || m.From != (wirePlayer{a.Player.ID, "Ada"}) || m.Text != "hello all" || m.ID <= 0 ||
			m.At < before-1000 || m.At > time.Now().UnixMilli()+1000 {
			t.Fatalf("tab %d got %s", i, ev.Data)
		}
		if i == 0 {
			first = m
		} else if m != first {
			t.Fatalf("tabs got different lines: %+v and %+v", first, m)
		}
	}
	b.send("chat.say", map[string]string{"channel": "lobby", "text": "second"})
	if m := c.chatText(t, "second"); m.ID <= first.ID || m.From.ID != b.Player.ID {
		t.Fatalf("second line %+v after id %d", m, first.ID)
	}
}

func TestChatTextRules(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	ok := []struct{ in, want string }{
		{"  padded  ", "padded"},
		{"a\x00b\x07c\x1bd\u0085e\u009bf", "abcdef"},
		{"one\ntwo\r\nthree\tfour", "one two  three four"},
		{"<script>alert('x')</script> & <b>co</b>", "<script>alert('x')</script> & <b>co</b>"},
		{strings.Repeat("é", maxChatLen), strings.Repeat("é", maxChatLen)},
		{strings.Repeat("😀", maxChatLen), strings.Repeat("😀", maxChatLen)},
		{"  " + strings.Repeat("x", maxChatLen) + "\n\n", strings.Repeat("x", maxChatLen)},
		{"//not a command", "//not a command"},
		{"a\u2028b\u2029c", "a\u2028b\u2029c"},
	}
	first := a
	for i, tt := range ok {
		tb := a
		if i > 0 && i%4 == 0 { // a fresh player now and then keeps the rate limit out of the way
			tb = openTab(t, ts.URL, "")
			a = tb
		}
		t.Run(fmt.Sprintf("ok %d", i), func(t *testing.T) {
			tb.send("chat.say", map[string]string{"channel": "lobby", "text": tt.in})
			ev := tb.waitFor(t, func(ev wireEvent) bool { return ev.Type == "chat.msg" || ev.Type == "sys.error" })
			if ev.Type != "chat.msg" || decodeAs[wireChat](t, ev).Text != tt.want {
				t.Fatalf("said %q: got %s %s, want text %q", tt.in, ev.Type, ev.Data, tt.want)
			}
		})
	}
	// Markup travels as escaped JSON text: nothing in the stream can end a
	// script element or open a tag.
	first.st.rawMu.Lock()
	raw := first.st.raw.String()
	first.st.rawMu.Unlock()
	if strings.Contains(raw, "<script") || strings.Contains(raw, "<b>") {
		t.Fatal("raw stream carries unescaped markup")
	}

	b := openTab(t, ts.URL, "")
	bad := []struct{ name, data, msg string }{
		{"empty", `{"channel":"lobby","text":""}`, "1 to 500 characters"},
		{"blank", `{"channel":"lobby","text":" \n\t "}`, "1 to 500 characters"},
		{"only controls", `{"channel":"lobby","text":"\u0000\u0007"}`, "1 to 500 characters"},
		{"501 characters", `{"channel":"lobby","text":"` + strings.Repeat("é", maxChatLen+1) + `"}`, "1 to 500 characters"},
		{"no channel", `{"text":"hi"}`, "needs a channel or to"},
		{"unknown channel", `{"channel":"secret","text":"hi"}`, `not in channel "secret"`},
		{"someone's room", `{"channel":"room:r_nope","text":"hi"}`, "not in channel"},
		{"text wrong type", `{"channel":"lobby","text":5}`, "text must be string"},
		{"unknown field", `{"channel":"lobby","text":"x","color":"red"}`, "unknown field"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			b.send("chat.say", json.RawMessage(tt.data))
			e := b.refusal(t, b.seq)
			if (e.Code != comet.EINVALID && e.Code != comet.EFORBIDDEN) || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("sys.error %+v, want %q", e, tt.msg)
			}
		})
	}
	// A refused line costs no allowance: five good lines still go through.
	for i := range chatBurst {
		b.send("chat.say", map[string]string{"channel": "lobby", "text": fmt.Sprint("fine ", i)})
		b.chatText(t, fmt.Sprint("fine ", i))
	}
}

func TestChatCommands(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "/me waves"})
	ev := a.waitFor(t, ofType("chat.msg"))
	wantKeys(t, "chat.msg of /me", ev.Data, "id", "channel", "from", "text", "me", "at")
	if m := decodeAs[wireChat](t, ev); !m.Me || m.Text != "waves" {
		t.Fatalf("/me: %s", ev.Data)
	}
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "  /ME  bows deeply"})
	if m := decodeAs[wireChat](t, a.waitFor(t, ofType("chat.msg"))); !m.Me || m.Text != "bows deeply" {
		t.Fatalf("/ME: %+v", m)
	}
	a.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": "/me"}, comet.EINVALID, "1 to 500")
	a.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": "/dance now"}, comet.EINVALID, "unknown command /dance")
	a.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": "/w Nobody hi"}, comet.ENOTFOUND, `no player named "Nobody"`)
	a.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": "/w"}, comet.ENOTFOUND, "no player named")
}

func TestDirectMessages(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	a2 := openTab(t, ts.URL, a.Token)
	b := openTab(t, ts.URL, "")
	c := openTab(t, ts.URL, "")
	c2 := openTab(t, ts.URL, "")
	a.rename(t, "Ada")
	b.rename(t, "Ada Lovelace")
	c.rename(t, "Cy")
	dm := dmChannel(a.Player.ID, b.Player.ID)
	if !strings.HasPrefix(dm, "dm:") || strings.Count(dm, ":") != 2 {
		t.Fatalf("dm channel %q", dm)
	}

	a.send("chat.say", map[string]string{"to": b.Player.ID, "text": "psst"})
	for _, tb := range []*testTab{a, a2, b} { // both players, every tab
		if m := tb.chatText(t, "psst"); m.Channel != dm || m.From.ID != a.Player.ID {
			t.Fatalf("dm arrived as %+v", m)
		}
	}
	// "/w name text": an unquoted name that could be "Ada" or "Ada Lovelace"
	// is refused, never guessed; a quoted name is taken whole.
	c.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": "/w ada lovelace hi there"},
		comet.EINVALID, `/w is ambiguous: "ada" and "ada lovelace" are both online; quote the name, e.g. /w "ada lovelace" text`)
	c.send("chat.say", map[string]string{"channel": "lobby", "text": `/w "ada lovelace" hi there`})
	if m := b.chatText(t, "hi there"); m.Channel != dmChannel(b.Player.ID, c.Player.ID) || m.From.ID != c.Player.ID {
		t.Fatalf("/w to a quoted spaced name: %+v", m)
	}
	c.send("chat.say", map[string]string{"channel": "lobby", "text": "/w ADA hello"})
	if m := a2.chatText(t, "hello"); m.Channel != dmChannel(a.Player.ID, c.Player.ID) {
		t.Fatalf("/w: %+v", m)
	}
	c.send("chat.say", map[string]string{"channel": "lobby", "text": `/w "Ada" quoted`})
	if m := a2.chatText(t, "quoted"); m.Channel != dmChannel(a.Player.ID, c.Player.ID) {
		t.Fatalf("/w quoted: %+v", m)
	}
	c.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": `/w "Ada Lovelace hi`}, comet.EINVALID, "unterminated quote")
	c.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": `/w "Ada Byron" hi`}, comet.ENOTFOUND, `no player named "Ada Byron"`)
	c2.fence(t, ofType("chat.msg")) // nobody else hears a dm

	a.expectRefused(t, "chat.say", map[string]string{"to": a.Player.ID, "text": "me"}, comet.EINVALID, "cannot message yourself")
	a.expectRefused(t, "chat.say", map[string]string{"to": "p_nobody", "text": "hi"}, comet.ENOTFOUND, "not found")

	// History of a direct channel: for its two players only.
	a.send("chat.history", map[string]string{"channel": dm})
	h := decodeAs[wireHistory](t, a.waitFor(t, ofType("chat.history")))
	if h.Channel != dm || len(h.Messages) != 1 || h.Messages[0].Text != "psst" {
		t.Fatalf("dm history %+v", h)
	}
	c.expectRefused(t, "chat.history", map[string]string{"channel": dm}, comet.EFORBIDDEN, "not in channel")
	lo, hi := min(a.Player.ID, b.Player.ID), max(a.Player.ID, b.Player.ID)
	a.expectRefused(t, "chat.history", map[string]string{"channel": "dm:" + hi + ":" + lo}, comet.EFORBIDDEN, "not in channel")
}

func TestRoomChat(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	out := openTab(t, ts.URL, "")
	a.send("room.create", map[string]any{"mode": "arena"})
	id := a.joined(t).Room
	ch := "room:" + id
	h := decodeAs[wireHistory](t, a.waitFor(t, ofType("chat.history")))
	if h.Channel != ch || len(h.Messages) != 0 {
		t.Fatalf("new room's history %+v", h)
	}
	a.send("chat.say", map[string]string{"channel": ch, "text": "first in room"})
	a.chatText(t, "first in room")

	b.send("room.join", map[string]string{"room": id})
	h = decodeAs[wireHistory](t, b.waitFor(t, ofType("chat.history")))
	if h.Channel != ch || len(h.Messages) != 1 || h.Messages[0].Text != "first in room" {
		t.Fatalf("joiner's room history %+v", h)
	}
	b.send("chat.say", map[string]string{"channel": ch, "text": "hi room"})
	if m := a.chatText(t, "hi room"); m.Channel != ch {
		t.Fatalf("room line on %q", m.Channel)
	}
	out.fence(t, ofType("chat.msg"))
	out.expectRefused(t, "chat.say", map[string]string{"channel": ch, "text": "let me in"}, comet.EFORBIDDEN, "not in channel")
	out.expectRefused(t, "chat.history", map[string]string{"channel": ch}, comet.EFORBIDDEN, "not in channel")
	b.send("chat.history", map[string]string{"channel": ch})
	if h := decodeAs[wireHistory](t, b.waitFor(t, ofType("chat.history"))); len(h.Messages) != 2 {
		t.Fatalf("room history on request %+v", h)
	}
}

// TestChatHistoryLast50: joining a channel delivers its last 50 lines,
// oldest first.
func TestChatHistoryLast50(t *testing.T) {
	ts := startGameServer(t, nil)
	ctx := context.Background()
	for i := 1; i <= chatHistoryLen+5; i++ {
		m := &comet.ChatMessage{Channel: "lobby", FromID: "p_seed", FromName: "Seed", Text: fmt.Sprint("line ", i), At: time.Now()}
		if err := ts.DB.SaveChat(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, ts.URL)
	st := c.open("sse", 0)
	defer st.close()
	h := decodeAs[wireHistory](t, waitEvent(t, st, "chat.history"))
	if len(h.Messages) != chatHistoryLen || h.Messages[0].Text != "line 6" || h.Messages[chatHistoryLen-1].Text != "line 55" {
		t.Fatalf("history of %d lines from %q to %q", len(h.Messages), h.Messages[0].Text, h.Messages[len(h.Messages)-1].Text)
	}
	if !slices.IsSortedFunc(h.Messages, func(a, b wireChat) int { return int(a.ID - b.ID) }) {
		t.Fatal("history not oldest first")
	}
	if m := h.Messages[0]; m.From != (wirePlayer{"p_seed", "Seed"}) || m.Channel != "lobby" || m.At == 0 {
		t.Fatalf("history line %+v", m)
	}
}

func waitEvent(t testing.TB, st *tstream, typ string) wireEvent {
	t.Helper()
	return st.waitType(t, typ, eventWait)
}

// TestChatSurvivesRestart: lines are in SQLite; a new server on the same file
// sends them as history.
func TestChatSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.db")
	url, stop := serveOn(t, path)
	a := openTab(t, url, "")
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "remember me"})
	said := a.chatText(t, "remember me")
	stop()

	url, stop = serveOn(t, path)
	defer stop()
	b := newClient(t, url)
	st := b.open("sse", 0)
	defer st.close()
	h := decodeAs[wireHistory](t, waitEvent(t, st, "chat.history"))
	if len(h.Messages) != 1 || h.Messages[0] != said {
		t.Fatalf("after restart: %+v, want %+v", h.Messages, said)
	}
	// The player survives too: its token opens a session as the same player.
	if again := openSession(t, url, a.Token); again.Player.ID != a.Player.ID {
		t.Fatalf("player after restart %+v", again.Player)
	}
}

// TestChatKeyOnceAcrossSessions: a line the client gave a key is stored
// and delivered once for its player, whatever session resends it — the
// case a server that crashed before its answer left: the client's renewed
// session has a new sid and seqs. Another player's same key is its own; a
// malformed key is refused.
func TestChatKeyOnceAcrossSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.db")
	url, stop := serveOn(t, path)
	a := openTab(t, url, "")
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "said once", "key": "line-1"})
	said := a.chatText(t, "said once")
	stop() // no hand-over: the session is gone, as after a crash

	url, stop = serveOn(t, path)
	defer stop()
	again := openTab(t, url, a.Token)
	if again.Player.ID != a.Player.ID || again.SID == a.SID {
		t.Fatalf("renewed session %+v", again.client)
	}
	again.send("chat.say", map[string]string{"channel": "lobby", "text": "said once", "key": "line-1"})
	again.send("chat.say", map[string]string{"channel": "lobby", "text": "fence", "key": "line-2"})
	// The fence comes on the same stream after the resend was taken: the
	// resend delivered nothing and was not refused.
	if ev := again.waitFor(t, func(ev wireEvent) bool { return ev.Type == "chat.msg" || ev.Type == "sys.error" }); ev.Type != "chat.msg" || decodeAs[wireChat](t, ev).Text != "fence" {
		t.Fatalf("after the resend: %s %s, want the fence line", ev.Type, ev.Data)
	}
	reader := newClient(t, url)
	st := reader.open("sse", 0)
	defer st.close()
	h := decodeAs[wireHistory](t, waitEvent(t, st, "chat.history"))
	var texts []string
	for _, m := range h.Messages {
		texts = append(texts, m.Text)
	}
	if fmt.Sprint(texts) != "[said once fence]" || h.Messages[0] != said {
		t.Fatalf("history %v, want the keyed line once, then the fence", texts)
	}
	// Keys are the player's: another player's "line-1" is a line of its own.
	b := openTab(t, url, "")
	b.send("chat.say", map[string]string{"channel": "lobby", "text": "mine", "key": "line-1"})
	b.chatText(t, "mine")
	for _, key := range []string{"has space", "x<y", strings.Repeat("k", 65)} {
		b.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": "hi", "key": key}, comet.EINVALID, "key")
	}
}

// serveOn runs a server on the database at path until stop.
func serveOn(t testing.TB, path string) (url string, stop func()) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: db, Bus: bus.New(), Game: gameloop.ManagerConfig{Modes: modes.All()}, Logger: quietLogger(), Limits: Limits{SessionsPerMinute: -1, StreamsPerIP: -1, SessionsPerIP: -1}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		_ = db.Close()
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// TestChatRateLimit: about five lines per five seconds per player, shared by
// its tabs; the excess is refused with rate_limited, never dropped silently.
func TestChatRateLimit(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "")
	a2 := openTab(t, ts.URL, a.Token)
	b := openTab(t, ts.URL, "")
	var evs []any
	for i := 1; i <= chatBurst+2; i++ {
		evs = append(evs, "chat.say", map[string]string{"channel": "lobby", "text": fmt.Sprint("spam ", i)})
	}
	a.send(evs...) // seqs 1..7 in one request
	said, limited := 0, []uint64{}
	for said+len(limited) < chatBurst+2 {
		ev := a.waitFor(t, func(ev wireEvent) bool { return ev.Type == "chat.msg" || ev.Type == "sys.error" })
		if ev.Type == "chat.msg" {
			said++
			continue
		}
		e := decodeAs[sysError](t, ev)
		if e.Code != comet.ERATELIMIT || !strings.Contains(e.Message, "slow down") {
			t.Fatalf("sys.error %+v", e)
		}
		limited = append(limited, e.Ref)
	}
	if said != chatBurst || !slices.Equal(limited, []uint64{6, 7}) {
		t.Fatalf("%d lines said, refused refs %v; want %d said, 6 and 7 refused", said, limited, chatBurst)
	}
	// Another tab of the same player shares the allowance; other players don't.
	a2.expectRefused(t, "chat.say", map[string]string{"channel": "lobby", "text": "from tab 2"}, comet.ERATELIMIT, "slow down")
	b.send("chat.say", map[string]string{"channel": "lobby", "text": "b is fine"})
	b.chatText(t, "b is fine")
	// The allowance refills at one line per second. Not an assertion: the
	// sleep lets the refill time pass, and the line must then be accepted.
	time.Sleep(chatEvery + 100*time.Millisecond)
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "after a pause"})
	a.chatText(t, "after a pause")
}

// TestMute: a muted player's lines (channel, direct, history) stop reaching
// the muter, in every tab, now and in later sessions, until unmuted.
func TestMute(t *testing.T) {
	ts := startGameServer(t, nil)
	a := openTab(t, ts.URL, "") // the noisy one
	b := openTab(t, ts.URL, "") // mutes a
	b2 := openTab(t, ts.URL, b.Token)
	c := openTab(t, ts.URL, "")
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "before the mute"})
	b.chatText(t, "before the mute")

	b.send("chat.mute", map[string]string{"player": a.Player.ID})
	for _, tb := range []*testTab{b, b2} {
		ev := tb.waitFor(t, ofType("chat.muted"))
		wantKeys(t, "chat.muted", ev.Data, "players")
		if got := decodeAs[struct{ Players []string }](t, ev).Players; !slices.Equal(got, []string{a.Player.ID}) {
			t.Fatalf("chat.muted %s", ev.Data)
		}
	}
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "muted line"})
	a.send("chat.say", map[string]string{"to": b.Player.ID, "text": "muted whisper"})
	c.chatText(t, "muted line") // others still hear a
	a.chatText(t, "muted whisper")
	c.send("chat.say", map[string]string{"channel": "lobby", "text": "c speaks"})
	for _, tb := range []*testTab{b, b2} {
		// c's line comes after a's; a's must not come at all.
		tb.waitFor(t, func(ev wireEvent) bool {
			if ev.Type == "chat.msg" && decodeAs[wireChat](t, ev).From.ID == a.Player.ID {
				t.Fatalf("muter got %s", ev.Data)
			}
			return ev.Type == "chat.msg" && decodeAs[wireChat](t, ev).Text == "c speaks"
		})
	}

	// History sent to the muter leaves a out: on request, and in a new tab.
	b.send("chat.history", map[string]string{"channel": "lobby"})
	if h := decodeAs[wireHistory](t, b.waitFor(t, ofType("chat.history"))); fromAny(h, a.Player.ID) || len(h.Messages) != 1 {
		t.Fatalf("muter's history %+v", h)
	}
	b3 := openSession(t, ts.URL, b.Token)
	st := b3.open("sse", 0)
	defer st.close()
	var sawMuted bool
	for {
		ev := st.next(t, eventWait)
		if ev.Type == "chat.muted" {
			sawMuted = true
		}
		if ev.Type == "chat.history" {
			h := decodeAs[wireHistory](t, ev)
			if fromAny(h, a.Player.ID) {
				t.Fatalf("a new tab of the muter got the muted player's lines: %+v", h)
			}
			if len(h.Messages) != 1 || h.Messages[0].Text != "c speaks" {
				t.Fatalf("new tab's history %+v", h)
			}
			break
		}
	}
	if !sawMuted {
		t.Fatal("new tab of the muter was not sent chat.muted before the history")
	}
	// The muted player still gets its own dm history.
	a.send("chat.history", map[string]string{"channel": dmChannel(a.Player.ID, b.Player.ID)})
	if h := decodeAs[wireHistory](t, a.waitFor(t, ofType("chat.history"))); len(h.Messages) != 1 {
		t.Fatalf("sender's dm history %+v", h)
	}

	b.expectRefused(t, "chat.mute", map[string]string{"player": b.Player.ID}, comet.EINVALID, "another player")
	b.expectRefused(t, "chat.mute", map[string]string{}, comet.EINVALID, "another player")
	b.expectRefused(t, "chat.mute", map[string]string{"player": "p_nobody"}, comet.ENOTFOUND, "not found")

	b.send("chat.unmute", map[string]string{"player": a.Player.ID})
	if got := decodeAs[struct{ Players []string }](t, b.waitFor(t, ofType("chat.muted"))).Players; got == nil || len(got) != 0 {
		t.Fatalf("after unmute chat.muted lists %v, want []", got)
	}
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "heard again"})
	b.chatText(t, "heard again")
}

func fromAny(h wireHistory, playerID string) bool {
	return slices.ContainsFunc(h.Messages, func(m wireChat) bool { return m.From.ID == playerID })
}

// FuzzCleanText: whatever a client sends, an accepted line is valid UTF-8,
// trimmed, free of control characters, 1 to 500 characters, and cleaning it
// again changes nothing; a refused one is an EINVALID error, never a panic.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"hi", "  padded ", "a\x00b", "one\ntwo", "\xff\xfe", "/me waves", strings.Repeat("é", 501), "\u202eevil", "\t", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := cleanText(in)
		if err != nil {
			if comet.ErrorCode(err) != comet.EINVALID {
				t.Fatalf("cleanText(%q): %v", in, err)
			}
			return
		}
		n := utf8.RuneCountInString(out)
		switch {
		case !utf8.ValidString(out):
			t.Fatalf("cleanText(%q) = %q: invalid UTF-8", in, out)
		case n == 0 || n > maxChatLen:
			t.Fatalf("cleanText(%q) has %d characters", in, n)
		case strings.TrimSpace(out) != out:
			t.Fatalf("cleanText(%q) = %q: not trimmed", in, out)
		case strings.IndexFunc(out, unicode.IsControl) >= 0:
			t.Fatalf("cleanText(%q) = %q: control character left", in, out)
		}
		if again, err := cleanText(out); err != nil || again != out {
			t.Fatalf("cleaning %q again gave %q, %v", out, again, err)
		}
	})
}

func BenchmarkCleanText(b *testing.B) {
	line := "  Hello there, <friend>! This is a fairly ordinary chat line with\tsome spacing and émojis 😀  "
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cleanText(line); err != nil {
			b.Fatal(err)
		}
	}
}
