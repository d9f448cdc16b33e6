package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"comet/gameloop"
	"comet/gameloop/modes"
)

// Helpers for the lobby, chat, player and room tests: a server with the game
// modes, tabs (a session with its stream open), and readers that wait for a
// particular event or prove one does not come.

// eventWait is how long a test waits for an event that must come.
const eventWait = 5 * time.Second

// startGameServer is startServer with the compiled-in modes, no bot filling
// (so player counts are the test's own), empty rooms closing quickly and no
// per-address limits.
func startGameServer(t testing.TB, tune func(*Config)) *testServer {
	t.Helper()
	return startServer(t, func(c *Config) {
		c.Game.Modes = modes.All()
		c.Game.BotFillDelay = time.Hour
		c.Game.EmptyTimeout = 200 * time.Millisecond
		c.Hub.Heartbeat = time.Second
		c.Limits.SessionsPerMinute = -1 // every test client comes from 127.0.0.1
		c.Limits.StreamsPerIP = -1
		if tune != nil {
			tune(c)
		}
	})
}

// tab is one browser tab: a session with its SSE stream open, and the room
// list as a client keeps it from every lobby.rooms it has read.
type testTab struct {
	*client
	st    *tstream
	rooms map[string]gameloop.RoomInfo
}

// openTab opens a session (a new guest, or another tab of token's player) and
// its stream, and reads the events every session starts with.
func openTab(t testing.TB, base, token string) *testTab {
	t.Helper()
	c := openSession(t, base, token)
	st := c.open("sse", 0)
	t.Cleanup(st.close)
	tb := &testTab{client: c, st: st, rooms: make(map[string]gameloop.RoomInfo)}
	// The full room list and the online list come first, in one step; live
	// events may come before the chat history.
	for _, typ := range []string{"lobby.rooms", "lobby.presence"} {
		if ev, ok := tb.read(eventWait); !ok || ev.Type != typ {
			t.Fatalf("session start: got %s %s, want %s", ev.Type, ev.Data, typ)
		}
	}
	tb.waitFor(t, func(ev wireEvent) bool {
		return ev.Type == "chat.history" && decodeAs[wireHistory](t, ev).Channel == "lobby"
	})
	return tb
}

// read returns the next event, applying a lobby.rooms to the tab's list.
func (tb *testTab) read(timeout time.Duration) (wireEvent, bool) {
	ev, ok := tb.st.tryNext(timeout)
	if ok && ev.Type == "lobby.rooms" {
		var r wireRooms
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			panic(fmt.Sprintf("lobby.rooms %s: %v", ev.Data, err))
		}
		if r.Full {
			clear(tb.rooms)
		}
		for _, info := range r.Rooms {
			tb.rooms[info.ID] = info
		}
		for _, id := range r.Closed {
			delete(tb.rooms, id)
		}
	}
	return ev, ok
}

// rename sends player.rename and waits for player.renamed.
func (tb *testTab) rename(t testing.TB, name string) {
	t.Helper()
	tb.send("player.rename", map[string]string{"name": name})
	ev := tb.waitFor(t, func(ev wireEvent) bool { return ev.Type == "player.renamed" || ev.Type == "sys.error" })
	if ev.Type != "player.renamed" {
		t.Fatalf("rename to %q: %s", name, ev.Data)
	}
	tb.Player.Name = name
}

// waitFor skips events until pred holds, failing after eventWait.
func (tb *testTab) waitFor(t testing.TB, pred func(wireEvent) bool) wireEvent {
	t.Helper()
	end := time.Now().Add(eventWait)
	for {
		ev, ok := tb.read(time.Until(end))
		if !ok {
			t.Fatalf("no matching event within %v", eventWait)
		}
		if pred(ev) {
			return ev
		}
	}
}

// tryNext is next without failing: ok is false on timeout or end of stream.
func (s *tstream) tryNext(timeout time.Duration) (wireEvent, bool) {
	deadline := time.NewTimer(max(timeout, 0))
	defer deadline.Stop()
	for len(s.pending) == 0 {
		select {
		case b, ok := <-s.batches:
			if !ok {
				return wireEvent{}, false
			}
			s.pending = append(s.pending, b...)
		case <-deadline.C:
			return wireEvent{}, false
		}
	}
	ev := s.pending[0]
	s.pending = s.pending[1:]
	return ev, true
}

// fenceT makes every fence's ping unique in the test binary; the .5 keeps it
// apart from a test's own integer pings.
var fenceT atomic.Int64

// fence proves a negative without a sleep: it sends sys.ping with a unique t
// from c and reads up to the matching sys.pong with next, failing on any event
// matching unwanted before it. Whatever reached the session before the ping
// has a lower seq than the pong, so it would have been read.
func fence(t testing.TB, c *client, next func(time.Duration) (wireEvent, bool), unwanted func(wireEvent) bool) {
	t.Helper()
	want := float64(fenceT.Add(1)) + 0.5
	c.send("sys.ping", map[string]float64{"t": want})
	end := time.Now().Add(eventWait)
	for {
		ev, ok := next(time.Until(end))
		if !ok {
			t.Fatalf("fence: no sys.pong %v within %v (or the stream ended)", want, eventWait)
		}
		if ev.Type == "sys.pong" && decodeAs[struct{ T float64 }](t, ev).T == want {
			return
		}
		if unwanted(ev) {
			t.Fatalf("unexpected %s %s", ev.Type, ev.Data)
		}
	}
}

// fence is the package fence on the tab's stream (applying lobby.rooms).
func (tb *testTab) fence(t testing.TB, unwanted func(wireEvent) bool) {
	t.Helper()
	fence(t, tb.client, tb.read, unwanted)
}

func ofType(typ string) func(wireEvent) bool {
	return func(ev wireEvent) bool { return ev.Type == typ }
}

// refusal waits for the sys.error answering the client event ref.
func (tb *testTab) refusal(t testing.TB, ref uint64) sysError {
	t.Helper()
	ev := tb.waitFor(t, func(ev wireEvent) bool {
		return ev.Type == "sys.error" && decodeAs[sysError](t, ev).Ref == ref
	})
	return decodeAs[sysError](t, ev)
}

// expectRefused sends one event and wants a sys.error with code whose message
// contains msg.
func (tb *testTab) expectRefused(t testing.TB, typ string, data any, code, msg string) {
	t.Helper()
	tb.send(typ, data)
	e := tb.refusal(t, tb.seq)
	if e.Code != code || !strings.Contains(e.Message, msg) {
		t.Fatalf("%s %v: sys.error %q %q, want %q containing %q", typ, data, e.Code, e.Message, code, msg)
	}
}

func decodeAs[T any](t testing.TB, ev wireEvent) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		t.Fatalf("decode %s %s: %v", ev.Type, ev.Data, err)
	}
	return v
}

// keys returns the sorted member names of a JSON object, to pin a shape.
func keys(t testing.TB, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not an object: %s", raw)
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func wantKeys(t testing.TB, what string, raw json.RawMessage, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keys(t, raw); !slices.Equal(got, want) {
		t.Fatalf("%s members %v, want %v (%s)", what, got, want, raw)
	}
}

// Wire shapes of the events under test.
type (
	wirePlayer struct{ ID, Name string }
	wireChat   struct {
		ID      int64      `json:"id"`
		Channel string     `json:"channel"`
		From    wirePlayer `json:"from"`
		Text    string     `json:"text"`
		Me      bool       `json:"me"`
		At      int64      `json:"at"`
	}
	wireHistory struct {
		Channel  string     `json:"channel"`
		Messages []wireChat `json:"messages"`
	}
	wireRooms struct {
		Full   bool                `json:"full"`
		Rooms  []gameloop.RoomInfo `json:"rooms"`
		Closed []string            `json:"closed"`
	}
	wirePresence struct {
		Count   int          `json:"count"`
		Players []wirePlayer `json:"players"`
	}
	wireJoined struct {
		Room      string `json:"room"`
		Name      string `json:"name"`
		Mode      string `json:"mode"`
		Spectator bool   `json:"spectator"`
		Private   bool   `json:"private"`
		Code      string `json:"code"`
		Max       int    `json:"max"`
	}
)

// chatFrom waits for a chat.msg with text on the tab's stream.
func (tb *testTab) chatText(t testing.TB, text string) wireChat {
	t.Helper()
	ev := tb.waitFor(t, func(ev wireEvent) bool {
		return ev.Type == "chat.msg" && decodeAs[wireChat](t, ev).Text == text
	})
	return decodeAs[wireChat](t, ev)
}

// roomUpdate waits until the tab's room list, kept from lobby.rooms, shows
// room id as pred wants it (info is nil when the room is not listed).
func (tb *testTab) roomUpdate(t testing.TB, id string, pred func(info *gameloop.RoomInfo) bool) {
	t.Helper()
	end := time.Now().Add(eventWait)
	for {
		var info *gameloop.RoomInfo
		if r, ok := tb.rooms[id]; ok {
			info = &r
		}
		if pred(info) {
			return
		}
		if _, ok := tb.read(time.Until(end)); !ok {
			t.Fatalf("room %s: listed as %+v after %v", id, info, eventWait)
		}
	}
}

// joined waits for room.joined and returns it.
func (tb *testTab) joined(t testing.TB) wireJoined {
	t.Helper()
	ev := tb.waitFor(t, func(ev wireEvent) bool { return ev.Type == "room.joined" || ev.Type == "sys.error" })
	if ev.Type == "sys.error" {
		t.Fatalf("join refused: %s", ev.Data)
	}
	return decodeAs[wireJoined](t, ev)
}

// browser is a cookie-keeping HTTP client: a browser without scripts.
type browser struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newBrowser(t testing.TB, base string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar}}
}

// post sends a JSON body (nil: none) and returns status, response and body.
func (b *browser) post(path string, body any) (*http.Response, []byte) {
	b.t.Helper()
	var r io.Reader = http.NoBody
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest("POST", b.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// tokenCookie returns the comet_token cookie a response set, or nil.
func tokenCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			return c
		}
	}
	return nil
}

// httpJSON does a request and decodes a JSON answer into out (if not nil).
func httpJSON(t testing.TB, method, url, bearer string, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: %d with Content-Type %q: %s", method, url, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func mustURL(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ended reads the tab's stream to its end, failing if it does not end.
func (tb *testTab) ended(t testing.TB) {
	t.Helper()
	end := time.Now().Add(eventWait)
	for time.Now().Before(end) {
		if _, ok := tb.read(time.Until(end)); !ok {
			break
		}
	}
	select {
	case <-tb.st.done:
	case <-time.After(time.Until(end)):
		t.Fatalf("stream still open after %v", eventWait)
	}
}

// sysError is a sys.error event's data as a client decodes it.
type sysError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     uint64 `json:"ref"`
}
