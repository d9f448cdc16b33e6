package push

import (
	"net/http"
	"strconv"
)

// sse frames each batch as one server-sent event whose id is the batch's last
// seq, so EventSource's own reconnect resumes through Last-Event-ID.
type sse struct{}

func (sse) name() string { return "sse" }

func (sse) header(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
}

// appendPrelude sends a 2 KiB comment and a short reconnect delay.
func (sse) appendPrelude(dst []byte) []byte {
	dst = append(dst, ':')
	dst = append(dst, padding...)
	return append(dst, "\nretry: 1000\n\n"...)
}

func (sse) appendBatch(dst []byte, evs []event) []byte {
	if len(evs) > 0 {
		dst = append(dst, "id: "...)
		dst = strconv.AppendUint(dst, evs[len(evs)-1].seq, 10)
		dst = append(dst, '\n')
	}
	dst = append(dst, "data: "...)
	dst = appendJSONBatch(dst, evs)
	return append(dst, "\n\n"...)
}

// appendEnd sends the end frame as an event without an id, so a resumed
// Last-Event-ID still names the last batch.
func (sse) appendEnd(dst []byte, why EndReason) []byte {
	dst = append(dst, "data: "...)
	dst = appendEndObject(dst, why)
	return append(dst, "\n\n"...)
}
