package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"comet/internal/check"
	"comet/server"
)

// TestStreamsOnEveryTransport opens streams of every transport against the
// real server and checks they attach, get heartbeats and a broadcast line
// exactly once, in seq order.
func TestStreamsOnEveryTransport(t *testing.T) {
	tg := startCometT(t)
	for _, tr := range []string{"multipart", "sse", "iframe", "ws", "longpoll"} {
		t.Run(tr, func(t *testing.T) {
			f := fleetT(t, tg, 1, playerT(t, tg))
			ctx := context.Background()
			st, err := f.open(ctx, 3, 100, []string{tr})
			if err != nil {
				t.Fatal(err)
			}
			if st.Opened != 3 || st.OpenFailed != 0 {
				t.Fatalf("opened %d, failed %d: %v", st.Opened, st.OpenFailed, st.Errs)
			}
			if tr != "longpoll" {
				check.For(t, 5*time.Second, func() error {
					if s, err := f.stats(ctx, false); err != nil || s.Heartbeats < 3 {
						return fmt.Errorf("heartbeats: %d of 3 (%v)", s.Heartbeats, err)
					}
					return nil
				})
			}
			pub, err := newCometPublishers(ctx, tg.Base, 1, quietLog())
			if err != nil {
				t.Fatal(err)
			}
			defer pub.close()
			if _, err := f.stats(ctx, true); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			if err := pub.publish(ctx, 7, sent); err != nil {
				t.Fatal(err)
			}
			s, err := waitTagged(ctx, f, 3, 3*time.Second, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if s.Tagged != 3 || s.TagDups != 0 || s.SeqGaps != 0 || s.SeqDups != 0 || s.BadBatches != 0 {
				t.Fatalf("stats after one line to 3 streams: %+v", s)
			}
			if len(s.PerTag) != 8 || s.PerTag[7] != 3 {
				t.Fatalf("per tag = %v, want 3 receipts of tag 7", s.PerTag)
			}
			if s.Lat.N != 3 || s.Lat.Max() > time.Since(sent) {
				t.Fatalf("latency %d samples, max %v (%v since the send)", s.Lat.N, s.Lat.Max(), time.Since(sent))
			}
		})
	}
}

// TestRecycledStreamsResume makes the server recycle streams after a few
// hundred bytes and checks that every line still arrives once.
func TestRecycledStreamsResume(t *testing.T) {
	tg := startCometT(t, func(c *server.Config) { c.Hub.RecycleBytes = 600 })
	f := fleetT(t, tg, 1, playerT(t, tg))
	ctx := context.Background()
	if _, err := f.open(ctx, 3, 100, []string{"multipart", "sse", "iframe"}); err != nil {
		t.Fatal(err)
	}
	pub, err := newCometPublishers(ctx, tg.Base, 4, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	if _, err := f.stats(ctx, true); err != nil {
		t.Fatal(err)
	}
	const lines = 8
	for k := 0; k < lines; k++ {
		if err := pub.publish(ctx, k, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	s, err := waitTagged(ctx, f, 3*lines, 3*time.Second, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.Tagged != 3*lines || s.TagDups != 0 || s.SeqGaps != 0 || s.SeqDups != 0 {
		t.Fatalf("after %d lines to 3 recycling streams: %+v", lines, s)
	}
	if s.Recycled == 0 {
		t.Fatalf("no stream was recycled with a 600-byte budget: %+v", s)
	}
	check.For(t, 5*time.Second, func() error {
		if s, _ = f.stats(ctx, false); s.Held != 3 {
			return fmt.Errorf("%d streams held after recycling, want 3 again", s.Held)
		}
		return nil
	})
	if s.Lost != 0 {
		t.Fatalf("%d streams lost while recycling", s.Lost)
	}
}

// TestSessionGoneIsLost checks that a stream whose session expired is given
// up (404), not retried forever.
func TestSessionGoneIsLost(t *testing.T) {
	tg := startCometT(t)
	a, err := newAgent(agentConfig{Base: tg.Base}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer a.closeAll(context.Background())
	s := &clientStream{a: a, sess: &session{SID: "s_nosuchsession", Token: playerT(t, tg)}, transport: "sse"}
	done := make(chan error, 1)
	go s.run(a.context(), func(err error) { done <- err })
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("attached to a session that does not exist")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still retrying a 404 after 10s")
	}
}

func TestParseTag(t *testing.T) {
	at := time.Unix(1764000000, 123456789)
	tests := []struct {
		data string
		k    int
		ok   bool
	}{
		{fmt.Sprintf(`{"id":1,"channel":"lobby","text":"%s","at":1}`, tagText(12, at)), 12, true},
		{`{"text":"cb 3 1764000000123456789"}`, 3, true},
		{`{"text":"hello"}`, 0, false},
		{`{"text":"cb x 1"}`, 0, false},
		{`{"text":"cb 1 -5"}`, 0, false},
		{`{"text":"cb 1`, 0, false},
		{`{"text":"cb 12"}`, 0, false},
	}
	for _, tt := range tests {
		k, sent, ok := parseTag([]byte(tt.data))
		if ok != tt.ok || k != tt.k {
			t.Errorf("parseTag(%s) = %d, %v; want %d, %v", tt.data, k, ok, tt.k, tt.ok)
		}
		if ok && tt.k == 12 && !sent.Equal(at) {
			t.Errorf("sent = %v, want %v", sent, at)
		}
	}
}

func FuzzParseTag(f *testing.F) {
	f.Add([]byte(`{"text":"cb 3 1764000000123456789"}`))
	f.Add([]byte(`"text":"cb `))
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, sent, ok := parseTag(b); ok && (k < 0 || sent.UnixNano() <= 0) {
			t.Fatalf("accepted k=%d sent=%v", k, sent)
		}
	})
}
