package conform

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// checkDedup resends requests as is: each client seq is taken once.
func checkDedup(t *T) {
	s := t.session()
	st := t.open(s, "sse", 0, streamOpt{})
	t.readType(st, "chat.history")
	p := newPinger()
	first := p.batch(s, 2)
	t.send(s, first...)
	t.send(s, first...)                           // a timed-out request resent as is
	t.send(s, append(first, p.batch(s, 1)...)...) // taken seqs again, with a new one
	p.saw(t.fence(s, st))
	if lost, dup := p.verdict(); lost != 0 || dup != 0 {
		t.Errorf("three requests carrying seqs 1–2 (and 3 once): %d pings unanswered, %d answered twice", lost, dup)
	}
	// Client seqs belong to the session: another session of the player starts at 1.
	s2 := t.sessionOf(s)
	st2 := t.lobbyStream(s2)
	t.send(s2, Event{Seq: 1, Type: "sys.ping", Data: json.RawMessage(`{"t":77.5}`)})
	t.readUntil(st2, "the pong of a new session's seq 1", func(e Event) bool { return e.Type == "sys.pong" && pongT(e) == 77.5 })
	// Exact per seq: a lower seq never taken still runs after a higher one.
	ping := func(seq int64, tv float64) Event {
		return Event{Seq: seq, Type: "sys.ping", Data: json.RawMessage(fmt.Sprintf(`{"t":%g}`, tv))}
	}
	t.send(s, ping(20, 20.5))
	t.send(s, ping(15, 15.5))
	evs := t.readUntil(st, "the pong of seq 15", func(e Event) bool { return e.Type == "sys.pong" && pongT(e) == 15.5 })
	if len(ofType(evs, "sys.pong")) != 2 {
		t.Errorf("seq 20 then seq 15 (never sent): pongs %s, want both", types(evs))
	}
	// Below the window: refused on the stream, not run.
	w := s.limit("send_window", 64)
	hi, lo := 40+w+10, int64(30)
	t.send(s, ping(hi, 1.5))
	t.send(s, ping(lo, 2.5))
	s.mu.Lock()
	s.upSeq = hi
	s.mu.Unlock()
	se := t.readError(st, lo)
	want := fmt.Sprintf("seq %d is more than %d below the highest seq taken: it may have run; send one POST at a time", lo, w)
	if se.Code != "invalid" || se.Message != want {
		t.Errorf("seq %d after %d: sys.error {%q, %q}, want {invalid, %q}", lo, hi, se.Code, se.Message, want)
	}
	for _, e := range t.fence(s, st) {
		if e.Type == "sys.pong" && pongT(e) == 2.5 {
			t.Errorf("seq %d, more than %d below the highest, ran", lo, w)
		}
	}
	t.wantClean(st)
}

// checkUpstreamLimits: the request limits and their statuses.
func checkUpstreamLimits(t *T) {
	s := t.session()
	st := t.open(s, "sse", 0, streamOpt{})
	t.readType(st, "chat.history")
	post := func(what string, body []byte, status int) {
		code, b, err := s.post(t.ctx, body)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if code != status {
			t.Errorf("%s: status %d %.80q, want %d", what, code, b, status)
			return
		}
		var e apiError
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s: body %.80q, want JSON {\"error\": …}", what, b)
		}
	}
	post("a body that is not JSON", []byte("ping"), http.StatusBadRequest)
	post("a JSON object, not an array", []byte(`{"seq":1,"type":"sys.ping","data":{"t":1}}`), http.StatusBadRequest)
	post("an array of numbers", []byte(`[1,2]`), http.StatusBadRequest)
	var evs []Event
	for i := 0; i < 65; i++ {
		evs = append(evs, Event{Seq: int64(1000 + i), Type: "sys.ping", Data: json.RawMessage(`{"t":1}`)})
	}
	b, _ := json.Marshal(evs)
	post("65 events", b, http.StatusBadRequest)
	big := fmt.Sprintf(`[{"seq":2000,"type":"chat.say","data":{"channel":"lobby","text":"%s"}}]`, strings.Repeat("x", 17<<10))
	post("a 17 KiB body", []byte(big), http.StatusRequestEntityTooLarge)
	// None of the refused requests ran: the fence comes with nothing before it.
	for _, e := range t.fence(s, st) {
		if e.Type == "sys.pong" || e.Type == "chat.msg" {
			t.Errorf("a refused request ran: %s %s", e.Type, e.Data)
		}
	}
	resp, body, err := t.c.do(t.ctx, "POST", "/comet/"+s.Sid+"/send", s.Token, []byte("[]"), http.Header{"Origin": {"http://evil.example"}})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.wantHTTPError("a cross-origin POST", resp, body, http.StatusForbidden, "")
	t.wantClean(st)
}

// checkUpstreamErrors: refused events answer sys.error on the stream, and
// later events of the same request still run.
func checkUpstreamErrors(t *T) {
	s := t.session()
	st := t.open(s, "sse", 0, streamOpt{})
	t.readType(st, "chat.history")
	bad := s.ev("conform.nope", map[string]any{})
	field := s.ev("chat.say", map[string]any{"channel": "lobby", "text": "hi", "x": 1})
	typ := s.ev("player.rename", map[string]any{"name": 5})
	ping := s.ev("sys.ping", map[string]float64{"t": 42.5})
	t.send(s, bad, field, typ, ping)
	got := t.readUntil(st, "the pong after three refused events", func(e Event) bool { return e.Type == "sys.pong" && pongT(e) == 42.5 })
	errs := map[int64]sysError{}
	for _, e := range ofType(got, "sys.error") {
		var x sysError
		t.unmarshal("sys.error", e.Data, &x)
		errs[x.Ref] = x
	}
	want := []struct {
		seq        int64
		code, text string
	}{
		{bad.Seq, "unknown_type", ""},
		{field.Seq, "invalid", `bad data: unknown field "x"`},
		{typ.Seq, "invalid", "bad data: name must be string"},
	}
	for _, w := range want {
		x, ok := errs[w.seq]
		switch {
		case !ok:
			t.Errorf("no sys.error with ref %d before the pong of the same request", w.seq)
		case x.Code != w.code || !strings.HasPrefix(x.Message, w.text):
			t.Errorf("ref %d: {%q, %q}, want {%q, %q}", w.seq, x.Code, x.Message, w.code, w.text)
		}
	}
	// A new session's own events keep flowing: the session is not broken.
	t.fence(s, st)
	t.wantClean(st)
}
