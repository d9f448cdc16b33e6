package push

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"comet"
)

// The framing examples of docs/PROTOCOL.md are checked here, byte for byte:
// each ```text framing <transport> block must be that transport's golden
// file, and the ```text chunked sse block must be what a held stream really
// writes on a socket, chunk headers included.

// docBlocks returns the fenced blocks of docs/PROTOCOL.md whose info string
// is info, in order.
func docBlocks(t *testing.T, info string) []string {
	t.Helper()
	b, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur *strings.Builder
	indent := ""
	for _, line := range strings.SplitAfter(string(b), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case cur == nil && strings.TrimRight(trimmed, "\n") == "```"+info:
			cur, indent = &strings.Builder{}, line[:len(line)-len(trimmed)]
		case cur != nil && strings.TrimRight(trimmed, "\n") == "```":
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(strings.TrimPrefix(line, indent))
		}
	}
	return out
}

var foldedSpaces = regexp.MustCompile(`<(\d+) spaces>`)

// unfold writes out the doc's "<N spaces>" and "␍" (a CR before the line's LF).
func unfold(s string) []byte {
	s = foldedSpaces.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.Atoi(foldedSpaces.FindStringSubmatch(m)[1])
		return strings.Repeat(" ", n)
	})
	return []byte(strings.ReplaceAll(s, "␍\n", "\r\n"))
}

func TestProtocolDocFramingIsGolden(t *testing.T) {
	docIsGolden(t, "text framing ", "framing_")
}

// TestProtocolDocChunkedExample: a new session with two events, a held SSE
// stream over real TCP, then the session removed (a kick): the bytes after
// the response head are the doc's chunked example exactly.
func TestProtocolDocChunkedExample(t *testing.T) {
	h := newTestHub(t, Config{})
	s := h.NewSession("u", nil)
	s.Send(comet.MustMessage("sys.pong", map[string]float64{"t": 1.5}))
	s.Send(comet.MustMessage("chat.msg", map[string]string{"text": "hi"}))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Hold(Hold{Conn: srv, Session: s, Transport: sse{}, Chunked: true}); err != nil {
		t.Fatal(err)
	}
	_ = cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(cli)
	for { // the response head
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	var body bytes.Buffer
	chunk := func() string {
		t.Helper()
		size, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("chunk size: %v", err)
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(size, "\r\n"), 16, 64)
		if err != nil {
			t.Fatalf("chunk size %q", size)
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			t.Fatal(err)
		}
		body.WriteString(size)
		body.Write(data)
		return string(data[:n])
	}
	chunk() // prelude and the first heartbeat
	if got := chunk(); !strings.HasPrefix(got, "id: 2\n") {
		t.Fatalf("second chunk %q, want the batch of seqs 1 and 2", got)
	}
	h.Remove(context.Background(), s)
	if got := chunk(); got != "data: {\"end\":\"ended\"}\n\n" {
		t.Fatalf("third chunk %q, want the end frame", got)
	}
	if got := chunk(); got != "" {
		t.Fatalf("after the end frame %q, want the last chunk", got)
	}
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Fatalf("bytes after the last chunk: %q", rest)
	}
	blocks := docBlocks(t, "text chunked sse")
	if len(blocks) != 1 {
		t.Fatalf("PROTOCOL.md has %d ```text chunked sse blocks, want 1; the real bytes are:\n%s", len(blocks),
			strings.ReplaceAll(regexp.MustCompile(` {64,}`).ReplaceAllStringFunc(body.String(), func(p string) string {
				return fmt.Sprintf("<%d spaces>", len(p))
			}), "\r\n", "␍\n"))
	}
	if doc := unfold(blocks[0]); !bytes.Equal(doc, body.Bytes()) {
		t.Errorf("PROTOCOL.md's chunked SSE example differs from the wire:\n doc: %q\nwire: %q", doc, body.Bytes())
	}
}
