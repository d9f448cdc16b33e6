package conform

import (
	"encoding/json"
	"fmt"
	"strings"
)

// readUntil reads st until fn holds for an event, and returns every event
// read (the matching one last). It fails the check on the stream's end or
// the deadline.
func (t *T) readUntil(st *stream, what string, fn func(Event) bool) []Event {
	var got []Event
	for {
		batch := st.rest
		st.rest = nil
		var f frame
		var err error
		if batch == nil {
			f, err = st.next()
			batch = f.batch
		}
		for i, e := range batch {
			got = append(got, e)
			if fn(e) {
				if i+1 < len(batch) {
					st.rest = batch[i+1:] // the batch's later events are read next
				}
				return got
			}
		}
		if f.end && err == nil && t.ctx.Err() == nil {
			// A clean end (recycling): reconnect with last, as a client does.
			if err = st.reopen(); err == nil {
				continue
			}
		}
		if err != nil || f.end {
			if t.ctx.Err() != nil {
				err = fmt.Errorf("deadline")
			} else if f.end {
				err = fmt.Errorf("the stream ended")
			}
			t.Fatalf("waiting for %s on %s: %v (read %s)", what, st.tr, err, types(got))
		}
	}
}

// readType reads until an event of type typ and returns it.
func (t *T) readType(st *stream, typ string) Event {
	evs := t.readUntil(st, typ, func(e Event) bool { return e.Type == typ })
	return evs[len(evs)-1]
}

// fence sends sys.ping with a fresh t and reads until its pong: everything
// the server sent before the pong is returned (the proof of a negative).
func (t *T) fence(s *session, st *stream) []Event {
	mark := float64(t.rnd.IntN(1<<30)) + 0.5
	t.say(s, "sys.ping", map[string]float64{"t": mark})
	evs := t.readUntil(st, "the fence's sys.pong", func(e Event) bool { return e.Type == "sys.pong" && pongT(e) == mark })
	return evs[:len(evs)-1]
}

// readError reads until the sys.error whose ref is seq.
func (t *T) readError(st *stream, seq int64) sysError {
	var se sysError
	t.readUntil(st, fmt.Sprintf("sys.error ref %d", seq), func(e Event) bool {
		if e.Type != "sys.error" {
			return false
		}
		var x sysError
		if json.Unmarshal(e.Data, &x) == nil && x.Ref == seq {
			se = x
			return true
		}
		return false
	})
	return se
}

// wantError sends one event and checks the sys.error it earns: the code,
// and that the message starts with the documented one when msg is not ""
// (messages are for people; a server may add detail after the text).
func (t *T) wantError(s *session, st *stream, typ string, data any, code, msg string) {
	seq := t.say(s, typ, data)
	se := t.readError(st, seq)
	if se.Code != code || se.Message == "" || !strings.HasPrefix(se.Message, msg) {
		b, _ := json.Marshal(data)
		t.Errorf("%s %s: sys.error {%q, %q}, want {%q, %q}", typ, b, se.Code, se.Message, code, msg)
	}
}

// wantNoError proves with a fence that seq earned no sys.error.
func (t *T) wantNoError(s *session, st *stream, seq int64, what string) []Event {
	evs := t.fence(s, st)
	for _, e := range evs {
		var x sysError
		if e.Type == "sys.error" && json.Unmarshal(e.Data, &x) == nil && x.Ref == seq {
			t.Errorf("%s: sys.error %s", what, e.Data)
		}
	}
	return evs
}

// wantClean fails the check with the stream's framing problems.
func (t *T) wantClean(sts ...*stream) {
	for _, st := range sts {
		for _, p := range st.problems() {
			t.Errorf("%s", p)
		}
	}
}

func pongT(e Event) float64 {
	var d struct {
		T float64 `json:"t"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.T
}

// types lists event types for a message.
func types(evs []Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i == 12 {
			fmt.Fprintf(&b, " …(%d)", len(evs))
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%s", e.Seq, e.Type)
	}
	return "[" + b.String() + "]"
}

func ofType(evs []Event, typ string) []Event {
	var out []Event
	for _, e := range evs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}
