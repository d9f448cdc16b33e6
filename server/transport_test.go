package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"comet"
	"comet/internal/check"
)

var streamTransports = []string{"multipart", "sse", "iframe"}

func TestStreamHeadersPreludeAndPong(t *testing.T) {
	ts := startServer(t, nil)
	wantType := map[string]string{
		"multipart": "multipart/x-mixed-replace; boundary=",
		"sse":       "text/event-stream",
		"iframe":    "text/html; charset=utf-8",
	}
	for _, tr := range streamTransports {
		t.Run(tr, func(t *testing.T) {
			c := newClient(t, ts.URL)
			st := c.open(tr, 0)
			defer st.close()
			h := st.resp.Header
			for k, v := range map[string]string{"Cache-Control": "no-store", "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"} {
				if h.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, h.Get(k), v)
				}
			}
			if !strings.HasPrefix(h.Get("Content-Type"), wantType[tr]) {
				t.Errorf("Content-Type = %q", h.Get("Content-Type"))
			}
			if h.Get("Content-Encoding") != "" {
				t.Errorf("stream is compressed: %q", h.Get("Content-Encoding"))
			}
			if tr == "iframe" && !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'nonce-") {
				t.Errorf("iframe CSP = %q, want a nonce script-src", h.Get("Content-Security-Policy"))
			}
			c.send("sys.ping", map[string]any{"t": 42.5})
			ev := st.waitType(t, "sys.pong", 5*time.Second)
			if string(ev.Data) != `{"t":42.5}` {
				t.Fatalf("pong data = %s", ev.Data)
			}
			if st.prelude < 1024 {
				t.Fatalf("prelude %d bytes, want at least 1024", st.prelude)
			}
		})
	}
}

func TestHeartbeatOnSilentStream(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Hub.Heartbeat = 150 * time.Millisecond })
	for _, tr := range streamTransports {
		t.Run(tr, func(t *testing.T) {
			c := newClient(t, ts.URL)
			st := c.open(tr, 0)
			defer st.close()
			beats := 0
			deadline := time.After(3 * time.Second)
			for beats < 2 {
				select {
				case b := <-st.batches:
					if len(b) == 0 {
						beats++
					}
				case <-deadline:
					t.Fatalf("%d heartbeats in 3s with a 150ms interval", beats)
				}
			}
		})
	}
}

// TestRecycleLosesNothing makes streams end after a small byte budget and
// checks that reconnecting with last gets every event once, in order.
func TestRecycleLosesNothing(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Hub.RecycleBytes = 2048 })
	for _, tr := range streamTransports {
		t.Run(tr, func(t *testing.T) {
			c := newClient(t, ts.URL)
			sess, _ := ts.Hub().Session(c.SID)
			const n = 300
			for i := 1; i <= n; i++ {
				sess.Send(comet.MustMessage("test.n", i))
			}
			got, last, recycles := 0, uint64(0), 0
			for got < n {
				st := c.open(tr, last)
				for {
					b, ok := check.Recv(t, st.batches, 10*time.Second, tr+" batch")
					if !ok {
						break
					}
					for _, ev := range b {
						if ev.Seq != last+1 {
							t.Fatalf("seq %d after %d", ev.Seq, last)
						}
						last = ev.Seq
						if ev.Type == "test.n" {
							got++
							if string(ev.Data) != fmt.Sprint(got) {
								t.Fatalf("event %d carries %s", got, ev.Data)
							}
						}
					}
					if got == n {
						break // all here; the last stream stays open under its budget
					}
				}
				if got == n {
					st.close()
					break
				}
				if err, _ := check.Recv(t, st.done, 10*time.Second, "the end of the "+tr+" stream"); err != nil {
					t.Fatalf("stream did not end cleanly: %v", err)
				}
				recycles++
				if recycles > 200 {
					t.Fatal("too many reconnects")
				}
			}
			if recycles < 3 {
				t.Fatalf("only %d streams for %d events with a 2 KiB budget: not recycled", recycles, n)
			}
		})
	}
}

func TestNewerDownstreamEndsOlder(t *testing.T) {
	ts := startServer(t, nil)
	c := newClient(t, ts.URL)
	old := c.open("multipart", 0)
	old.waitType(t, "lobby.rooms", 5*time.Second)
	newer := c.open("sse", 0)
	defer newer.close()
	select {
	case err := <-old.done:
		if err != nil {
			t.Fatalf("old stream ended uncleanly: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("old stream still open after a newer one attached")
	}
	c.send("sys.ping", map[string]any{"t": 1})
	newer.waitType(t, "sys.pong", 5*time.Second)
}

// TestHostilePayloadCannotEscape sends text that would end a script or open a
// comment and checks every transport's raw bytes keep it inside the JSON.
func TestHostilePayloadCannotEscape(t *testing.T) {
	ts := startServer(t, nil)
	hostile := "</script><script>alert(1)</script><!-- \u2028\u2029 & <img src=x onerror=alert(1)> --boundary\r\n--comet-"
	for _, tr := range append(streamTransports, "poll") {
		t.Run(tr, func(t *testing.T) {
			c := newClient(t, ts.URL)
			sess, _ := ts.Hub().Session(c.SID)
			sess.Send(comet.MustMessage("test.hostile", map[string]string{"text": hostile}))
			var raw string
			var got wireEvent
			if tr == "poll" {
				evs, body := pollOnce(t, c, 0, 0)
				raw = body
				for _, e := range evs {
					if e.Type == "test.hostile" {
						got = e
					}
				}
			} else {
				st := c.open(tr, 0)
				got = st.waitType(t, "test.hostile", 5*time.Second)
				st.close()
				st.rawMu.Lock()
				raw = st.raw.String()
				st.rawMu.Unlock()
			}
			var d struct{ Text string }
			if err := json.Unmarshal(got.Data, &d); err != nil || d.Text != hostile {
				t.Fatalf("round trip: %q, %v", d.Text, err)
			}
			for _, bad := range []string{"</script><script>", "<!-- \u2028", "<img", "\u2028", "\u2029"} {
				if strings.Contains(raw, bad) {
					t.Fatalf("raw %s body contains %q", tr, bad)
				}
			}
			if tr == "iframe" && strings.Count(raw, "</script>") != strings.Count(raw, "<script nonce=") {
				t.Fatal("iframe body has a </script> that is not one of the transport's own")
			}
		})
	}
}
