package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"comet/gameloop"
	"comet/internal/check"
	"comet/server/sqlite"
)

// The hand-over across processes: SIGTERM saves every session in the
// database, the next process on the same address and file restores them, and
// clients on every transport resume on their sid with last=N.

// startAt starts the binary on addr (the predecessor's, once it has exited)
// with the hand-over on (the default) and proxies trusted, so each test
// client names its own address in X-Forwarded-For and the per-address chat
// limit does not pool them; extra flags follow.
func startAt(t *testing.T, db, addr string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"serve", "--addr", addr, "--db", db, "--trusted-proxy", "127.0.0.1/32", "--session-grace", "60s"}, extra...)
	cmd := exec.Command(binary(t), args...)
	p := &proc{cmd: cmd, url: "http://" + addr, logs: &strings.Builder{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	cmd.Stderr = writerFunc(func(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.logs.Write(b) })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); check.Recv(t, p.done, 10*time.Second, "exit after SIGKILL") })
	check.For(t, 20*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("exited at start: %v\n%s", p.err, p.log())
		default:
		}
		resp, err := http.Get(p.url + "/healthz")
		if err != nil {
			return fmt.Errorf("server did not come up: %w", err)
		}
		resp.Body.Close()
		return nil
	})
	return p
}

// term sends SIGTERM and waits for a clean exit.
func (p *proc) term(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.err, p.log())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after SIGTERM\n%s", p.log())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var iframeBatch = regexp.MustCompile(`parent\.__comet\("[^"]*",(.*)\)</script>`)

// tab is a protocol client on one transport that survives restarts: its
// downstream reconnects with last=N (the seq of the last event it read)
// whatever happened — a refused connection, 503, a stream's end — and it
// records every event exactly as the server sent it, with its arrival.
type tab struct {
	c                   *http.Client // nil: http.DefaultClient
	url, transport, xff string
	sid, token, player  string
	sendFor             time.Duration // how long send retries a seq (0: 20 s)

	mu       sync.Mutex
	evs      []ev
	at       []time.Time // arrival of evs[i]
	statuses map[int]int // answers other than 200 and 204, by status
	upSeq    uint64
	cur      io.Closer
	stop     chan struct{}
	done     chan struct{}
}

func openTab(t *testing.T, url, transport, xff string) *tab {
	t.Helper()
	return openTabWith(t, nil, url, transport, xff)
}

// openTabWith is openTab on client c (nil: the default), opening the
// session again while it is refused (a cluster behind a balancer starting).
func openTabWith(t *testing.T, c *http.Client, url, transport, xff string) *tab {
	t.Helper()
	tb := &tab{c: c, url: url, transport: transport, xff: xff,
		statuses: map[int]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	var s struct {
		SID, Token string
		Player     struct{ ID string }
	}
	check.For(t, 20*time.Second, func() error {
		req, _ := http.NewRequest("POST", url+"/comet/session", nil)
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := tb.client().Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("session: %d", resp.StatusCode)
		}
		return json.NewDecoder(resp.Body).Decode(&s)
	})
	tb.sid, tb.token, tb.player = s.SID, s.Token, s.Player.ID
	go tb.run()
	t.Cleanup(tb.close)
	return tb
}

func (tb *tab) close() {
	select {
	case <-tb.stop:
		return
	default:
	}
	close(tb.stop)
	tb.mu.Lock()
	if tb.cur != nil {
		tb.cur.Close()
	}
	tb.mu.Unlock()
	<-tb.done
}

// hold makes c the stream that close ends; false if close ran while the
// stream was being opened, when the caller must not read it (the server
// would hold it open, and close would wait for ever).
func (tb *tab) hold(c io.Closer) bool {
	tb.mu.Lock()
	tb.cur = c
	tb.mu.Unlock()
	select {
	case <-tb.stop: // close ran before c was set, so nothing will close c
		return false
	default: // close, when it runs, closes c
		return true
	}
}

func (tb *tab) last() uint64 {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.evs) == 0 {
		return 0
	}
	return tb.evs[len(tb.evs)-1].Seq
}

func (tb *tab) client() *http.Client {
	if tb.c == nil {
		return http.DefaultClient
	}
	return tb.c
}

// add records a batch as the server sent it: a held stream replayed from
// last never repeats, so a duplicate here is the server's, kept for the
// checks to see.
func (tb *tab) add(batch []ev) {
	now := time.Now()
	tb.mu.Lock()
	tb.evs = append(tb.evs, batch...)
	for range batch {
		tb.at = append(tb.at, now)
	}
	tb.mu.Unlock()
}

func (tb *tab) status(code int) {
	tb.mu.Lock()
	tb.statuses[code]++
	tb.mu.Unlock()
}

func (tb *tab) run() {
	defer close(tb.done)
	for {
		select {
		case <-tb.stop:
			return
		default:
		}
		if !tb.once() {
			select {
			case <-tb.stop:
				return
			case <-time.After(time.Duration(20+rand.IntN(60)) * time.Millisecond):
			}
		}
	}
}

func (tb *tab) once() bool {
	if tb.transport == "ws" {
		return tb.onceWS()
	}
	path, wait := tb.transport, ""
	switch tb.transport {
	case "longpoll":
		path, wait = "poll", "&wait=5"
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/comet/%s/%s?last=%d%s", tb.url, tb.sid, path, tb.last(), wait), nil)
	req.Header.Set("Authorization", "Bearer "+tb.token)
	req.Header.Set("X-Forwarded-For", tb.xff)
	resp, err := tb.client().Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		_, _ = io.Copy(io.Discard, resp.Body)
		tb.status(resp.StatusCode)
		return false
	}
	if path == "poll" {
		var batch []ev
		if json.NewDecoder(resp.Body).Decode(&batch) == nil {
			tb.add(batch)
		}
		if wait == "" {
			time.Sleep(50 * time.Millisecond)
		}
		return true
	}
	if !tb.hold(resp.Body) {
		return true
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		var payload string
		switch tb.transport {
		case "sse":
			payload, _ = strings.CutPrefix(line, "data: ")
		case "multipart":
			payload = line
		case "iframe":
			if m := iframeBatch.FindStringSubmatch(line); m != nil {
				payload = m[1]
			}
		}
		if !strings.HasPrefix(payload, "[") {
			continue // prelude, headers, heartbeats' padding, the end frame
		}
		var batch []ev
		if err := json.Unmarshal([]byte(payload), &batch); err == nil {
			tb.add(batch)
		}
	}
	return true
}

// onceWS is once on the WebSocket transport: a text message per batch.
func (tb *tab) onceWS() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	url := strings.NewReplacer("http://", "ws://", "https://", "wss://").Replace(tb.url) + fmt.Sprintf("/comet/%s/ws?last=%d", tb.sid, tb.last())
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: tb.c, HTTPHeader: http.Header{
		"Authorization": {"Bearer " + tb.token}, "X-Forwarded-For": {tb.xff}}})
	cancel()
	if err != nil {
		if resp != nil && resp.StatusCode != 0 {
			tb.status(resp.StatusCode)
		}
		return false
	}
	conn.SetReadLimit(8 << 20)
	defer conn.CloseNow()
	if !tb.hold(closerFunc(func() error { return conn.CloseNow() })) {
		return true
	}
	for {
		_, data, err := conn.Read(context.Background())
		if err != nil {
			return true
		}
		if len(data) == 0 || data[0] != '[' {
			continue // the end frame
		}
		var batch []ev
		if json.Unmarshal(data, &batch) == nil {
			tb.add(batch)
		}
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// say sends a chat line with the next client seq and retries that seq
// until the server takes the POST (204): false if it never did.
func (tb *tab) say(text string) (seq uint64, ok bool) {
	return tb.send("chat.say", map[string]string{"channel": "lobby", "text": text})
}

// send posts one event with the next client seq and retries that seq, as a
// client does, while the server answers 503 or not at all: ok once it
// answered 204, false if it refused otherwise or never answered within
// sendFor (20 s by default).
func (tb *tab) send(typ string, data any) (seq uint64, ok bool) {
	tb.mu.Lock()
	tb.upSeq++
	seq = tb.upSeq
	tb.mu.Unlock()
	body, _ := json.Marshal([]map[string]any{{"seq": seq, "type": typ, "data": data}})
	end := time.Now().Add(cmp.Or(tb.sendFor, 20*time.Second))
	for time.Now().Before(end) {
		req, _ := http.NewRequest("POST", tb.url+"/comet/"+tb.sid+"/send", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tb.token)
		req.Header.Set("X-Forwarded-For", tb.xff)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := tb.client().Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return seq, true
			}
			if resp.StatusCode != http.StatusServiceUnavailable {
				tb.status(resp.StatusCode)
				return seq, false
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	return seq, false
}

func (tb *tab) snapshot() []ev {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]ev(nil), tb.evs...)
}

// snapshotAt is snapshot with each event's arrival.
func (tb *tab) snapshotAt() ([]ev, []time.Time) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]ev(nil), tb.evs...), append([]time.Time(nil), tb.at...)
}

// refused returns the client seqs the server refused on the stream (sys.error
// with a ref): a line refused (rate-limited) was acknowledged by no one.
func refused(evs []ev) map[uint64]bool {
	out := map[uint64]bool{}
	for _, e := range evs {
		if e.Type != "sys.error" {
			continue
		}
		var d struct{ Ref uint64 }
		if json.Unmarshal(e.Data, &d) == nil && d.Ref > 0 {
			out[d.Ref] = true
		}
	}
	return out
}

// TestHandoverAcrossProcesses runs tabs on every transport, six in an arena
// room and six in a tag room, that chat in the lobby and send inputs while
// the server is restarted with SIGTERM at random moments, each time on the
// same address and database. Per session the stream's seqs run on without a
// gap, a repeat or a reset, and no tab ever had to open a new session; every
// chat line acknowledged is received exactly once by every tab; each tab
// stays in its room as the same player, in the same match, its view's ticks
// never going back; and every input acknowledged is in the match's log
// exactly once, in the order sent (read from the last process's hand-over).
func TestHandoverAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary several times")
	}
	db := filepath.Join(t.TempDir(), "handover.db")
	addr := freeAddr(t)
	// Six humans fill an arena room, so no bot ever joins and nobody fires:
	// no match ends by score, and none by time within the test.
	flags := []string{"--match-length", "10m", "--countdown", "100ms", "--bot-delay", "10m"}
	p := startAt(t, db, addr, flags...)
	url := "http://" + addr
	transports := []string{"iframe", "multipart", "sse", "longpoll", "poll", "ws"}
	modes := []string{"arena", "tag"}
	var tabs []*tab
	for m := range modes {
		for i, tr := range transports {
			tabs = append(tabs, openTab(t, url, tr, fmt.Sprintf("198.51.100.%d", 10*m+i+1)))
		}
	}
	name := func(i int) string { return modes[i/len(transports)] + "/" + tabs[i].transport }
	check.For(t, 20*time.Second, func() error {
		for i, tb := range tabs {
			if tb.last() == 0 {
				return fmt.Errorf("%s: no event yet", name(i))
			}
		}
		return nil
	})

	// The first tab of each mode opens a room by quick play; the others
	// join it by id, and the match runs.
	rooms := make([]string, len(modes))
	for m, mode := range modes {
		first := tabs[m*len(transports)]
		if _, ok := first.send("room.join", map[string]string{"mode": mode}); !ok {
			t.Fatalf("%s: room.join refused", name(m*len(transports)))
		}
		check.For(t, 20*time.Second, func() error {
			if rooms[m] = joinedRoom(first.snapshot()); rooms[m] == "" {
				return fmt.Errorf("%s: no room.joined", mode)
			}
			return nil
		})
		for _, tb := range tabs[m*len(transports)+1 : (m+1)*len(transports)] {
			if _, ok := tb.send("room.join", map[string]string{"room": rooms[m]}); !ok {
				t.Fatalf("%s %s: room.join refused", mode, tb.transport)
			}
		}
	}
	check.For(t, 30*time.Second, func() error {
		for i, tb := range tabs {
			if rs, err := followRoom(tb.snapshot()); err != nil || rs.match == "" || rs.room != rooms[i/len(transports)] {
				return fmt.Errorf("%s: not playing in %s yet: %+v %v", name(i), rooms[i/len(transports)], rs, err)
			}
		}
		return nil
	})

	type line struct {
		from int
		seq  uint64
		text string
	}
	type input struct {
		seq uint64
		raw string
	}
	var mu sync.Mutex
	var acked []line
	inputs := make([][]input, len(tabs)) // acknowledged, per tab in the order sent
	var failed []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, tb := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(200+rand.IntN(100)) * time.Millisecond):
				}
				// A move in turn, and in arena an aim no other input has,
				// so the log shows which input went where.
				raw := fmt.Sprintf(`{"m":%d}`, n%9)
				if i < len(transports) {
					raw = fmt.Sprintf(`{"m":%d,"a":%d.%04d}`, n%9, 10*i, n)
				}
				seq, ok := tb.send("room.input", json.RawMessage(raw))
				mu.Lock()
				if ok {
					inputs[i] = append(inputs[i], input{seq, raw})
				} else {
					failed = append(failed, fmt.Sprintf("%s input %d (seq %d)", name(i), n, seq))
				}
				mu.Unlock()
				if n%5 != 4 { // under 1 line/s a player
					continue
				}
				text := fmt.Sprintf("%s line %d", name(i), n/5)
				if seq, ok := tb.say(text); ok {
					mu.Lock()
					acked = append(acked, line{i, seq, text})
					mu.Unlock()
				}
			}
		}()
	}

	const restarts = 3
	saved := regexp.MustCompile(`msg="hand-over saved" sessions=(\d+) rooms=(\d+)`)
	restored := regexp.MustCompile(`msg="hand-over restored" sessions=(\d+) events=\d+ rooms=(\d+)`)
	want := fmt.Sprintf("%d %d", len(tabs), len(modes))
	for r := range restarts {
		time.Sleep(time.Duration(1500+rand.IntN(1500)) * time.Millisecond)
		start := time.Now()
		p.term(t)
		if m := saved.FindStringSubmatch(p.log()); m == nil || m[1]+" "+m[2] != want {
			t.Fatalf("restart %d: want %s sessions and rooms saved, got %q\n%s", r, want, m, p.log())
		}
		p = startAt(t, db, addr, flags...)
		if m := restored.FindStringSubmatch(p.log()); m == nil || m[1]+" "+m[2] != want {
			t.Fatalf("restart %d: want %s sessions and rooms restored, got %q\n%s", r, want, m, p.log())
		}
		t.Logf("restart %d: SIGTERM to serving again in %v", r, time.Since(start).Round(time.Millisecond))
	}
	time.Sleep(1500 * time.Millisecond)
	// The rooms tick on after the last restart, while the inputs go on.
	check.For(t, 20*time.Second, func() error {
		for i, tb := range tabs {
			if rs, err := followRoom(tb.snapshot()); err != nil || rs.diffsAfter == 0 {
				return fmt.Errorf("%s: no diff after the last restart (%+v, %v)", name(i), rs, err)
			}
		}
		return nil
	})
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(failed) > 0 {
		t.Fatalf("inputs never acknowledged: %v", failed)
	}
	if len(acked) < restarts*len(tabs) {
		t.Fatalf("only %d lines acknowledged", len(acked))
	}
	refusedBy := make([]map[uint64]bool, len(tabs))
	for j, o := range tabs {
		refusedBy[j] = refused(o.snapshot())
	}
	for i, tb := range tabs {
		// Every acknowledged line, unless refused on its sender's stream,
		// reaches every tab exactly once.
		check.For(t, 20*time.Second, func() error {
			seen := map[string]int{}
			for _, e := range tb.snapshot() {
				if e.Type == "chat.msg" {
					var m struct{ Text string }
					_ = json.Unmarshal(e.Data, &m)
					seen[m.Text]++
				}
			}
			for _, l := range acked {
				n := seen[l.text]
				switch {
				case refusedBy[l.from][l.seq]:
					if n != 0 {
						t.Fatalf("%s: refused line %q delivered %d times", name(i), l.text, n)
					}
				case n == 0:
					return fmt.Errorf("%s: %q not received", name(i), l.text)
				case n > 1:
					t.Fatalf("%s: %q received %d times", name(i), l.text, n)
				}
			}
			return nil
		})
		evs := tb.snapshot()
		restartsSeen := 0
		for k, e := range evs {
			if e.Seq != uint64(k+1) {
				t.Fatalf("%s: event %d has seq %d (%s): lost or repeated", name(i), k, e.Seq, e.Type)
			}
			switch e.Type {
			case "sys.reset":
				t.Fatalf("%s: sys.reset at %d", name(i), e.Seq)
			case "sys.restart":
				restartsSeen++
			}
		}
		if restartsSeen != restarts {
			t.Fatalf("%s: %d sys.restart, want %d", name(i), restartsSeen, restarts)
		}
		rs, err := followRoom(evs)
		switch {
		case err != nil:
			t.Fatalf("%s: %v", name(i), err)
		case rs.room != rooms[i/len(transports)] || rs.joined != restarts+1:
			t.Fatalf("%s: in room %s, joined %d times; want %s, %d", name(i), rs.room, rs.joined, rooms[i/len(transports)], restarts+1)
		case rs.match != tabs[i/len(transports)*len(transports)].roomStream(t).match:
			t.Fatalf("%s: match %s, its room's first tab says another", name(i), rs.match)
		}
		for _, in := range inputs[i] {
			if refusedBy[i][in.seq] {
				t.Fatalf("%s: input %s (seq %d) acknowledged, then refused on the stream", name(i), in.raw, in.seq)
			}
		}
		tb.mu.Lock()
		st := tb.statuses
		tb.mu.Unlock()
		for code := range st {
			if code != http.StatusServiceUnavailable {
				t.Fatalf("%s: downstream answered %d (statuses %v): the session was not kept", name(i), code, st)
			}
		}
		t.Logf("%s: %d events, %d inputs; %d lines acknowledged in all, downstream 503s %d", name(i), len(evs), len(inputs[i]), len(acked), st[503])
	}

	// One more hand-over: its rooms hold each match's log from the start,
	// and the inputs queued for the next tick. Every input acknowledged is
	// there once, in the order sent, and no tick was stepped twice.
	p.term(t)
	logs := savedRooms(t, db)
	for m, id := range rooms {
		sv, ok := logs[id]
		if !ok {
			t.Fatalf("room %s not in the last hand-over", id)
		}
		if first := tabs[m*len(transports)].roomStream(t); sv.Match.ID != first.match {
			t.Fatalf("room %s: match %s in the hand-over, %s on the streams", id, sv.Match.ID, first.match)
		}
		got := matchInputs(t, sv)
		t.Logf("room %s (%s): match %s at tick %d, %d log bytes, %d inputs queued", id, modes[m], sv.Match.ID, sv.Tick, len(sv.Match.Log), len(sv.Pending))
		for i := m * len(transports); i < (m+1)*len(transports); i++ {
			var sent []string
			for _, in := range inputs[i] {
				sent = append(sent, in.raw)
			}
			if took := got[tabs[i].player]; !slices.Equal(took, sent) {
				k := 0
				for k < min(len(took), len(sent)) && took[k] == sent[k] {
					k++
				}
				t.Fatalf("%s: the match took %d inputs, %d were acknowledged; from the %d-th on it took %v, was sent %v",
					name(i), len(took), len(sent), k+1, took[k:min(len(took), k+4)], sent[k:min(len(sent), k+4)])
			}
		}
	}
}

// roomStream is followRoom of the tab's stream so far, failing t on an error.
func (tb *tab) roomStream(t *testing.T) roomStream {
	t.Helper()
	rs, err := followRoom(tb.snapshot())
	if err != nil {
		t.Fatalf("%s: %v", tb.transport, err)
	}
	return rs
}

// joinedRoom is the room of the first room.joined on a stream, or "".
func joinedRoom(evs []ev) string {
	for _, e := range evs {
		if e.Type == "room.joined" {
			var d struct{ Room string }
			_ = json.Unmarshal(e.Data, &d)
			return d.Room
		}
	}
	return ""
}

// roomStream is what a tab's stream told it of its room.
type roomStream struct {
	room, match string // match: the first running one
	you         uint32
	joined      int    // room.joined events
	tick        uint64 // the view's tick
	diffsAfter  int    // diffs applied since the last sys.restart
}

// followRoom applies a tab's stream as a client does and returns an error at
// what a hand-over must never do to a room: leave or close it, change the
// room or the player number, end or change the running match, take the
// view's tick back (a snapshot before the last tick seen) or send a diff
// that does not apply to the last tick.
func followRoom(evs []ev) (roomStream, error) {
	var r roomStream
	inMatch := false // a snapshot of the running match has come
	for _, e := range evs {
		var d struct {
			Room, State, Match, M string
			You                   uint32
			T, B                  uint64
		}
		if strings.HasPrefix(e.Type, "room.") {
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return r, fmt.Errorf("seq %d: %s: %w", e.Seq, e.Type, err)
			}
		}
		switch e.Type {
		case "sys.restart":
			r.diffsAfter = 0
		case "room.left", "room.closed":
			return r, fmt.Errorf("seq %d: %s %s", e.Seq, e.Type, e.Data)
		case "room.joined":
			if r.joined > 0 && (d.Room != r.room || d.You != r.you) {
				return r, fmt.Errorf("seq %d: room.joined %s as player %d, was %s as %d", e.Seq, d.Room, d.You, r.room, r.you)
			}
			r.room, r.you = d.Room, d.You
			r.joined++
		case "room.state":
			switch {
			case r.match == "" && d.State == "running":
				r.match = d.Match
			case r.match != "" && (d.Match != r.match || d.State != "running"):
				return r, fmt.Errorf("seq %d: room.state %s of match %s; the match was %s", e.Seq, d.State, d.Match, r.match)
			}
		case "room.snapshot":
			switch {
			case inMatch && d.M != r.match:
				return r, fmt.Errorf("seq %d: snapshot of match %s; the match was %s", e.Seq, d.M, r.match)
			case inMatch && d.T < r.tick:
				return r, fmt.Errorf("seq %d: snapshot of tick %d after tick %d", e.Seq, d.T, r.tick)
			}
			inMatch = inMatch || (r.match != "" && d.M == r.match)
			r.tick = d.T
		case "room.diff":
			if d.B != r.tick || d.T <= d.B {
				return r, fmt.Errorf("seq %d: diff from tick %d to %d on tick %d", e.Seq, d.B, d.T, r.tick)
			}
			r.tick = d.T
			r.diffsAfter++
		}
	}
	return r, nil
}

// savedRooms takes the hand-over the last process saved in db and returns
// its rooms by id.
func savedRooms(t *testing.T, db string) map[string]gameloop.SavedRoom {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	blob, err := store.TakeHandover(ctx)
	if err != nil {
		t.Fatalf("no hand-over saved: %v", err)
	}
	var h struct{ Rooms []gameloop.SavedRoom }
	if err := json.Unmarshal(blob, &h); err != nil {
		t.Fatalf("hand-over: %v", err)
	}
	out := make(map[string]gameloop.SavedRoom, len(h.Rooms))
	for _, r := range h.Rooms {
		out[r.ID] = r
	}
	return out
}

// matchInputs reads a saved room's match log and its queued inputs: every
// input the match took, by player id in the order taken. It fails t if a
// step's tick is not after the one before.
func matchInputs(t *testing.T, sv gameloop.SavedRoom) map[string][]string {
	t.Helper()
	ids := make(map[uint32]string)
	out := make(map[string][]string)
	take := func(num uint32, raw json.RawMessage) {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			t.Fatalf("room %s: input %s: %v", sv.ID, raw, err)
		}
		out[ids[num]] = append(out[ids[num]], b.String())
	}
	var last uint64
	stepped := false
	for n, l := range bytes.Split(bytes.TrimSpace(sv.Match.Log), []byte("\n")) {
		if n == 0 {
			continue // the header
		}
		var rec struct {
			T    uint64
			S    int
			Join *struct {
				N  uint32
				ID string
			}
			In []json.RawMessage
		}
		if err := json.Unmarshal(l, &rec); err != nil {
			t.Fatalf("room %s: log line %d: %v", sv.ID, n+1, err)
		}
		if rec.Join != nil {
			ids[rec.Join.N] = rec.Join.ID
		}
		if rec.S == 0 {
			continue
		}
		if stepped && rec.T <= last {
			t.Fatalf("room %s: log line %d steps tick %d after tick %d", sv.ID, n+1, rec.T, last)
		}
		last, stepped = rec.T, true
		for _, in := range rec.In {
			var pair []json.RawMessage
			var num uint32
			if json.Unmarshal(in, &pair) != nil || len(pair) != 2 || json.Unmarshal(pair[0], &num) != nil {
				t.Fatalf("room %s: log line %d: input %s", sv.ID, n+1, in)
			}
			take(num, pair[1])
		}
	}
	for _, q := range sv.Pending {
		take(q.Num, q.Input)
	}
	return out
}

// TestHandoverForeignVersionRenews: a hand-over of another format version is
// discarded at start with a warning, and a client's sid is then unknown
// (404): it renews, as after a crash.
func TestHandoverForeignVersionRenews(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary twice")
	}
	db := filepath.Join(t.TempDir(), "foreign.db")
	addr := freeAddr(t)
	p := startAt(t, db, addr)
	tb := openTab(t, "http://"+addr, "sse", "198.51.100.9")
	check.For(t, 10*time.Second, func() error {
		if tb.last() == 0 {
			return fmt.Errorf("no event yet")
		}
		return nil
	})
	p.term(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := store.TakeHandover(ctx)
	if err != nil {
		t.Fatalf("no hand-over saved: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(blob, &m); err != nil {
		t.Fatal(err)
	}
	m["format"] = json.RawMessage(`999`)
	blob, _ = json.Marshal(m)
	if err := store.SaveHandover(ctx, blob); err != nil {
		t.Fatal(err)
	}
	store.Close()

	p = startAt(t, db, addr)
	if !strings.Contains(p.log(), "hand-over discarded") || !strings.Contains(p.log(), "format 999") {
		t.Fatalf("no warning of a discarded hand-over\n%s", p.log())
	}
	check.For(t, 10*time.Second, func() error {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		if tb.statuses[http.StatusNotFound] == 0 {
			return fmt.Errorf("statuses %v, want a 404 for the old sid", tb.statuses)
		}
		return nil
	})
	// Renewal: a new session for the same player (its token).
	req, _ := http.NewRequest("POST", p.url+"/comet/session", nil)
	req.Header.Set("Authorization", "Bearer "+tb.token)
	req.Header.Set("X-Forwarded-For", tb.xff)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("renew: %v %v", resp, err)
	}
	resp.Body.Close()
}
