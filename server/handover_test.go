package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modes"
	"comet/server/bus"
	"comet/server/push"
	"comet/server/sqlite"
)

// handoverNode is one process's worth of server on a fixed address and a
// shared SQLite file: the test stops one and starts the next on both.
type handoverNode struct {
	srv  *Server
	db   *sqlite.DB
	addr string
}

func handoverConfig(db *sqlite.DB) Config {
	return Config{
		Store: db, Bus: bus.New(), Logger: quietLogger(), Handover: true,
		Game:   gameloop.ManagerConfig{Modes: modes.All()},
		Limits: Limits{SessionsPerMinute: -1, StreamsPerIP: -1, SessionsPerIP: -1},
		Abuse:  AbuseLimits{ChatPerIPPerMinute: 1 << 20},
	}
}

// startNode opens the database at path, builds a server, restores the
// hand-over (wanting restored sessions) and serves on addr ("" for a free
// port).
func startNode(t *testing.T, path, addr string, restored int) *handoverNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sqlite.Open(ctx, path, quietLogger())
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	s, err := New(handoverConfig(db))
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Restore(ctx)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if n != restored {
		t.Fatalf("restored %d sessions, want %d", n, restored)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for i := 0; ; i++ { // the predecessor's port may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	node := &handoverNode{srv: s, db: db, addr: ln.Addr().String()}
	t.Cleanup(func() { node.stop(t) })
	return node
}

// stop shuts the node down (a hand-over) and closes its database; twice is once.
func (n *handoverNode) stop(t *testing.T) {
	if n.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	_ = n.db.Close()
	n.srv = nil
}

// rtab is a client tab that outlives servers: its downstream (any
// transport) reconnects with last=N after a refusal (503), a refused
// connection or a stream's end, and records every event exactly as received.
type rtab struct {
	t         *testing.T
	base      string
	transport string
	sid, tok  string
	player    string

	mu     sync.Mutex
	evs    []wireEvent
	fail   error // a status other than 200 or 503
	cur    *tstream
	wsc    *websocket.Conn
	seq    uint64 // client seq
	stop   chan struct{}
	done   chan struct{}
	opened int // downstreams opened
}

func newRTab(t *testing.T, base, transport string) *rtab {
	t.Helper()
	c := newClient(t, base)
	r := &rtab{t: t, base: base, transport: transport, sid: c.SID, tok: c.Token, player: c.Player.ID,
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	t.Cleanup(r.close)
	return r
}

func (r *rtab) close() {
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	r.mu.Lock()
	if r.cur != nil {
		r.cur.close()
	}
	if r.wsc != nil {
		r.wsc.CloseNow()
	}
	r.mu.Unlock()
	<-r.done
}

func (r *rtab) last() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.evs) == 0 {
		return 0
	}
	return r.evs[len(r.evs)-1].Seq
}

func (r *rtab) add(evs []wireEvent) {
	r.mu.Lock()
	r.evs = append(r.evs, evs...)
	r.mu.Unlock()
}

func (r *rtab) run() {
	defer close(r.done)
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		if !r.once() {
			select {
			case <-r.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// once opens one downstream and reads it to its end; false: refused.
func (r *rtab) once() bool {
	if r.transport == "ws" {
		return r.onceWS()
	}
	path := r.transport
	if path == "longpoll" {
		path = "poll"
	}
	url := fmt.Sprintf("%s/comet/%s/%s?last=%d", r.base, r.sid, path, r.last())
	if r.transport == "longpoll" {
		url += "&wait=5"
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+r.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false // refused: the server is between processes
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") != "1" || !strings.Contains(string(b), `"code":"unavailable"`) {
				r.setFail(fmt.Errorf("503 without Retry-After: 1 and code unavailable: %q %s", resp.Header.Get("Retry-After"), b))
			}
			return false
		}
		r.setFail(fmt.Errorf("downstream answered %d %s", resp.StatusCode, b))
		return false
	}
	r.mu.Lock()
	r.opened++
	r.mu.Unlock()
	if path == "poll" {
		defer resp.Body.Close()
		var evs []wireEvent
		if err := json.NewDecoder(resp.Body).Decode(&evs); err != nil {
			return false
		}
		r.add(evs)
		if r.transport == "poll" && len(evs) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		return true
	}
	s := &tstream{resp: resp, batches: make(chan []wireEvent, 1024), done: make(chan error, 1), raw: &bytes.Buffer{}}
	r.mu.Lock()
	r.cur = s
	r.mu.Unlock()
	go s.read(r.transport)
	for b := range s.batches {
		r.add(b)
	}
	resp.Body.Close()
	return true
}

// onceWS is once on the WebSocket transport: a text message per batch.
func (r *rtab) onceWS() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	url := strings.Replace(r.base, "http://", "ws://", 1) + fmt.Sprintf("/comet/%s/ws?last=%d", r.sid, r.last())
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + r.tok}}})
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != 0 {
			r.setFail(fmt.Errorf("websocket answered %d", resp.StatusCode))
		} else if resp != nil && resp.Header.Get("Retry-After") != "1" && resp.StatusCode == http.StatusServiceUnavailable {
			r.setFail(fmt.Errorf("503 without Retry-After: 1"))
		}
		return false
	}
	conn.SetReadLimit(8 << 20)
	r.mu.Lock()
	r.wsc = conn
	r.opened++
	r.mu.Unlock()
	defer conn.CloseNow()
	for {
		_, data, err := conn.Read(context.Background())
		if err != nil {
			return true
		}
		if len(data) == 0 || data[0] != '[' {
			continue // the end frame
		}
		var evs []wireEvent
		if json.Unmarshal(data, &evs) == nil {
			r.add(evs)
		}
	}
}

func (r *rtab) setFail(err error) {
	r.mu.Lock()
	if r.fail == nil {
		r.fail = err
	}
	r.mu.Unlock()
}

// say sends one chat line with the next client seq, retrying the same seq
// while the server is away (refused, 503) until it is taken (204).
func (r *rtab) say(text string) {
	r.t.Helper()
	r.send("chat.say", map[string]string{"channel": "lobby", "text": text})
}

// send sends one event with the next client seq, retrying the same seq
// while the server is away (refused, 503) until it is taken (204).
func (r *rtab) send(typ string, data any) {
	r.t.Helper()
	r.mu.Lock()
	r.seq++
	seq := r.seq
	r.mu.Unlock()
	text := typ
	body, _ := json.Marshal([]map[string]any{{"seq": seq, "type": typ, "data": data}})
	end := time.Now().Add(15 * time.Second)
	for time.Now().Before(end) {
		req, _ := http.NewRequest("POST", r.base+"/comet/"+r.sid+"/send", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+r.tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusNoContent:
				return
			case http.StatusServiceUnavailable:
			default:
				r.t.Fatalf("send %q: %d %s", text, resp.StatusCode, b)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("send %q: not taken within 15 s", text)
}

// snapshot returns the events received so far.
func (r *rtab) snapshot() ([]wireEvent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wireEvent(nil), r.evs...), r.fail
}

// chatTexts returns the texts of the chat.msg events received, in order.
func chatTexts(evs []wireEvent) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type != "chat.msg" {
			continue
		}
		var l chatLine
		if json.Unmarshal(ev.Data, &l) == nil {
			out = append(out, l.Text)
		}
	}
	return out
}

// checkContinuity fails unless seqs run 1, 2, 3, ... with no gap, repeat or
// reset: what the client got across every restart is exactly the stream.
func checkContinuity(t *testing.T, name string, evs []wireEvent) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("%s: event %d has seq %d (want %d): lost or repeated (%s)", name, i, ev.Seq, i+1, ev.Type)
		}
		if ev.Type == "sys.reset" {
			t.Fatalf("%s: sys.reset at seq %d", name, ev.Seq)
		}
	}
}

// waitLines waits until the tab has received every line in want, in any
// order, and fails if any arrived twice.
func waitLines(t *testing.T, r *rtab, want []string) {
	t.Helper()
	checkFor(t, 15*time.Second, func() error {
		evs, fail := r.snapshot()
		if fail != nil {
			t.Fatalf("%s: %v", r.transport, fail)
		}
		seen := map[string]int{}
		for _, x := range chatTexts(evs) {
			seen[x]++
		}
		for _, w := range want {
			switch seen[w] {
			case 0:
				return fmt.Errorf("%s: %q not received", r.transport, w)
			case 1:
			default:
				t.Fatalf("%s: %q received %d times", r.transport, w, seen[w])
			}
		}
		return nil
	})
}

// TestHandoverRestoresSessions restarts the server with a hand-over while a
// tab on every transport chats: each resumes on its sid with last=N, and
// its stream runs on without a gap or a repeat — every line before and after
// exactly once, sys.restart once, the lobby's lists again after it — the
// database being the only thing the two servers share.
func TestHandoverRestoresSessions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.db")
	one := startNode(t, path, "", 0)
	base := "http://" + one.addr
	transports := []string{"iframe", "multipart", "sse", "longpoll", "poll", "ws"}
	tabs := make([]*rtab, len(transports))
	for i, tr := range transports {
		tabs[i] = newRTab(t, base, tr)
	}
	var want []string
	for round := range 4 {
		for i, r := range tabs {
			line := fmt.Sprintf("before %d from %s", round, transports[i])
			r.say(line)
			want = append(want, line)
		}
	}
	for _, r := range tabs {
		waitLines(t, r, want)
	}
	// A muted player stays muted across the restart (mutes are reloaded).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := one.db.Mute(ctx, tabs[0].player, tabs[1].player); err != nil {
		t.Fatal(err)
	}
	beforeLast := make([]uint64, len(tabs))
	for i, r := range tabs {
		beforeLast[i] = r.last()
	}

	one.stop(t)
	two := startNode(t, path, one.addr, len(tabs))
	if got := two.srv.Hub().Len(); got != len(tabs) {
		t.Fatalf("hub has %d sessions, want %d", got, len(tabs))
	}

	var after []string
	for round := range 4 {
		for i, r := range tabs {
			line := fmt.Sprintf("after %d from %s", round, transports[i])
			r.say(line)
			after = append(after, line)
		}
	}
	for i, r := range tabs {
		w := append(cloneLines(want), after...)
		if i == 0 { // muted the multipart tab's player after the restart
			w = w[:0:0]
			for _, x := range append(cloneLines(want), after...) {
				if !strings.HasPrefix(x, "after") || !strings.HasSuffix(x, transports[1]) {
					w = append(w, x)
				}
			}
		}
		waitLines(t, r, w)
	}
	// Fence: a ping after the last line; nothing muted came before its pong.
	tabs[0].send("sys.ping", map[string]float64{"t": 7})
	checkFor(t, 10*time.Second, func() error {
		evs, _ := tabs[0].snapshot()
		for _, ev := range evs {
			if ev.Type == "sys.pong" {
				return nil
			}
		}
		return fmt.Errorf("no sys.pong")
	})

	for i, r := range tabs {
		evs, fail := r.snapshot()
		if fail != nil {
			t.Fatalf("%s: %v", transports[i], fail)
		}
		checkContinuity(t, transports[i], evs)
		restarts, roomsAfter, presenceAfter, muted := 0, 0, 0, 0
		for _, ev := range evs {
			switch {
			case ev.Type == "sys.restart":
				restarts++
				if ev.Seq <= beforeLast[i] {
					t.Fatalf("%s: sys.restart at %d, before the last line before the restart (%d)", transports[i], ev.Seq, beforeLast[i])
				}
			case ev.Type == "lobby.rooms" && restarts == 1:
				roomsAfter++
			case ev.Type == "lobby.presence" && restarts == 1:
				var p presenceMsg
				_ = json.Unmarshal(ev.Data, &p)
				if p.Count == len(tabs) {
					presenceAfter++
				}
			case ev.Type == "chat.muted" && restarts == 1:
				muted++
			}
		}
		if restarts != 1 || roomsAfter == 0 || presenceAfter == 0 {
			t.Fatalf("%s: %d sys.restart, %d lobby.rooms and %d full lobby.presence after it", transports[i], restarts, roomsAfter, presenceAfter)
		}
		if (i == 0) != (muted == 1) {
			t.Fatalf("%s: %d chat.muted after the restart", transports[i], muted)
		}
		if i == 0 {
			for _, x := range chatTexts(evs) {
				if strings.HasPrefix(x, "after") && strings.HasSuffix(x, transports[1]) {
					t.Fatalf("muted line %q delivered after the restart", x)
				}
			}
		}
	}
}

func cloneLines(s []string) []string { return append([]string(nil), s...) }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestDrainRefusesWith503: once a hand-over begins, new sessions, events and
// downstreams are answered 503 unavailable with Retry-After: 1, while the
// rest of the site still answers.
func TestDrainRefusesWith503(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Handover = true })
	c := newClient(t, ts.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.beginDrain(ctx); err != nil {
		t.Fatal(err)
	}
	if !ts.Draining() {
		t.Fatal("not draining")
	}
	check := func(method, path string) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(`[{"seq":1,"type":"sys.ping","data":{"t":1}}]`))
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body map[string]string
		_ = json.Unmarshal(b, &body)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || body["code"] != "unavailable" {
			t.Fatalf("%s %s: %d Retry-After %q %s", method, path, resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
	}
	check("POST", "/comet/"+c.SID+"/send")
	check("POST", "/comet/session")
	for _, tr := range []string{"iframe", "multipart", "sse", "poll"} {
		check("GET", "/comet/"+c.SID+"/"+tr)
	}
	resp, err := http.Get(ts.URL + "/api/modes")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/api/modes while draining: %v %v", resp, err)
	}
	resp.Body.Close()
	// The refused ping never ran: its seq is still free.
	if !tabOf(mustSession(t, ts.Server, c.SID)).TakeUpstream(1) {
		t.Fatal("a refused event took its seq")
	}
}

func mustSession(t *testing.T, s *Server, sid string) *push.Session {
	t.Helper()
	ps, ok := s.Hub().Session(sid)
	if !ok {
		t.Fatalf("no session %s", sid)
	}
	return ps
}

// TestHandoverDiscardedWhole: a blob that is incomplete, of another format,
// corrupt or inconsistent is discarded whole — no session restored, the
// blob gone — and the client, whose sid is then unknown (404), renews.
func TestHandoverDiscardedWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.db")
	one := startNode(t, path, "", 0)
	base := "http://" + one.addr
	for range 3 {
		c := newClient(t, base)
		c.send("chat.say", map[string]string{"channel": "lobby", "text": "hello"})
	}
	one.stop(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sqlite.Open(ctx, path, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	good, err := db.TakeHandover(ctx)
	if err != nil {
		t.Fatalf("no hand-over saved: %v", err)
	}
	_ = db.Close()
	var blob map[string]json.RawMessage
	if err := json.Unmarshal(good, &blob); err != nil {
		t.Fatal(err)
	}
	edit := func(key string, v any) []byte {
		m := make(map[string]json.RawMessage, len(blob))
		for k, x := range blob {
			m[k] = x
		}
		if v == nil {
			delete(m, key)
		} else {
			m[key], _ = json.Marshal(v)
		}
		b, _ := json.Marshal(m)
		return b
	}
	var sessions []map[string]json.RawMessage
	if err := json.Unmarshal(blob["sessions"], &sessions); err != nil || len(sessions) != 3 {
		t.Fatalf("sessions in the blob: %d, %v", len(sessions), err)
	}
	// Events out of order in the last session, with a checksum that matches:
	// only the whole-blob check can refuse it before the first is restored.
	var sv map[string]json.RawMessage
	_ = json.Unmarshal(sessions[2]["session"], &sv)
	sv["events"] = json.RawMessage(`[{"seq":2,"type":"x","frame":"e30="},{"seq":1,"type":"x","frame":"e30="}]`)
	sessions[2]["session"], _ = json.Marshal(sv)
	bad, _ := json.Marshal(sessions)
	badSum := sha256Hex(bad)

	cases := []struct {
		name string
		blob []byte
		want int
	}{
		{"incomplete", edit("complete", false), 0},
		{"complete missing", edit("complete", nil), 0},
		{"another format", edit("format", handoverFormat+1), 0},
		{"checksum mismatch", edit("checksum", strings.Repeat("0", 64)), 0},
		{"cut short", good[:len(good)/2], 0},
		{"inconsistent session", func() []byte {
			m := map[string]any{}
			for k, x := range blob {
				m[k] = x
			}
			m["sessions"], m["checksum"] = json.RawMessage(bad), badSum
			b, _ := json.Marshal(m)
			return b
		}(), 0},
		{"sound (control)", good, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			db, err := sqlite.Open(ctx, path, quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			if err := db.SaveHandover(ctx, tc.blob); err != nil {
				t.Fatal(err)
			}
			_ = db.Close()
			node := startNode(t, path, "", tc.want)
			if got := node.srv.Hub().Len(); got != tc.want {
				t.Fatalf("hub has %d sessions, want %d", got, tc.want)
			}
			if _, err := node.db.TakeHandover(ctx); comet.ErrorCode(err) != comet.ENOTFOUND {
				t.Fatalf("the blob is still stored: %v", err)
			}
			if tc.want == 0 {
				// The client's sid is unknown: 404, and it renews.
				var sid string
				_ = json.Unmarshal(sessions[0]["session"], &sv)
				_ = json.Unmarshal(sv["id"], &sid)
				resp, err := http.Get("http://" + node.addr + "/comet/" + sid + "/poll")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 404 && resp.StatusCode != 401 {
					t.Fatalf("stale sid answered %d, want 404 or 401", resp.StatusCode)
				}
				newClient(t, "http://"+node.addr)
			}
			node.srv.cfg.Handover = false // the next case stores its own blob
			node.stop(t)
		})
	}
}

// TestHandoverTabInRoom: when the hand-over's rooms cannot be restored (here
// their checksum fails), a tab that was in a room resumes in the lobby, told
// room.closed {"reason": "restart"} after sys.restart, and off the room's
// chat channel (TestHandoverRoomGoesOn is the room that comes back).
func TestHandoverTabInRoom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.db")
	one := startNode(t, path, "", 0)
	r := newRTab(t, "http://"+one.addr, "sse")
	r.send("room.join", map[string]string{"mode": "tag"})
	var room string
	checkFor(t, 10*time.Second, func() error {
		evs, _ := r.snapshot()
		for _, ev := range evs {
			if ev.Type == "room.joined" {
				var j struct{ Room string }
				_ = json.Unmarshal(ev.Data, &j)
				room = j.Room
				return nil
			}
		}
		return fmt.Errorf("no room.joined")
	})
	if room == "" {
		t.Fatal("room.joined names no room")
	}
	one.stop(t)
	spoilRooms(t, path)
	two := startNode(t, path, one.addr, 1)
	checkFor(t, 10*time.Second, func() error {
		evs, _ := r.snapshot()
		restarted := false
		for _, ev := range evs {
			switch ev.Type {
			case "sys.restart":
				restarted = true
			case "room.closed":
				var c struct{ Room, Reason string }
				_ = json.Unmarshal(ev.Data, &c)
				if restarted && c.Reason == "restart" && c.Room == room {
					return nil
				}
			}
		}
		return fmt.Errorf("no room.closed {room: %s, reason: restart} after sys.restart", room)
	})
	evs, _ := r.snapshot()
	checkContinuity(t, "sse", evs)
	tb := tabOf(mustSession(t, two.srv, r.sid))
	if tb.Room() != "" || tb.Subscribed(comet.ChatTopic("room:"+room)) {
		t.Fatalf("restored tab: room %q, on the room's chat %v", tb.Room(), tb.Subscribed(comet.ChatTopic("room:"+room)))
	}
}

// TestDrainRefusesWebSocketEvents: an event arriving on a WebSocket once
// the hand-over began does not run (its seq stays free for the successor);
// the client is told on the stream.
func TestDrainRefusesWebSocketEvents(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Handover = true })
	c := newClient(t, ts.URL)
	conn, _, err := dialWS(t, c, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.beginDrain(ctx); err != nil {
		t.Fatal(err)
	}
	up, _ := json.Marshal([]map[string]any{{"seq": 1, "type": "chat.say", "data": map[string]string{"channel": "lobby", "text": "late"}}})
	if err := conn.Write(ctx, websocket.MessageText, up); err != nil {
		t.Fatal(err)
	}
	for got := false; !got; {
		for _, ev := range readBatch(t, conn) {
			if ev.Type == "chat.msg" {
				t.Fatalf("an event sent while draining ran: %s", ev.Data)
			}
			if ev.Type == "sys.error" && strings.Contains(string(ev.Data), `"code":"unavailable"`) {
				got = true
			}
		}
	}
	if !tabOf(mustSession(t, ts.Server, c.SID)).TakeUpstream(1) {
		t.Fatal("a refused WebSocket event took its seq")
	}
}

// spoilRooms makes the rooms part of the saved hand-over at path fail its
// checksum, the sessions left sound.
func spoilRooms(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sqlite.Open(ctx, path, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blob, err := db.TakeHandover(ctx)
	if err != nil {
		t.Fatalf("no hand-over saved: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(blob, &m); err != nil || len(m["rooms"]) == 0 {
		t.Fatalf("no rooms in the hand-over (%v)", err)
	}
	m["rooms_checksum"], _ = json.Marshal(strings.Repeat("0", 64))
	if blob, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveHandover(ctx, blob); err != nil {
		t.Fatal(err)
	}
}
