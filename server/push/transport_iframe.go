package push

import "net/http"

// iframe is the hidden-iframe "forever frame": an HTML document that grows by
// one <script> per batch, each calling the parent page's fixed __comet
// function. Scripts carry a per-response nonce allowed by the frame's own CSP.
type iframe struct {
	sid   string // server-made, base64url: safe inside a JS string
	nonce string
}

func newIframe(sid string) *iframe { return &iframe{sid: sid, nonce: randomID(16)} }

func (f *iframe) name() string { return "iframe" }

func (f *iframe) header(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+f.nonce+"'")
}

// appendPrelude opens the document and pads it past 1 KiB inside a comment.
func (f *iframe) appendPrelude(dst []byte) []byte {
	dst = append(dst, `<!DOCTYPE html><html><head><meta charset="utf-8"><title>comet</title></head><body>`+"\n<!-- "...)
	dst = append(dst, padding[:1024]...)
	return append(dst, " -->\n"...)
}

func (f *iframe) call(dst []byte) []byte {
	dst = append(dst, `<script nonce="`...)
	dst = append(dst, f.nonce...)
	dst = append(dst, `">parent.__comet("`...)
	dst = append(dst, f.sid...)
	return append(dst, `",`...)
}

func (f *iframe) appendBatch(dst []byte, evs []event) []byte {
	dst = f.call(dst)
	dst = appendJSONBatch(dst, evs)
	return append(dst, ")</script>\n"...)
}

// appendEnd tells the parent why the stream ends ({"end":"<reason>"} in
// place of a batch) and closes the document.
func (f *iframe) appendEnd(dst []byte, why EndReason) []byte {
	dst = f.call(dst)
	dst = appendEndObject(dst, why)
	return append(dst, ")</script></body></html>\n"...)
}
