package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"comet/internal/check"
)

// TestMaskedFrameMatchesProtocol checks the client's framing against the
// byte-for-byte example of docs/PROTOCOL.md.
func TestMaskedFrameMatchesProtocol(t *testing.T) {
	got := appendMaskedFrame(nil, wsOpText, []byte(`[{"seq":1,"type":"sys.ping","data":{"t":1234.5}}]`), 0x37fa213d)
	want, err := hex.DecodeString(strings.Join(strings.Fields(`
81 b1 37 fa 21 3d 6c 81 03 4e 52 8b 03 07 06 d6 03 49 4e 8a 44 1f 0d d8
52 44 44 d4 51 54 59 9d 03 11 15 9e 40 49 56 d8 1b 46 15 8e 03 07 06 c8
12 09 19 cf 5c 40 6a`), ""))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n% x\nwant\n% x", got, want)
	}
	if h := appendMaskedFrame(nil, wsOpText, make([]byte, 300), 1); h[1] != 0x80|126 || binary.BigEndian.Uint16(h[2:]) != 300 {
		t.Fatalf("300-byte header % x", h[:4])
	}
	if h := appendMaskedFrame(nil, wsOpText, make([]byte, 70000), 1); h[1] != 0x80|127 || binary.BigEndian.Uint64(h[2:]) != 70000 {
		t.Fatalf("70000-byte header % x", h[:10])
	}
}

// wsPairT connects a wsClient to a plain TCP socket the test writes server
// frames to.
func wsPairT(t *testing.T) (*wsClient, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close(); _ = sc.Close() })
	_ = cc.SetDeadline(time.Now().Add(10 * time.Second))
	_ = sc.SetDeadline(time.Now().Add(10 * time.Second))
	return &wsClient{nc: cc, br: bufio.NewReaderSize(cc, 4096)}, sc
}

// readClientFrame reads one masked client frame and unmasks it.
func readClientFrame(t *testing.T, r io.Reader) (op byte, payload []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	if h[0]&0x80 == 0 || h[1]&0x80 == 0 || h[1]&0x7F > 125 {
		t.Fatalf("client frame header % x: want final, masked, short", h)
	}
	var k [4]byte
	payload = make([]byte, h[1]&0x7F)
	if _, err := io.ReadFull(r, k[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatal(err)
	}
	for i := range payload {
		payload[i] ^= k[i&3]
	}
	return h[0] & 0x0F, payload
}

// TestWSClientFrames feeds the client a fragmented message with a ping
// between its fragments, a 16-bit length, and a close, and checks what it
// returns and answers.
func TestWSClientFrames(t *testing.T) {
	c, srv := wsPairT(t)
	big := "[" + strings.Repeat(" ", 200) + "]"
	frames := []byte{0x01, 2, '[', '{'}                 // text, not final
	frames = append(frames, 0x89, 2, 'h', 'i')          // ping between fragments
	frames = append(frames, 0x80, 2, '}', ']')          // final continuation
	frames = append(frames, 0x81, 126, 0, 202)          // 16-bit length
	frames = append(frames, big...)                     //
	frames = append(frames, 0x88, 4, 3, 0xe8, 'o', 'k') // close 1000 "ok"
	if _, err := srv.Write(frames); err != nil {
		t.Fatal(err)
	}
	if m, err := c.next(); err != nil || string(m) != "[{}]" {
		t.Fatalf("first message %q, %v", m, err)
	}
	if op, p := readClientFrame(t, srv); op != wsOpPong || string(p) != "hi" {
		t.Fatalf("answer to ping: op %#x %q", op, p)
	}
	if m, err := c.next(); err != nil || string(m) != big {
		t.Fatalf("second message %d bytes, %v", len(m), err)
	}
	_, err := c.next()
	var ce *wsCloseError
	if !errors.As(err, &ce) || ce.Code != 1000 || ce.Reason != "ok" {
		t.Fatalf("close: %v", err)
	}
	if op, p := readClientFrame(t, srv); op != wsOpClose || !bytes.Equal(p, []byte{3, 0xe8}) {
		t.Fatalf("close answer: op %#x % x", op, p)
	}
}

// TestWSClientAcks: events processed are acknowledged with {"last":N}, one
// message for several events, and a seq already acknowledged is not sent
// again (the next frame the server reads is the next ack).
func TestWSClientAcks(t *testing.T) {
	c, srv := wsPairT(t)
	c.processed(3)
	c.processed(5)
	if op, p := readClientFrame(t, srv); op != wsOpText || string(p) != `{"last":5}` {
		t.Fatalf("first ack: op %#x %q", op, p)
	}
	c.processed(5)
	c.processed(4)
	c.processed(6)
	if op, p := readClientFrame(t, srv); op != wsOpText || string(p) != `{"last":6}` {
		t.Fatalf("second ack: op %#x %q, want {\"last\":6} and nothing before it", op, p)
	}
}

// TestWSClientRefusesBadFrames checks that what a server must not send ends
// the read with an error.
func TestWSClientRefusesBadFrames(t *testing.T) {
	for name, frame := range map[string][]byte{
		"masked":            {0x81, 0x82, 1, 2, 3, 4, 'a', 'b'},
		"binary":            {0x82, 1, 'x'},
		"rsv":               {0xC1, 1, 'x'},
		"lone continuation": {0x80, 1, 'x'},
		"big ping":          {0x89, 126, 0, 200},
		"fragmented ping":   {0x09, 0},
	} {
		t.Run(name, func(t *testing.T) {
			c, srv := wsPairT(t)
			if _, err := srv.Write(frame); err != nil {
				t.Fatal(err)
			}
			var ce *wsCloseError
			if _, err := c.next(); err == nil || errors.As(err, &ce) || errors.Is(err, io.EOF) {
				t.Fatalf("% x: err %v, want a protocol error", frame, err)
			}
		})
	}
}

// TestWSResumesAfterCut cuts a WebSocket under a held stream and checks that
// it comes back with ?last= and every line arrives exactly once (a resume
// from 0 would repeat the line delivered before the cut).
func TestWSResumesAfterCut(t *testing.T) {
	tg := startCometT(t)
	ctx := context.Background()
	a, err := newAgent(agentConfig{Base: tg.Base, Token: playerT(t, tg)}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer a.closeAll(ctx)
	s, err := a.startStream("ws", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := newCometPublishers(ctx, tg.Base, 2, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()
	a.stats(true)
	tagged := func(n int64) {
		t.Helper()
		check.For(t, 10*time.Second, func() error {
			if st := a.stats(false); st.Tagged < n {
				return fmt.Errorf("%d of %d lines received", st.Tagged, n)
			}
			return nil
		})
	}
	if err := pub.publish(ctx, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	tagged(1)
	s.wsMu.Lock()
	c := s.ws
	s.wsMu.Unlock()
	if c == nil {
		t.Fatal("no socket attached")
	}
	_ = c.nc.Close() // the cut
	if err := pub.publish(ctx, 1, time.Now()); err != nil {
		t.Fatal(err)
	}
	tagged(2)
	check.For(t, 10*time.Second, func() error {
		if st := a.stats(false); st.Held != 1 || st.Reconnects < 1 {
			return fmt.Errorf("held %d, reconnects %d after the cut", st.Held, st.Reconnects)
		}
		return nil
	})
	st := a.stats(false)
	if st.Tagged != 2 || st.TagDups != 0 || st.SeqDups != 0 || st.SeqGaps != 0 || st.BadBatches != 0 || st.Lost != 0 {
		t.Fatalf("after a cut and resume: %+v", st)
	}
}

// TestGameInputsUpTheSocket runs bots on ws: every input goes up the socket
// (none by POST) and shows in the bot's view.
func TestGameInputsUpTheSocket(t *testing.T) {
	ctx := context.Background()
	tg := startCometT(t)
	f := fleetT(t, tg, 1, "")
	r, err := runGame(ctx, tg, f, gameParams{Rooms: 1, Players: 3, Duration: 1500 * time.Millisecond, InputHz: 4, Transports: []string{"ws"}, TickHz: 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.Running != 3 || r.Inputs < 6 || r.InputsWS != r.Inputs || r.InputErrs != 0 || r.Observed == 0 || r.PostLat.N != 0 {
		t.Fatalf("inputs %d (ws %d) observed %d errs %d posts %d: %v", r.Inputs, r.InputsWS, r.Observed, r.InputErrs, r.PostLat.N, r.Errs)
	}
	rows := gameRows(r)
	if !strings.Contains(rows[0].Scenario, "inputs up the WebSocket") || !strings.Contains(rows[5].Value, "none") {
		t.Fatalf("rows: %+v", rows)
	}
}

// TestWSBaselines holds WebSockets on the naive server (gorilla/websocket)
// and the raw writer: both answer the handshake, beat or stay quiet, and
// deliver a publish to every socket once.
func TestWSBaselines(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []string{"naive-server", "raw-writer"} {
		t.Run(mode, func(t *testing.T) {
			tg := startHelperT(t, mode, 300*time.Millisecond)
			tok := ""
			if mode == "naive-server" {
				tok = playerT(t, tg)
			}
			f := fleetT(t, tg, 1, tok)
			st, err := f.open(ctx, 4, 100, []string{"ws"})
			if err != nil || st.Opened != 4 || st.OpenFailed != 0 {
				t.Fatalf("opened %d failed %d: %v %v", st.Opened, st.OpenFailed, err, st.Errs)
			}
			if mode == "naive-server" {
				check.For(t, 5*time.Second, func() error {
					if s, _ := f.stats(ctx, false); s.Heartbeats < 8 {
						return fmt.Errorf("%d heartbeats", s.Heartbeats)
					}
					return nil
				})
			}
			pub := newRawPublisher(tg.Base)
			defer pub.close()
			r, err := runThroughput(ctx, tg, f, pub, throughputParams{MsgRate: 5, Duration: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if r.Held != 4 || r.Got != 20 || r.Dups != 0 || r.SeqGaps != 0 || r.SeqDups != 0 || r.PubErrs != 0 {
				t.Fatalf("5 lines to 4 sockets: %+v", r)
			}
		})
	}
}
