package conform

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// pinger sends batches of sys.ping with distinct t and counts their pongs.
type pinger struct {
	mu   sync.Mutex
	next float64
	sent map[float64]int // t → pongs received
}

func newPinger() *pinger { return &pinger{next: 1000000.25, sent: map[float64]int{}} }

// batch returns n pings for s.
func (p *pinger) batch(s *session, n int) []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	evs := make([]Event, n)
	for i := range evs {
		p.next++
		p.sent[p.next] = 0
		evs[i] = s.ev("sys.ping", map[string]float64{"t": p.next})
	}
	return evs
}

// saw counts the pongs in evs.
func (p *pinger) saw(evs []Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range evs {
		if e.Type == "sys.pong" {
			if _, ok := p.sent[pongT(e)]; ok {
				p.sent[pongT(e)]++
			}
		}
	}
}

// missing is how many pings have no pong yet.
func (p *pinger) missing() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.sent {
		if c == 0 {
			n++
		}
	}
	return n
}

// verdict counts pings answered never and more than once.
func (p *pinger) verdict() (lost, dup int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.sent {
		if c == 0 {
			lost++
		}
		if c > 1 {
			dup += c - 1
		}
	}
	return lost, dup
}

// drain opens tr at last and reads until every ping has its pong.
func (t *T) drain(s *session, tr string, last int64, p *pinger) *stream {
	st := t.open(s, tr, last, streamOpt{})
	for p.missing() > 0 {
		f, err := st.next()
		p.saw(f.batch)
		if err != nil || f.end {
			if t.ctx.Err() != nil {
				t.Fatalf("deadline with %d pongs missing", p.missing())
			}
			st.Close()
			st = t.open(s, tr, st.seen, streamOpt{})
		}
	}
	return st
}

// checkResumeCuts cuts tr at random byte offsets while pongs flow, resumes
// each time with the last seq read, and requires every pong exactly once.
func checkResumeCuts(tr string) func(*T) {
	return func(t *T) {
		s := t.session()
		p := newPinger()
		var last int64
		var cuts []int64
		var lastStream *stream
		for round := 0; round < 8; round++ {
			span := int64(4000)
			if tr == "multipart" || tr == "sse" {
				span += 2100 // the prelude
			} else if tr == "iframe" {
				span += 1150
			} else if tr == "ws" {
				span += 250 // the 101 head
			}
			cut := 1 + t.rnd.Int64N(span)
			st := t.open(s, tr, last, streamOpt{cut: cut})
			cuts = append(cuts, cut)
			t.send(s, p.batch(s, 5+t.rnd.IntN(40))...)
			for p.missing() > 0 {
				f, err := st.next()
				p.saw(f.batch)
				if err != nil || f.end {
					break
				}
			}
			st.Close()
			t.wantClean(st)
			last = st.seen
			lastStream = st
		}
		_ = lastStream
		st := t.drain(s, tr, last, p)
		t.fence(s, st)
		t.wantClean(st)
		lost, dup := p.verdict()
		if lost != 0 || dup != 0 {
			t.Errorf("after cuts at bytes %v: %d pongs lost, %d duplicated of %d", cuts, lost, dup, len(p.sent))
		}
	}
}

// checkRecycle drives 256 KiB of events down tr: the server must end the
// response cleanly at a batch boundary, and the resumed stream lose nothing.
func checkRecycle(tr string) func(*T) {
	return func(t *T) {
		s := t.session()
		p := newPinger()
		st := t.open(s, tr, 0, streamOpt{})
		stop := make(chan struct{})
		progress := make(chan struct{}, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent := int64(0); sent < 3*s.limit("recycle_bytes", 256<<10)/40; sent += 64 {
				select {
				case <-stop:
					return
				case <-t.ctx.Done():
					return
				default:
				}
				// At most 512 pongs outstanding: the replay buffer (1,024) never overflows.
				for p.missing() > 512 {
					select {
					case <-stop:
						return
					case <-progress:
					}
				}
				b, _ := json.Marshal(p.batch(s, 64))
				if code, _, err := s.post(t.ctx, b); err != nil || code != 204 {
					t.Errorf("POST send: %d %v", code, err)
					return
				}
			}
		}()
		var eventBytes int
		ended := false
		for !ended {
			f, err := st.next()
			p.saw(f.batch)
			select {
			case progress <- struct{}{}:
			default:
			}
			eventBytes += len(f.raw)
			if err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("the stream broke after %d bytes of events instead of ending cleanly: %v", eventBytes, err)
			}
			ended = f.end
			if ended && f.why != "recycle" {
				t.Errorf("end frame reason %q, want recycle", f.why)
			}
		}
		close(stop)
		wg.Wait()
		body, limit := st.cnt.n, s.limit("recycle_bytes", 256<<10)
		if body < limit || body > limit+limit/4+16<<10 {
			t.Errorf("recycled after %d bytes (%d of batches), want just past recycle_bytes %d", body, eventBytes, limit)
		}
		st2 := t.drain(s, tr, st.seen, p)
		t.fence(s, st2)
		t.wantClean(st, st2)
		if lost, dup := p.verdict(); lost != 0 || dup != 0 {
			t.Errorf("across the recycle: %d pongs lost, %d duplicated of %d", lost, dup, len(p.sent))
		}
	}
}

// checkReset overflows the replay buffer (1,024 events) of a session with
// no downstream, then resumes at last=0: sys.reset, then fresh state.
func checkReset(tr string) func(*T) {
	return func(t *T) {
		s := t.session()
		p := newPinger()
		keep := s.limit("replay_events", 1024)
		n := int64(0)
		for ; n <= keep+64; n += 64 {
			t.send(s, p.batch(s, 64)...)
		}
		st := t.open(s, tr, 0, streamOpt{})
		var first *Event
		var got []Event
		for first == nil || len(ofType(got, "chat.history")) == 0 {
			f, err := st.next()
			if err != nil || f.end {
				t.Fatalf("the stream ended before sys.reset and chat.history: %v (read %s)", err, types(got))
			}
			for _, e := range f.batch {
				if first == nil {
					e := e
					first = &e
				}
				got = append(got, e)
			}
		}
		if first.Type != "sys.reset" {
			t.Fatalf("first event after %d pongs with replay_events %d: seq %d %s, want sys.reset", n, keep, first.Seq, first.Type)
		}
		if string(first.Data) != "{}" {
			t.Errorf("sys.reset data %s, want {}", first.Data)
		}
		if first.Seq <= n {
			t.Errorf("sys.reset has seq %d, want a seq of its own after the %d pongs", first.Seq, n)
		}
		// The fresh state's order; live changes (a lobby.rooms change, a newer
		// presence) may come between, so only the full list counts.
		var order []string
		for _, e := range got[1:] {
			var lr struct {
				Full bool `json:"full"`
			}
			switch e.Type {
			case "lobby.rooms":
				if json.Unmarshal(e.Data, &lr) == nil && lr.Full && !slices.Contains(order, e.Type) {
					order = append(order, e.Type)
				}
			case "lobby.presence", "chat.history":
				if !slices.Contains(order, e.Type) {
					order = append(order, e.Type)
				}
			case "sys.pong":
				t.Errorf("a pong (seq %d) from before the reset came after it", e.Seq)
			}
		}
		if fmt.Sprint(order) != "[lobby.rooms lobby.presence chat.history]" {
			t.Errorf("after sys.reset: %s, want lobby.rooms (full), lobby.presence, chat.history", types(got))
		}
		// Resuming from what was read repeats nothing.
		st.Close()
		st2 := t.open(s, tr, st.seen, streamOpt{})
		t.fence(s, st2)
		st2.Close()
		// A last beyond every seq numbered gets a reset numbered above it.
		beyond := st2.seen + 1000
		st3 := t.open(s, tr, beyond, streamOpt{})
		st3.seen = 0 // the reset may jump anywhere above last
		e := t.readUntil(st3, "the reset", func(e Event) bool { return e.Type != "" })[0]
		if e.Type != "sys.reset" || e.Seq <= beyond {
			t.Errorf("last=%d beyond the newest seq %d: first event seq %d %s, want sys.reset numbered above %d", beyond, st2.seen, e.Seq, e.Type, beyond)
		}
		t.wantClean(st, st2, st3)
	}
}
