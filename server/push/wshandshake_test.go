package push

import (
	"bufio"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// wsRFCRequest is the opening handshake of RFC 6455 §1.2 (and §4.1's key).
const wsRFCRequest = "GET /chat HTTP/1.1\r\n" +
	"Host: server.example.com\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Origin: http://example.com\r\n" +
	"Sec-WebSocket-Protocol: chat, superchat\r\n" +
	"Sec-WebSocket-Version: 13\r\n\r\n"

// wsRequest parses a raw request, with header lines edited: "Name: value"
// replaces every line of that name, "Name:" with no value drops them, and a
// first line starting with a method replaces the request line.
func wsRequest(t testing.TB, edits ...string) *http.Request {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(wsRFCRequest, "\r\n\r\n"), "\r\n")
	for _, e := range edits {
		if !strings.Contains(e, ":") || strings.HasPrefix(e, "GET ") || strings.HasPrefix(e, "POST ") {
			lines[0] = e
			continue
		}
		name, value, _ := strings.Cut(e, ":")
		kept := lines[:1]
		for _, l := range lines[1:] {
			if n, _, _ := strings.Cut(l, ":"); !strings.EqualFold(n, name) {
				kept = append(kept, l)
			}
		}
		lines = kept
		for _, v := range strings.Split(value, "\n") {
			if v = strings.TrimSpace(v); v != "" {
				lines = append(lines, name+": "+v)
			}
		}
	}
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.Join(lines, "\r\n") + "\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestWSCheckUpgrade checks each handshake rule and the exact error.
func TestWSCheckUpgrade(t *testing.T) {
	const rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
	for _, c := range []struct {
		name   string
		edits  []string
		want   WSUpgrade
		status int
		reason string
	}{
		{name: "RFC 6455 example", want: WSUpgrade{Accept: rfcAccept}},
		{name: "comet.v1 offered", edits: []string{"Sec-WebSocket-Protocol: chat, comet.v1"}, want: WSUpgrade{rfcAccept, "comet.v1"}},
		{name: "comet.v1 on its own line", edits: []string{"Sec-WebSocket-Protocol: chat\ncomet.v1"}, want: WSUpgrade{rfcAccept, "comet.v1"}},
		{name: "subprotocols are case-sensitive", edits: []string{"Sec-WebSocket-Protocol: Comet.V1"}, want: WSUpgrade{Accept: rfcAccept}},
		{name: "no subprotocol header", edits: []string{"Sec-WebSocket-Protocol:"}, want: WSUpgrade{Accept: rfcAccept}},
		{name: "Connection as a list", edits: []string{"Connection: keep-alive,\tUpgrade"}, want: WSUpgrade{Accept: rfcAccept}},
		{name: "Connection on two lines", edits: []string{"Connection: keep-alive\nupgrade"}, want: WSUpgrade{Accept: rfcAccept}},
		{name: "Upgrade in any case", edits: []string{"Upgrade: WebSocket"}, want: WSUpgrade{Accept: rfcAccept}},
		{name: "Upgrade as a list", edits: []string{"Upgrade: h2c, websocket"}, want: WSUpgrade{Accept: rfcAccept}},
		{name: "key with spaces around", edits: []string{"Sec-WebSocket-Key:  dGhlIHNhbXBsZSBub25jZQ==  "}, want: WSUpgrade{Accept: rfcAccept}},

		{name: "POST", edits: []string{"POST /chat HTTP/1.1"}, status: 405, reason: "method must be GET, not POST"},
		{name: "HTTP/1.0", edits: []string{"GET /chat HTTP/1.0"}, status: 400, reason: "upgrade needs HTTP/1.1, not HTTP/1.0"},
		{name: "no Upgrade", edits: []string{"Upgrade:"}, status: 426, reason: "Upgrade header must name websocket"},
		{name: "Upgrade h2c", edits: []string{"Upgrade: h2c"}, status: 426, reason: "Upgrade header must name websocket"},
		{name: "Upgrade websocket/13", edits: []string{"Upgrade: websocket/13"}, status: 426, reason: "Upgrade header must name websocket"},
		{name: "no Connection", edits: []string{"Connection:"}, status: 426, reason: "Connection header must hold the upgrade token"},
		{name: "Connection keep-alive", edits: []string{"Connection: keep-alive"}, status: 426, reason: "Connection header must hold the upgrade token"},
		{name: "Connection upgraded", edits: []string{"Connection: upgraded"}, status: 426, reason: "Connection header must hold the upgrade token"},
		{name: "no version", edits: []string{"Sec-WebSocket-Version:"}, status: 426, reason: "Sec-WebSocket-Version missing; 13 is supported"},
		{name: "version 8", edits: []string{"Sec-WebSocket-Version: 8"}, status: 426, reason: "Sec-WebSocket-Version must be 13"},
		{name: "version 13, 8", edits: []string{"Sec-WebSocket-Version: 13, 8"}, status: 426, reason: "Sec-WebSocket-Version must be 13"},
		{name: "version twice", edits: []string{"Sec-WebSocket-Version: 13\n13"}, status: 426, reason: "Sec-WebSocket-Version must be 13"},
		{name: "no key", edits: []string{"Sec-WebSocket-Key:"}, status: 400, reason: "Sec-WebSocket-Key missing"},
		{name: "two keys", edits: []string{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\ndGhlIHNhbXBsZSBub25jZQ=="}, status: 400, reason: "Sec-WebSocket-Key given more than once"},
		{name: "key of 15 bytes", edits: []string{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ"}, status: 400, reason: "Sec-WebSocket-Key must be 16 bytes in base64"},
		{name: "key of 17 bytes", edits: []string{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ8="}, status: 400, reason: "Sec-WebSocket-Key must be 16 bytes in base64"},
		{name: "key not base64", edits: []string{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q=="}, status: 400, reason: "Sec-WebSocket-Key must be 16 bytes in base64"},
		{name: "key unpadded", edits: []string{"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"}, status: 400, reason: "Sec-WebSocket-Key must be 16 bytes in base64"},
	} {
		got, err := CheckWSUpgrade(wsRequest(t, c.edits...))
		var he *WSHandshakeError
		switch {
		case c.status == 0 && (err != nil || got != c.want):
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		case c.status != 0 && (!errors.As(err, &he) || he.Status != c.status || he.Reason != c.reason):
			t.Errorf("%s: got %+v, %v; want %d %q", c.name, got, err, c.status, c.reason)
		}
	}
}

// TestWSAcceptRFCExample is RFC 6455 §1.3's worked example.
func TestWSAcceptRFCExample(t *testing.T) {
	if got := WSAccept("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("WSAccept = %q", got)
	}
}

// TestWSUpgradeResponse pins the 101 head byte for byte, with and without
// the subprotocol, and checks net/http reads it as a valid upgrade.
func TestWSUpgradeResponse(t *testing.T) {
	for _, c := range []struct {
		u    WSUpgrade
		want string
	}{
		{WSUpgrade{Accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, "HTTP/1.1 101 Switching Protocols\r\n" +
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"},
		{WSUpgrade{"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "comet.v1"}, "HTTP/1.1 101 Switching Protocols\r\n" +
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
			"Sec-WebSocket-Protocol: comet.v1\r\n\r\n"},
	} {
		got := string(AppendWSUpgrade(nil, c.u))
		if got != c.want {
			t.Errorf("got %q\nwant %q", got, c.want)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
		if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != c.u.Accept ||
			resp.Header.Get("Sec-WebSocket-Protocol") != c.u.Subprotocol {
			t.Errorf("net/http reads %q as %+v, %v", got, resp, err)
		}
	}
}

// TestWSHandshakeRespond checks the refusal each status gets.
func TestWSHandshakeRespond(t *testing.T) {
	for _, c := range []struct {
		err    *WSHandshakeError
		header map[string]string
	}{
		{&WSHandshakeError{426, "Sec-WebSocket-Version must be 13"},
			map[string]string{"Sec-Websocket-Version": "13", "Upgrade": "websocket", "Connection": "Upgrade", "Allow": ""}},
		{&WSHandshakeError{400, "Sec-WebSocket-Key missing"},
			map[string]string{"Sec-Websocket-Version": "13", "Upgrade": "", "Allow": ""}},
		{&WSHandshakeError{405, "method must be GET, not PUT"},
			map[string]string{"Sec-Websocket-Version": "13", "Allow": "GET", "Upgrade": ""}},
	} {
		w := httptest.NewRecorder()
		c.err.Respond(w)
		if w.Code != c.err.Status || w.Body.String() != c.err.Reason+"\n" {
			t.Errorf("%d: answered %d %q", c.err.Status, w.Code, w.Body.String())
		}
		for k, v := range c.header {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%d: %s = %q, want %q", c.err.Status, k, got, v)
			}
		}
	}
}

// FuzzWSHandshake: any request parses without panicking; an accepted one has
// a 16-byte key and the RFC's accept for it, and a refused one a status the
// caller can answer.
func FuzzWSHandshake(f *testing.F) {
	f.Add([]byte(wsRFCRequest))
	f.Add([]byte(strings.Replace(wsRFCRequest, "chat, superchat", "comet.v1", 1)))
	f.Add([]byte(strings.Replace(wsRFCRequest, "Version: 13", "Version: 13, 8", 1)))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: ,websocket,\r\nConnection: ,,upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(string(raw))))
		if err != nil {
			return
		}
		u, err := CheckWSUpgrade(r)
		if err != nil {
			var he *WSHandshakeError
			if !errors.As(err, &he) || (he.Status != 400 && he.Status != 405 && he.Status != 426) || he.Reason == "" {
				t.Fatalf("refusal %v", err)
			}
			return
		}
		key := strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key"))
		if len(key) != 24 || u.Accept != WSAccept(key) || len(u.Accept) != 28 {
			t.Fatalf("accepted key %q with %q", key, u.Accept)
		}
		if u.Subprotocol != "" && u.Subprotocol != WSSubprotocol {
			t.Fatalf("subprotocol %q", u.Subprotocol)
		}
		head := AppendWSUpgrade(nil, u)
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(head))), r)
		if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != u.Accept {
			t.Fatalf("101 head %q: %v", head, err)
		}
	})
}
