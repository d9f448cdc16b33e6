package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadRespHead(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    respHead
		wantErr bool
	}{
		{"stream", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
			respHead{Status: 200, ContentType: "text/event-stream; charset=utf-8", ContentLength: -1, Chunked: true, Close: true}, false},
		{"poll", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]", respHead{Status: 200, ContentLength: 2}, false},
		{"error", "HTTP/1.1 404 Not Found\r\nContent-Length: 31\r\n\r\n", respHead{Status: 404, ContentLength: 31}, false},
		{"LF only", "HTTP/1.0 200 OK\nX: y\n\n", respHead{Status: 200, ContentLength: -1}, false},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", respHead{}, true},
		{"bad status", "HTTP/1.1 abc OK\r\n\r\n", respHead{}, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n", respHead{}, true},
		{"no colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", respHead{}, true},
		{"cut short", "HTTP/1.1 200 OK\r\nContent-Type: x", respHead{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := readRespHead(bufio.NewReader(strings.NewReader(tt.in)))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && h != tt.want {
				t.Fatalf("head = %+v, want %+v", h, tt.want)
			}
		})
	}
}

// lines reads every line of body until the end and returns them with the
// error that ended them.
func lines(t *testing.T, h respHead, body string, bufSize int) ([]string, error) {
	t.Helper()
	lr := newLineReader(bufio.NewReaderSize(strings.NewReader(body), bufSize), h)
	var out []string
	for i := 0; i < 1000; i++ {
		l, err := lr.next()
		if err != nil {
			return out, err
		}
		out = append(out, string(l))
	}
	t.Fatal("more than 1000 lines")
	return nil, nil
}

func TestLineReader(t *testing.T) {
	chunked := respHead{Chunked: true, ContentLength: -1}
	tests := []struct {
		name    string
		h       respHead
		body    string
		want    []string
		wantEnd error
	}{
		{"one chunk per line", chunked, "4\r\nab\r\n\r\n3\r\ncd\n\r\n0\r\n\r\n", []string{"ab", "cd"}, errStreamEnd},
		{"line across chunks", chunked, "2\r\nab\r\n3\r\ncd\n\r\n0\r\n\r\n", []string{"abcd"}, errStreamEnd},
		{"two lines in a chunk", chunked, "6\r\na\nb\r\nc\r\n1\r\n\n\r\n0\r\n\r\n", []string{"a", "b", "c"}, errStreamEnd},
		{"chunk extension and trailer", chunked, "3;x=y\r\nab\n\r\n0\r\nX-T: 1\r\n\r\n", []string{"ab"}, errStreamEnd},
		{"unterminated last line", chunked, "2\r\nab\r\n0\r\n\r\n", []string{"ab"}, errStreamEnd},
		{"cut mid chunk", chunked, "8\r\nab\n", []string{"ab"}, io.ErrUnexpectedEOF},
		{"bad size", chunked, "zz\r\nab\r\n", nil, nil},
		{"data past size", chunked, "1\r\nab\r\n", nil, nil},
		{"content length", respHead{ContentLength: 5}, "[1]\nxtra", []string{"[1]", "x"}, io.EOF},
		{"until EOF", respHead{ContentLength: -1}, "a\nb", []string{"a", "b"}, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{16, 4096} { // tiny buffers split every line
				got, err := lines(t, tt.h, tt.body, size)
				if strings.Join(got, "|") != strings.Join(tt.want, "|") {
					t.Fatalf("buffer %d: lines = %q, want %q", size, got, tt.want)
				}
				if tt.wantEnd == nil {
					if err == nil || errors.Is(err, errStreamEnd) || errors.Is(err, io.EOF) {
						t.Fatalf("buffer %d: end = %v, want a decoding error", size, err)
					}
				} else if !errors.Is(err, tt.wantEnd) {
					t.Fatalf("buffer %d: end = %v, want %v", size, err, tt.wantEnd)
				}
			}
		})
	}
}

func TestLineReaderKeepAlive(t *testing.T) {
	// Two poll answers back to back on one connection: the reader of the
	// first must stop exactly at its end.
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1]\r\n0\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\n\r\n"))
	for i, want := range []string{"[]", "[1]"} {
		h, err := readRespHead(br)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		lr := newLineReader(br, h)
		got, err := lr.next()
		if err != nil || string(got) != want {
			t.Fatalf("answer %d body = %q, %v; want %q", i, got, err, want)
		}
		if _, err := lr.next(); err == nil {
			t.Fatalf("answer %d: a second line", i)
		}
	}
	h, err := readRespHead(br)
	if err != nil || h.Status != 204 {
		t.Fatalf("third answer = %+v, %v", h, err)
	}
}

func TestFramers(t *testing.T) {
	mp := respHead{ContentType: `multipart/x-mixed-replace; boundary="comet-00ff"`}
	tests := []struct {
		transport string
		h         respHead
		lines     []string
		want      []string // batches
		end       bool     // the last line is the clean end
	}{
		{"multipart", mp, []string{strings.Repeat(" ", 2048), "--comet-00ff", "Content-Type: application/json", "", `[{"seq":1,"type":"a","data":{}}]`, "--comet-00ff", "Content-Type: application/json", "", "[]", "--comet-00ff--"},
			[]string{`[{"seq":1,"type":"a","data":{}}]`, "[]"}, true},
		{"sse", respHead{ContentType: "text/event-stream; charset=utf-8"}, []string{":" + strings.Repeat(" ", 10), "retry: 1000", "", "id: 1", `data: [{"seq":1,"type":"a","data":{}}]`, "", "data: []", ""},
			[]string{`[{"seq":1,"type":"a","data":{}}]`, "[]"}, false},
		{"iframe", respHead{ContentType: "text/html; charset=utf-8"}, []string{`<!DOCTYPE html><html><head><meta charset="utf-8"><title>comet</title></head><body>`, "<!--   -->",
			`<script nonce="n1">parent.__comet("s_x",[{"seq":1,"type":"a","data":"\u003c/script\u003e"}])</script>`,
			`<script nonce="n1">parent.__comet("s_x",[])</script>`,
			`<script nonce="n1">parent.__comet("s_x",null)</script></body></html>`},
			[]string{`[{"seq":1,"type":"a","data":"\u003c/script\u003e"}]`, "[]"}, true},
		// Protocol v1's end frames: {"end":"<reason>"} in place of a batch.
		{"multipart", mp, []string{"--comet-00ff", "Content-Type: application/json", "", "[]", "--comet-00ff", "Content-Type: application/json", "", `{"end":"recycle"}`},
			[]string{"[]"}, true},
		{"sse", respHead{ContentType: "text/event-stream; charset=utf-8"}, []string{"data: []", "", `data: {"end":"replaced"}`},
			[]string{"[]"}, true},
		{"iframe", respHead{ContentType: "text/html; charset=utf-8"}, []string{`<script nonce="n1">parent.__comet("s_x",[])</script>`,
			`<script nonce="n1">parent.__comet("s_x",{"end":"shutdown"})</script></body></html>`},
			[]string{"[]"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.transport, func(t *testing.T) {
			fr, err := newFramer(tt.transport, tt.h)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			ended := false
			for i, l := range tt.lines {
				b, ok, err := fr.frame([]byte(l))
				if errors.Is(err, errStreamEnd) {
					if i != len(tt.lines)-1 {
						t.Fatalf("end at line %d of %d", i, len(tt.lines))
					}
					ended = true
					continue
				}
				if err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				if ok {
					got = append(got, string(b))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") || ended != tt.end {
				t.Fatalf("batches %q end %v, want %q end %v", got, ended, tt.want, tt.end)
			}
		})
	}
}

func TestNewFramerRefuses(t *testing.T) {
	tests := []struct {
		transport string
		h         respHead
	}{
		{"multipart", respHead{ContentType: "multipart/x-mixed-replace"}},
		{"multipart", respHead{ContentType: "application/json; boundary=x"}},
		{"sse", respHead{ContentType: "text/html"}},
		{"iframe", respHead{ContentType: "application/json"}},
		{"poll", respHead{ContentType: "application/json"}},
	}
	for _, tt := range tests {
		if _, err := newFramer(tt.transport, tt.h); err == nil {
			t.Errorf("%s with %q: no error", tt.transport, tt.h.ContentType)
		}
	}
}

func TestDecodeBatch(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		wantErr bool
	}{
		{"[]", 0, false},
		{" [ ] ", 0, false},
		{`[{"seq":1,"type":"sys.pong","data":{"t":1}},{"seq":2,"type":"chat.msg","data":{}}]`, 2, false},
		{`[{"seq":0,"type":"x","data":{}}]`, 0, true},
		{`[{"seq":1,"data":{}}]`, 0, true},
		{`[{"seq":-1,"type":"x"}]`, 0, true},
		{`{"seq":1}`, 0, true},
		{`[`, 0, true},
		{`[1,2]`, 0, true},
		{``, 0, true},
	}
	for _, tt := range tests {
		evs, err := decodeBatch([]byte(tt.in))
		if (err != nil) != tt.wantErr || len(evs) != tt.n {
			t.Errorf("decodeBatch(%q) = %d events, %v; want %d, error %v", tt.in, len(evs), err, tt.n, tt.wantErr)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	for _, s := range []string{"[]", `[{"seq":1,"type":"a","data":{}}]`, `[{"seq":1,"type":"a"},{"seq":2,"type":"b","data":[1]}]`, `[`, `[{"seq":"1"}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := decodeBatch(b)
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.Seq == 0 || ev.Type == "" {
				t.Fatalf("accepted an event without seq or type: %+v", ev)
			}
		}
	})
}

func FuzzLineReader(f *testing.F) {
	f.Add("4\r\nab\r\n\r\n0\r\n\r\n", true, int64(-1))
	f.Add("2\r\nab\r\n3\r\ncd\n\r\n0\r\nT: 1\r\n\r\n", true, int64(-1))
	f.Add("[1]\nrest", false, int64(4))
	f.Add("fffffffffffffffff\r\n", true, int64(-1))
	f.Fuzz(func(t *testing.T, body string, chunked bool, length int64) {
		h := respHead{Chunked: chunked, ContentLength: length}
		lr := newLineReader(bufio.NewReaderSize(strings.NewReader(body), 16), h)
		total := 0
		for i := 0; i <= len(body)+1; i++ {
			l, err := lr.next()
			if err != nil {
				return
			}
			total += len(l)
			if total > len(body) {
				t.Fatalf("read %d bytes of lines from a %d-byte body", total, len(body))
			}
		}
		t.Fatalf("more lines than bytes in %q", body)
	})
}

func FuzzReadRespHead(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/html\r\n\r\n")
	f.Add("HTTP/1.0 404 x\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		h, err := readRespHead(bufio.NewReader(strings.NewReader(in)))
		if err == nil && (h.Status < 100 || h.Status > 999 || h.ContentLength < -1) {
			t.Fatalf("accepted %+v", h)
		}
	})
}

func FuzzFramers(f *testing.F) {
	f.Add(`<script nonce="n">parent.__comet("s",[])</script>`)
	f.Add(`parent.__comet("s",)</script>`)
	f.Add(`data: [1]`)
	f.Add(`--comet-1--`)
	f.Fuzz(func(t *testing.T, line string) {
		heads := map[string]respHead{
			"multipart": {ContentType: `multipart/x-mixed-replace; boundary="comet-1"`},
			"sse":       {ContentType: "text/event-stream"},
			"iframe":    {ContentType: "text/html"},
		}
		for tr, h := range heads {
			fr, err := newFramer(tr, h)
			if err != nil {
				t.Fatal(err)
			}
			b, ok, err := fr.frame([]byte(line))
			if ok && (err != nil || len(b) > len(line)) {
				t.Fatalf("%s: batch %q from %q (%v)", tr, b, line, err)
			}
		}
	})
}

func TestSplitBatch(t *testing.T) {
	tests := []struct {
		in    string
		ok    bool
		types []string
		data  []string
	}{
		{`[]`, true, nil, nil},
		{`[{"seq":1,"type":"room.diff","data":{"t":2,"c":[[1,0,5]],"s":"a\"]}"}}]`, true, []string{"room.diff"}, []string{`{"t":2,"c":[[1,0,5]],"s":"a\"]}"}`}},
		{`[{"seq":7,"type":"a","data":{}},{"seq":8,"type":"b","data":[1,{"x":[]}]},{"seq":9,"type":"c","data":12.5},{"seq":10,"type":"d","data":"s"}]`, true,
			[]string{"a", "b", "c", "d"}, []string{`{}`, `[1,{"x":[]}]`, `12.5`, `"s"`}},
		{`[{"seq":1,"type":"a","data":{}} ]`, false, nil, nil},                     // spaces: not the server's layout
		{`[{"type":"a","seq":1,"data":{}}]`, false, nil, nil},                      // other key order
		{`[{"seq":0,"type":"a","data":{}}]`, false, nil, nil},                      // seq 0
		{`[{"seq":1,"type":"a\u0062","data":{}}]`, false, nil, nil},                // escape in type
		{`[{"seq":1,"type":"a","data":{"x":"}]`, false, nil, nil},                  // unterminated string
		{`[{"seq":1,"type":"a","data":{}}]x`, false, nil, nil},                     // trailing bytes
		{`[{"seq":1,"type":"a","data":{}},]`, false, nil, nil},                     // trailing comma
		{`[{"seq":99999999999999999999999,"type":"a","data":1}]`, false, nil, nil}, // too long a seq
	}
	for _, tt := range tests {
		evs, ok := splitBatch([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("splitBatch(%s) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		for i, ev := range evs {
			if ev.Type != tt.types[i] || string(ev.Data) != tt.data[i] {
				t.Errorf("splitBatch(%s)[%d] = %s %s, want %s %s", tt.in, i, ev.Type, ev.Data, tt.types[i], tt.data[i])
			}
		}
		if ok {
			if _, err := decodeBatch([]byte(tt.in)); err != nil {
				t.Errorf("decodeBatch(%s): %v", tt.in, err)
			}
		}
	}
}

// FuzzSplitBatch checks the fast path against encoding/json: whatever it
// accepts that is valid JSON, encoding/json reads the same way.
func FuzzSplitBatch(f *testing.F) {
	f.Add([]byte(`[{"seq":1,"type":"room.diff","data":{"t":2,"c":[[1,0,5]]}},{"seq":2,"type":"x","data":"\"}"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"seq":1,"type":"a","data":tru}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, ok := splitBatch(b)
		if !ok || !json.Valid(b) {
			return
		}
		var want []wireEvent
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("split %s but encoding/json: %v", b, err)
		}
		if len(want) != len(evs) {
			t.Fatalf("%d events, encoding/json %d", len(evs), len(want))
		}
		for i := range evs {
			if evs[i].Seq != want[i].Seq || evs[i].Type != want[i].Type || !bytes.Equal(evs[i].Data, want[i].Data) {
				t.Fatalf("event %d: %+v, encoding/json %+v", i, evs[i], want[i])
			}
		}
	})
}
