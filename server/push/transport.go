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
	// appendEnd appends what closes the body cleanly.
	appendEnd(dst []byte) []byte
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
var TransportNames = []string{"multipart", "sse", "iframe", "longpoll", "poll"}

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
