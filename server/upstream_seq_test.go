package server

import (
	"fmt"
	"testing"
)

// TestUpstreamSeqsOutOfOrder: an event whose seq is below the highest taken
// but was never sent runs (the seq 5 after 7); a real duplicate does
// not (fenced by a later ping); one below the window is refused on the stream.
func TestUpstreamSeqsOutOfOrder(t *testing.T) {
	ts := startServer(t, nil)
	a := newClient(t, ts.URL)
	st := a.open("sse", 0)
	defer st.close()
	post := func(seq int, t0 int) {
		t.Helper()
		body := fmt.Sprintf(`[{"seq":%d,"type":"sys.ping","data":{"t":%d}}]`, seq, t0)
		if code, msg := a.post("/send", []byte(body)); code != 204 {
			t.Fatalf("send seq %d: %d %s", seq, code, msg)
		}
	}
	pong := func() wireEvent {
		t.Helper()
		for {
			ev := st.next(t, eventWait)
			if ev.Type == "sys.pong" || ev.Type == "sys.error" {
				return ev
			}
		}
	}
	post(7, 7)
	post(5, 5)
	post(5, 55) // a duplicate: ignored
	post(7, 77) // a duplicate: ignored
	post(8, 8)  // the fence
	for _, want := range []string{`{"t":7}`, `{"t":5}`, `{"t":8}`} {
		if ev := pong(); ev.Type != "sys.pong" || string(ev.Data) != want {
			t.Fatalf("got %s %s, want sys.pong %s", ev.Type, ev.Data, want)
		}
	}
	post(100, 100)
	post(2, 2) // 98 below the highest: refused, not dropped
	if ev := pong(); string(ev.Data) != `{"t":100}` {
		t.Fatalf("got %s %s, want sys.pong {\"t\":100}", ev.Type, ev.Data)
	}
	ev := pong()
	want := `{"code":"invalid","message":"seq 2 is more than 64 below the highest seq taken: it may have run; send one POST at a time","ref":2}`
	if ev.Type != "sys.error" || string(ev.Data) != want {
		t.Fatalf("got %s %s, want sys.error %s", ev.Type, ev.Data, want)
	}
}
