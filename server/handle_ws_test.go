package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"comet"
	"comet/internal/check"
)

// dialWS opens the WebSocket transport of c's session resuming after last,
// with the player token as a Bearer header (a browser sends the cookie).
func dialWS(t testing.TB, c *client, last uint64, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Authorization", "Bearer "+c.Token)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := strings.Replace(c.base, "http://", "ws://", 1) + fmt.Sprintf("/comet/%s/ws?last=%d", c.SID, last)
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
	if conn != nil {
		t.Cleanup(func() { conn.CloseNow() })
	}
	return conn, resp, err
}

// readBatch reads one text message as a batch of events.
func readBatch(t testing.TB, conn *websocket.Conn) []wireEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read websocket: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("binary message %q", data)
	}
	var evs []wireEvent
	if err := json.Unmarshal(data, &evs); err != nil {
		t.Fatalf("batch %q: %v", data, err)
	}
	return evs
}

// TestWebSocketTransport: the sixth transport carries the same numbered
// events down and the same event objects up as POST /send — a chat line
// said over the socket comes back on it — with the same authentication and
// Origin rules.
func TestWebSocketTransport(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts.URL)
	conn, _, err := dialWS(t, c, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var first []wireEvent
	for len(first) == 0 { // the empty batch that opens the stream
		first = readBatch(t, conn)
	}
	if first[0].Seq != 1 || first[0].Type != "lobby.rooms" {
		t.Fatalf("first event %v", first[0])
	}
	up, _ := json.Marshal([]map[string]any{{"seq": 1, "type": "chat.say", "data": map[string]string{"channel": "lobby", "text": "over the socket"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, up); err != nil {
		t.Fatal(err)
	}
	// The same seq again is a duplicate: ignored, as on POST. A ping is the fence.
	if err := conn.Write(ctx, websocket.MessageText, up); err != nil {
		t.Fatal(err)
	}
	ping, _ := json.Marshal([]map[string]any{{"seq": 2, "type": "sys.ping", "data": map[string]float64{"t": 7}}})
	if err := conn.Write(ctx, websocket.MessageText, ping); err != nil {
		t.Fatal(err)
	}
	said := 0
	for done := false; !done; {
		for _, ev := range readBatch(t, conn) {
			switch {
			case ev.Type == "chat.msg" && strings.Contains(string(ev.Data), "over the socket"):
				said++
			case ev.Type == "sys.pong":
				done = true
			}
		}
	}
	if said != 1 {
		t.Fatalf("the chat line came back %d times, want once", said)
	}
	// Bad JSON in a message is refused on the stream, like a bad POST body.
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"not":"an array"}`)); err != nil {
		t.Fatal(err)
	}
	for got := false; !got; {
		for _, ev := range readBatch(t, conn) {
			if ev.Type == "sys.error" && strings.Contains(string(ev.Data), `"code":"invalid"`) {
				got = true
			}
		}
	}

	// Another site's page cannot open it with the player's cookie.
	if _, resp, err := dialWS(t, c, 0, http.Header{"Origin": {"https://evil.example"}}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin websocket: %v %v", resp, err)
	}
	// No token: 401; a plain GET on the path: 426 naming the version.
	req, _ := http.NewRequest("GET", ts.URL+"/comet/"+c.SID+"/ws", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Sec-WebSocket-Version") != "13" {
		t.Fatalf("plain GET: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestWebSocketResumeAfterRandomCuts is the other transports' cut test for
// the WebSocket: 600 events, the socket dropped after a random number of
// batches (events possibly in flight), resumed with last: every event once,
// in order.
func TestWebSocketResumeAfterRandomCuts(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts.URL)
	sess, _ := ts.Hub().Session(c.SID)
	const total = 600
	var sent atomic.Int64
	go func() {
		for i := 1; i <= total; i++ {
			sess.Send(comet.MustMessage("test.n", i))
			sent.Store(int64(i))
			if i%5 == 0 {
				time.Sleep(time.Millisecond) // pacing the producer, not an assertion
			}
		}
	}()
	seen, last, cuts := 0, uint64(0), 0
	deadline := time.Now().Add(20 * time.Second)
	for seen < total && time.Now().Before(deadline) {
		conn, _, err := dialWS(t, c, last, nil)
		if err != nil {
			t.Fatal(err)
		}
		for budget := rand.IntN(40) + 1; budget > 0 && seen < total; {
			evs := readBatch(t, conn)
			for _, ev := range evs {
				if ev.Seq != last+1 {
					t.Fatalf("seq %d (%s) after %d: gap or duplicate", ev.Seq, ev.Type, last)
				}
				last = ev.Seq
				if ev.Type == "test.n" {
					seen++
					if string(ev.Data) != fmt.Sprint(seen) {
						t.Fatalf("got %s, want %d", ev.Data, seen)
					}
				}
			}
			budget -= len(evs)
		}
		conn.CloseNow() // cut, with events possibly in flight
		cuts++
	}
	if seen != total || cuts < 10 {
		t.Fatalf("saw %d of %d events after %d cuts", seen, total, cuts)
	}
}

// TestWebSocketAckThenResume: over real HTTP, {"last":N} up the socket
// empties the session's replay buffer up to N at once (it would otherwise
// keep them for a minute); a resume from N after a cut still gets every
// later event once, in order, with no reset; and a resume from before N
// gets sys.reset, as after a reconnect's ?last=N.
func TestWebSocketAckThenResume(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts.URL)
	sess, _ := ts.Hub().Session(c.SID)
	conn, _, err := dialWS(t, c, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	write := func(conn *websocket.Conn, msg string) {
		t.Helper()
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// until reads batches, every seq once in order, until one ends with
	// an event of typ whose data is data ("": any).
	last := uint64(0)
	until := func(conn *websocket.Conn, typ, data string) {
		t.Helper()
		for found := false; !found; {
			for _, ev := range readBatch(t, conn) {
				if ev.Seq != last+1 {
					t.Fatalf("seq %d (%s) after %d", ev.Seq, ev.Type, last)
				}
				last = ev.Seq
				found = ev.Type == typ && (data == "" || string(ev.Data) == data)
			}
		}
	}
	bufferedAfter := func(seq uint64) error {
		st := sess.Stats()
		if oldest := st.Seq - uint64(st.Buffered) + 1; st.Buffered > 0 && oldest <= seq {
			return fmt.Errorf("replay holds seqs %d..%d, want none up to %d", oldest, st.Seq, seq)
		}
		return nil
	}
	for i := 1; i <= 10; i++ {
		sess.Send(comet.MustMessage("test.n", i))
	}
	until(conn, "test.n", "10")
	acked := last
	// The ping's pong is written by a later flush than the events: once it
	// is read, the stream has recorded them as written.
	write(conn, `[{"seq":1,"type":"sys.ping","data":{"t":1}}]`)
	until(conn, "sys.pong", "")
	if bufferedAfter(acked) == nil {
		t.Fatalf("before any ack the replay holds nothing up to %d: nothing to show", acked)
	}
	write(conn, fmt.Sprintf(`{"last":%d}`, acked))
	check.For(t, 5*time.Second, func() error { return bufferedAfter(acked) })

	for i := 11; i <= 15; i++ {
		sess.Send(comet.MustMessage("test.n", i))
	}
	until(conn, "test.n", "15")
	end := last
	conn.CloseNow() // cut: what came after the ack was read but never acknowledged

	last = acked
	again, _, err := dialWS(t, c, acked, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for last < end {
		for _, ev := range readBatch(t, again) {
			if ev.Seq != last+1 || ev.Type == "sys.reset" {
				t.Fatalf("resumed from the ack %d: seq %d (%s) after %d", acked, ev.Seq, ev.Type, last)
			}
			last = ev.Seq
			if ev.Type == "test.n" {
				got = append(got, string(ev.Data))
			}
		}
	}
	if strings.Join(got, ",") != "11,12,13,14,15" {
		t.Fatalf("resumed from the ack with test.n %v, want 11..15 once each", got)
	}
	again.CloseNow()

	behind, _, err := dialWS(t, c, acked-1, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := readBatch(t, behind)
	for len(evs) == 0 { // the empty batch that opens the stream
		evs = readBatch(t, behind)
	}
	if evs[0].Type != "sys.reset" || evs[0].Seq <= end {
		t.Fatalf("resumed from before the ack: %v, want sys.reset numbered above %d", evs, end)
	}
}
