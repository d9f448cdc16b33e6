package push

import (
	"net/http"
	"strings"

	"comet"
)

// Transport frames batches of events for one kind of held response. It only
// writes bytes; the stream and the writer pool decide when. The framings are
// the core's own (NewTransport); their bytes are pinned by golden files.
type Transport interface {
	// name is the transport's name as in ?transport= and the metrics label.
	name() string
	// header sets the content type and any transport-specific headers.
	header(h http.Header)
	// appendPrelude appends what opens the body (padding so browsers and
	// proxies pass bytes on at once).
	appendPrelude(dst []byte) []byte
	// appendBatch appends one batch; evs == nil is a heartbeat (empty batch).
	appendBatch(dst []byte, evs []event) []byte
	// appendEnd appends the end frame, which says why the stream ends, and
	// what closes the body cleanly.
	appendEnd(dst []byte, why EndReason) []byte
}

// EndReason says why a held stream ended; the end frame carries it as
// {"end":"<reason>"} (docs/PROTOCOL.md, "End frames").
type EndReason uint32

const (
	endUnset EndReason = iota
	// EndRecycle: the stream reached its byte or age budget; reconnect at once.
	EndRecycle
	// EndReplaced: a newer downstream of the same session attached.
	EndReplaced
	// EndEnded: the session ended (removed or expired); its sid is gone.
	EndEnded
	// EndShutdown: the server is stopping or handing over to a successor.
	EndShutdown
)

var endNames = [...]string{endUnset: "shutdown", EndRecycle: "recycle", EndReplaced: "replaced", EndEnded: "ended", EndShutdown: "shutdown"}

// String returns the reason as the end frame names it.
func (r EndReason) String() string {
	if int(r) < len(endNames) {
		return endNames[r]
	}
	return "shutdown"
}

// appendEndObject appends the end frame's payload, {"end":"<reason>"}.
func appendEndObject(dst []byte, why EndReason) []byte {
	dst = append(dst, `{"end":"`...)
	dst = append(dst, why.String()...)
	return append(dst, `"}`...)
}

// appendJSONBatch appends the batch `[{"seq":N,...},...]`. Message frames are
// HTML-safe JSON, so the result is one line with no '<', '>', '&', CR or LF.
func appendJSONBatch(dst []byte, evs []event) []byte {
	dst = append(dst, '[')
	for i, e := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = comet.AppendEvent(dst, e.seq, e.msg)
	}
	return append(dst, ']')
}

// padding is the prelude filler: spaces are inert in every framing used here.
var padding = strings.Repeat(" ", 2048)

// TransportNames lists the downstream transports in the order a client tries them.
var TransportNames = []string{"ws", "multipart", "sse", "iframe", "longpoll", "poll"}

// NewTransport returns the framing of a held-stream transport by name
// (multipart, sse, iframe) for session sid; false for any other name.
func NewTransport(name, sid string) (Transport, bool) {
	switch name {
	case "multipart":
		return newMultipart(), true
	case "sse":
		return sse{}, true
	case "iframe":
		return newIframe(sid), true
	}
	return nil, false
}
