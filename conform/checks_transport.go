package conform

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// checkFraming opens tr on a new session and checks its bytes: headers,
// prelude, the empty batch at once, the lobby's first events, a round trip.
func checkFraming(tr string) func(*T) {
	return func(t *T) {
		s := t.session()
		start := time.Now()
		st := t.open(s, tr, 0, streamOpt{})
		if tr != "poll" && tr != "longpoll" && tr != "ws" { // ws: its empty batch is checked with the handshake
			f, err := st.next()
			if err != nil || !f.heartbeat() {
				t.Fatalf("first batch after the prelude %.80q (%v), want [] (problems: %v)", f.raw, err, st.problems())
			}
			if d := f.at.Sub(start); d > 2*time.Second {
				t.Errorf("the empty batch after the prelude came %s after the request, want at once", d)
			}
		}
		evs := t.readUntil(st, "chat.history of lobby", func(e Event) bool { return e.Type == "chat.history" })
		if len(evs) < 3 || evs[0].Seq != 1 || evs[0].Type != "lobby.rooms" || evs[1].Seq != 2 || evs[1].Type != "lobby.presence" {
			t.Errorf("a new session's stream starts %s, want seq 1 lobby.rooms, seq 2 lobby.presence, …, chat.history", types(evs))
		} else {
			var lr struct {
				Full bool `json:"full"`
			}
			_ = json.Unmarshal(evs[0].Data, &lr)
			if !lr.Full {
				t.Errorf("seq 1 lobby.rooms %s, want \"full\": true", evs[0].Data)
			}
		}
		t.fence(s, st)
		t.wantClean(st)
	}
}

// checkHeartbeat watches a quiet stream for 2.5 heartbeats: an empty batch
// must come whenever nothing was sent for heartbeat_ms.
func checkHeartbeat(tr string) func(*T) {
	return func(t *T) {
		s := t.session()
		hb := time.Duration(s.HeartbeatMS) * time.Millisecond
		tol := hb/2 + time.Second // a client calls a stream dead after heartbeat_ms × 1.5; 1 s for scheduling
		window := 5*hb/2 + time.Second
		ctx, cancel := context.WithTimeout(t.ctx, window)
		defer cancel()
		st, err := s.open(ctx, tr, 0, streamOpt{})
		if err != nil {
			t.Fatalf("%v", err)
		}
		defer st.Close()
		prev, hbs := time.Now(), 0
		for i := 0; ; i++ {
			f, err := st.next()
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("the stream ended after %d batches: %v", i, err)
				}
				break
			}
			if gap := f.at.Sub(prev); gap > hb+tol {
				t.Errorf("%s of silence (heartbeat_ms %d, tolerance %s)", gap.Round(time.Millisecond), s.HeartbeatMS, tol)
			}
			if i > 0 && f.heartbeat() {
				hbs++
			}
			prev = f.at
		}
		if time.Since(prev) > hb+tol {
			t.Errorf("%s of silence at the end (heartbeat_ms %d)", time.Since(prev).Round(time.Millisecond), s.HeartbeatMS)
		}
		if hbs == 0 {
			t.Errorf("no heartbeat in %s with heartbeat_ms %d", window, s.HeartbeatMS)
		}
		t.wantClean(st)
	}
}

// checkEnd opens tr, then a second downstream: the first must end cleanly
// with the transport's end marker and the chunked terminator.
func checkEnd(tr string) func(*T) {
	return func(t *T) {
		s := t.session()
		a := t.open(s, tr, 0, streamOpt{})
		t.readType(a, "chat.history")
		b := t.open(s, tr, a.seen, streamOpt{})
		for {
			f, err := a.next()
			if err != nil {
				t.Fatalf("the replaced stream ended without its end marker: %v (problems %v)", err, a.problems())
			}
			if f.end {
				if f.why != "replaced" {
					t.Errorf("end frame reason %q, want replaced", f.why)
				}
				break
			}
		}
		t.fence(s, b)
		t.wantClean(a, b)
	}
}

// checkPoll: poll answers at once; longpoll holds until an event or wait.
func checkPoll(t *T) {
	s := t.session()
	st := t.open(s, "poll", 0, streamOpt{})
	t.readType(st, "chat.history")
	lp := t.open(s, "longpoll", st.seen, streamOpt{wait: 1})
	start := time.Now()
	f, err := lp.next()
	if err != nil {
		t.Fatalf("%v", err)
	}
	for len(f.batch) > 0 && time.Since(start) < 3*time.Second { // presence may still come
		start = time.Now()
		if f, err = lp.next(); err != nil {
			t.Fatalf("%v", err)
		}
	}
	if d := time.Since(start); len(f.batch) != 0 || d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("wait=1 with nothing new: %.60q after %s, want [] after about 1 s", f.raw, d)
	}
	lp.wait = 10
	done := make(chan frame, 1)
	go func() {
		f, _ := lp.next()
		done <- f
	}()
	start = time.Now()
	t.say(s, "sys.ping", map[string]float64{"t": 7})
	select {
	case f = <-done:
	case <-t.ctx.Done():
		t.Fatalf("deadline")
	}
	// Other sessions' presence may answer first; the pong must follow at once.
	for len(ofType(f.batch, "sys.pong")) == 0 && time.Since(start) < 5*time.Second {
		if f, err = lp.next(); err != nil {
			t.Fatalf("%v", err)
		}
	}
	if d := time.Since(start); d > 5*time.Second || len(ofType(f.batch, "sys.pong")) != 1 {
		t.Errorf("wait=10 with a pong due: %.80q after %s, want the pong at once", f.raw, d)
	}
	// A newer downstream answers a held long-poll at once.
	lp.wait = 20
	go func() {
		f, err := lp.next()
		if err != nil {
			f.raw = []byte(err.Error())
		}
		done <- f
	}()
	start = time.Now()
	sse := t.open(s, "sse", lp.seen, streamOpt{})
	select {
	case f = <-done:
	case <-t.ctx.Done():
		t.Fatalf("deadline: a long-poll replaced by a newer downstream was not answered")
	}
	if d := time.Since(start); d > 5*time.Second || f.batch == nil {
		t.Errorf("a long-poll (wait=20) replaced by an SSE stream: %.80q after %s, want an answer at once", f.raw, d)
	}
	sse.Close()
	// An acknowledged event is never sent again: last=N answers seq > N only.
	again := t.open(s, "poll", lp.seen, streamOpt{})
	t.fence(s, again)
	t.wantClean(st, lp, again)
}

// checkLastEventID: SSE's Last-Event-ID is taken as last and wins over the query.
func checkLastEventID(t *T) {
	s := t.session()
	st := t.open(s, "sse", 0, streamOpt{})
	t.readType(st, "chat.history")
	t.fence(s, st)
	n := st.seen // the pong's seq
	st.Close()
	st2 := t.open(s, "sse", 0, streamOpt{hdr: http.Header{"Last-Event-Id": {strconv.FormatInt(n-1, 10)}}})
	st2.seen = n - 1
	for {
		f, err := st2.next()
		if err != nil {
			t.Fatalf("%v", err)
		}
		if len(f.batch) > 0 {
			if f.batch[0].Seq != n {
				t.Errorf("with ?last=0 and Last-Event-ID: %d the first event is seq %d (%s), want %d", n-1, f.batch[0].Seq, f.batch[0].Type, n)
			}
			break
		}
	}
	t.wantClean(st, st2)
}
