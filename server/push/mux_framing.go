package push

// A mux frames each session's batch as the object {"sid":"<sid>","batch":[…]}
// and a session's end as {"sid":"<sid>","end":"<reason>"}, inside the framing
// of the transport it runs on (a multipart part, an SSE data line, an iframe
// script call). Heartbeats and the stream's own end frame are the
// transport's, unchanged, so a client tells the two apart by the "sid" key.
// SSE mux events carry no id: a mux resumes with one cursor per session, in
// its URL, which one Last-Event-ID cannot hold.

// appendSessionBatch appends one session's batch, framed.
func (mx *muxConn) appendSessionBatch(dst []byte, sid string, evs []event) []byte {
	dst = mx.open(dst)
	dst = appendSIDKey(dst, sid)
	dst = append(dst, `,"batch":`...)
	dst = appendJSONBatch(dst, evs)
	dst = append(dst, '}')
	return mx.close(dst)
}

// appendSessionEnd appends the end frame of one session: it left the stream
// (replaced, ended) or was refused (gone).
func (mx *muxConn) appendSessionEnd(dst []byte, sid, why string) []byte {
	dst = mx.open(dst)
	dst = appendSIDKey(dst, sid)
	dst = append(dst, `,"end":"`...)
	dst = append(dst, why...)
	dst = append(dst, `"}`...)
	return mx.close(dst)
}

// appendSIDKey opens the frame object with its sid; sids are ValidSID (no
// character needs escaping in JSON, HTML or a script).
func appendSIDKey(dst []byte, sid string) []byte {
	dst = append(dst, `{"sid":"`...)
	dst = append(dst, sid...)
	return append(dst, '"')
}

// open appends what precedes a frame's JSON in the inner transport.
func (mx *muxConn) open(dst []byte) []byte {
	switch t := mx.inner.(type) {
	case *multipart:
		return t.appendPartHead(dst)
	case *iframe:
		return t.call(dst)
	default: // sse
		return append(dst, "data: "...)
	}
}

// close appends what follows a frame's JSON in the inner transport.
func (mx *muxConn) close(dst []byte) []byte {
	switch mx.inner.(type) {
	case *multipart:
		return append(dst, "\r\n"...)
	case *iframe:
		return append(dst, ")</script>\n"...)
	default: // sse
		return append(dst, "\n\n"...)
	}
}
