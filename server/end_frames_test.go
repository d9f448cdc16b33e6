package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"comet"
)

// TestEveryStreamSaysWhyItEnds: each held transport ends with an end frame
// naming the reason — recycle, replaced, ended (the session was removed),
// shutdown — and then its clean close.
func TestEveryStreamSaysWhyItEnds(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Hub.RecycleBytes = 4096 })
	endOf := func(t *testing.T, st *tstream) string {
		t.Helper()
		for range st.batches {
		}
		select {
		case err := <-st.done:
			if err != nil {
				t.Fatalf("stream did not end cleanly: %v", err)
			}
		case <-time.After(eventWait):
			t.Fatal("stream did not end")
		}
		return st.endWhy
	}
	for _, tr := range streamTransports {
		t.Run(tr, func(t *testing.T) {
			c := newClient(t, ts.URL)
			sess, _ := ts.Hub().Session(c.SID)

			st := c.open(tr, 0)
			for i := range 100 {
				sess.Send(comet.MustMessage("test.n", i))
			}
			if why := endOf(t, st); why != "recycle" {
				t.Fatalf("over its byte budget: end %q, want recycle", why)
			}

			old := c.open(tr, sess.Stats().Seq)
			c.send("sys.ping", map[string]int{"t": 1}) // a pong on it: attached
			old.waitType(t, "sys.pong", eventWait)
			_ = c.open(tr, sess.Stats().Seq)
			if why := endOf(t, old); why != "replaced" {
				t.Fatalf("replaced by a newer stream: end %q, want replaced", why)
			}

			st = c.open(tr, sess.Stats().Seq)
			c.send("sys.ping", map[string]int{"t": 1})
			st.waitType(t, "sys.pong", eventWait)
			ts.Hub().Remove(context.Background(), sess)
			if why := endOf(t, st); why != "ended" {
				t.Fatalf("session removed: end %q, want ended", why)
			}
		})
	}
}

// TestShutdownEndsStreamsWithShutdown: a server closing ends every held
// stream with the "shutdown" end frame, after sys.restart.
func TestShutdownEndsStreamsWithShutdown(t *testing.T) {
	ts := startServer(t, nil)
	var streams []*tstream
	for _, tr := range streamTransports {
		c := newClient(t, ts.URL)
		st := c.open(tr, 0)
		c.send("sys.ping", map[string]int{"t": 1})
		st.waitType(t, "sys.pong", eventWait)
		streams = append(streams, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { _ = ts.Shutdown(ctx) }()
	for i, st := range streams {
		st.waitType(t, "sys.restart", eventWait)
		for range st.batches {
		}
		if err := <-st.done; err != nil || st.endWhy != "shutdown" {
			t.Fatalf("%s: end %q (%v), want a clean shutdown end frame", streamTransports[i], st.endWhy, err)
		}
		if raw := st.raw.String(); !strings.Contains(raw, `{"end":"shutdown"}`) {
			t.Fatalf("%s: no end frame in %q", streamTransports[i], raw[max(0, len(raw)-200):])
		}
	}
}
