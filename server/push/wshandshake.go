package push

import (
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"strings"
)

// WSSubprotocol is the one WebSocket subprotocol Comet names. It is answered
// only when the client offers it in Sec-WebSocket-Protocol; a client that
// offers none gets the same framing without the header, and one that offers
// only others gets no subprotocol (RFC 6455 §4.2.2), which it may refuse.
const WSSubprotocol = "comet.v1"

// wsGUID is the RFC 6455 §1.3 constant appended to the key for the accept hash.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WSHandshakeError is a refused upgrade: the HTTP status to answer and what
// exactly is wrong with the request.
type WSHandshakeError struct {
	Status int // 400, 405 or 426
	Reason string
}

func (e *WSHandshakeError) Error() string { return "websocket handshake: " + e.Reason }

// Respond answers the refused upgrade with e.Status, Sec-WebSocket-Version: 13
// (and Upgrade: websocket on 426, Allow: GET on 405) and the reason as text.
func (e *WSHandshakeError) Respond(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Sec-WebSocket-Version", "13")
	switch e.Status {
	case http.StatusUpgradeRequired:
		h.Set("Upgrade", "websocket")
		h.Set("Connection", "Upgrade")
	case http.StatusMethodNotAllowed:
		h.Set("Allow", http.MethodGet)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	w.Write([]byte(e.Reason + "\n"))
}

// WSUpgrade is an accepted upgrade request: what its 101 response says.
type WSUpgrade struct {
	Accept      string // Sec-WebSocket-Accept
	Subprotocol string // WSSubprotocol when the client offered it, else ""
}

// CheckWSUpgrade validates an opening handshake (RFC 6455 §4.2.1); Origin and
// authentication are the caller's. The error is a *WSHandshakeError.
func CheckWSUpgrade(r *http.Request) (WSUpgrade, error) {
	refuse := func(status int, reason string) (WSUpgrade, error) {
		return WSUpgrade{}, &WSHandshakeError{status, reason}
	}
	if r.Method != http.MethodGet {
		return refuse(http.StatusMethodNotAllowed, "method must be GET, not "+r.Method)
	}
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return refuse(http.StatusBadRequest, "upgrade needs HTTP/1.1, not "+r.Proto)
	}
	if !wsHasToken(r.Header["Upgrade"], "websocket", false) {
		return refuse(http.StatusUpgradeRequired, "Upgrade header must name websocket")
	}
	if !wsHasToken(r.Header["Connection"], "upgrade", false) {
		return refuse(http.StatusUpgradeRequired, "Connection header must hold the upgrade token")
	}
	switch v := r.Header["Sec-Websocket-Version"]; {
	case len(v) == 0:
		return refuse(http.StatusUpgradeRequired, "Sec-WebSocket-Version missing; 13 is supported")
	case len(v) > 1 || strings.TrimSpace(v[0]) != "13":
		return refuse(http.StatusUpgradeRequired, "Sec-WebSocket-Version must be 13")
	}
	keys := r.Header["Sec-Websocket-Key"]
	switch {
	case len(keys) == 0:
		return refuse(http.StatusBadRequest, "Sec-WebSocket-Key missing")
	case len(keys) > 1:
		return refuse(http.StatusBadRequest, "Sec-WebSocket-Key given more than once")
	}
	key := strings.TrimSpace(keys[0])
	var raw [18]byte
	if n, err := base64.StdEncoding.Decode(raw[:], []byte(key)); len(key) != 24 || err != nil || n != 16 {
		return refuse(http.StatusBadRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
	}
	u := WSUpgrade{Accept: WSAccept(key)}
	if wsHasToken(r.Header["Sec-Websocket-Protocol"], WSSubprotocol, true) {
		u.Subprotocol = WSSubprotocol
	}
	return u, nil
}

// WSAccept is the Sec-WebSocket-Accept value for a Sec-WebSocket-Key: the
// base64 of the SHA-1 of the key and the RFC's GUID (RFC 6455 §4.2.2).
func WSAccept(key string) string {
	var buf [64]byte
	sum := sha1.Sum(append(append(buf[:0], key...), wsGUID...))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// AppendWSUpgrade appends the 101 response head that completes an upgrade.
func AppendWSUpgrade(b []byte, u WSUpgrade) []byte {
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, u.Accept...)
	b = append(b, "\r\n"...)
	if u.Subprotocol != "" {
		b = append(b, "Sec-WebSocket-Protocol: "...)
		b = append(b, u.Subprotocol...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// wsHasToken reports whether a comma-separated header list holds token, in
// any case unless exact (header tokens are case-insensitive, subprotocols not).
func wsHasToken(values []string, token string, exact bool) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			t = strings.Trim(t, " \t")
			if t == token || !exact && strings.EqualFold(t, token) {
				return true
			}
		}
	}
	return false
}
