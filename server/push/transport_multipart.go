package push

import "net/http"

// multipart frames each batch as one part of multipart/x-mixed-replace. Part
// bodies are single-line JSON, so no payload can contain a boundary line.
type multipart struct {
	boundary string
}

func newMultipart() *multipart { return &multipart{boundary: "comet-" + randomHex(8)} }

func (m *multipart) name() string { return "multipart" }

func (m *multipart) header(h http.Header) {
	h.Set("Content-Type", `multipart/x-mixed-replace; boundary="`+m.boundary+`"`)
}

// appendPrelude sends 2 KiB of preamble, which multipart parsers ignore.
func (m *multipart) appendPrelude(dst []byte) []byte {
	dst = append(dst, padding...)
	return append(dst, "\r\n"...)
}

func (m *multipart) appendBatch(dst []byte, evs []event) []byte {
	dst = m.appendPartHead(dst)
	dst = appendJSONBatch(dst, evs)
	return append(dst, "\r\n"...)
}

// appendEnd sends the end frame as a last part, then the close delimiter.
func (m *multipart) appendEnd(dst []byte, why EndReason) []byte {
	dst = m.appendPartHead(dst)
	dst = appendEndObject(dst, why)
	dst = append(dst, "\r\n--"...)
	dst = append(dst, m.boundary...)
	return append(dst, "--\r\n"...)
}

// appendPartHead appends a part's boundary line and headers.
func (m *multipart) appendPartHead(dst []byte) []byte {
	dst = append(dst, "--"...)
	dst = append(dst, m.boundary...)
	return append(dst, "\r\nContent-Type: application/json\r\n\r\n"...)
}
