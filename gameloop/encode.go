package gameloop

import (
	"strconv"
	"unicode/utf8"
)

// The wire encoding of views (documented in docs/PROTOCOL.md, "room.snapshot"
// and "room.diff"):
//
//	snapshot: {"t":T,"m":"<match>","e":[ENTITY,...]}
//	diff:     {"t":T,"b":BASE,"a":[ENTITY,...],"c":[[id,i,v,i,v,...],...],"r":[id,...]}
//	ENTITY:   [id,"kind",v0,v1,...]  or  [id,"kind",v0,v1,...,"label"]
//
// Entities are written in id order. A diff omits empty members; an entry in
// "a" whose id the client already holds replaces that entity.

// appendSnapshot appends the snapshot of w at tick as JSON.
func appendSnapshot(dst []byte, tick uint64, match string, w *World) []byte {
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendUint(dst, tick, 10)
	dst = append(dst, `,"m":`...)
	dst = appendString(dst, match)
	dst = append(dst, `,"e":[`...)
	for i := range w.ents {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendEntity(dst, w, &w.ents[i])
	}
	return append(dst, "]}"...)
}

// differ holds the scratch buffers of appendDiff, reused between calls.
type differ struct{ adds, changes, removes []byte }

// appendDiff appends the diff that turns base (at base.tick) into cur (at
// tick). It reports false, leaving dst as it was, when nothing changed. One
// merge pass over the two id-sorted worlds fills the three sections.
func (d *differ) appendDiff(dst []byte, tick uint64, base, cur *World) ([]byte, bool) {
	a, c, r := d.adds[:0], d.changes[:0], d.removes[:0]
	be, ce := base.ents, cur.ents
	i, j := 0, 0
	for i < len(be) || j < len(ce) {
		switch {
		case j == len(ce) || (i < len(be) && be[i].id < ce[j].id):
			r = append(r, ',')
			r = strconv.AppendUint(r, uint64(be[i].id), 10)
			i++
		case i == len(be) || ce[j].id < be[i].id:
			a = append(a, ',')
			a = appendEntity(a, cur, &ce[j])
			j++
		default:
			b, e := &be[i], &ce[j]
			if !sameShape(b, e) {
				a = append(a, ',')
				a = appendEntity(a, cur, e)
			} else {
				c = appendChanges(c, e.id, base.vals[b.off:b.off+b.n], cur.vals[e.off:e.off+e.n])
			}
			i++
			j++
		}
	}
	d.adds, d.changes, d.removes = a, c, r
	if len(a) == 0 && len(c) == 0 && len(r) == 0 {
		return dst, false
	}
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendUint(dst, tick, 10)
	dst = append(dst, `,"b":`...)
	dst = strconv.AppendUint(dst, base.tick, 10)
	for _, sec := range [3]struct {
		key string
		buf []byte
	}{{`,"a":[`, a}, {`,"c":[`, c}, {`,"r":[`, r}} {
		if len(sec.buf) > 0 {
			dst = append(dst, sec.key...)
			dst = append(dst, sec.buf[1:]...) // drop the leading comma
			dst = append(dst, ']')
		}
	}
	return append(dst, '}'), true
}

// appendChanges appends ",[id,i,v,...]" for the fields that differ, if any.
func appendChanges(dst []byte, id uint32, bv, cv []int32) []byte {
	first := true
	for i := range cv {
		if bv[i] == cv[i] {
			continue
		}
		if first {
			first = false
			dst = append(dst, ",["...)
			dst = strconv.AppendUint(dst, uint64(id), 10)
		}
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(cv[i]), 10)
	}
	if !first {
		dst = append(dst, ']')
	}
	return dst
}

// sameShape reports whether c can be sent as field changes against b.
func sameShape(b, c *entity) bool {
	return b.kind == c.kind && b.n == c.n && b.label == c.label
}

func appendEntity(dst []byte, w *World, e *entity) []byte {
	dst = append(dst, '[')
	dst = strconv.AppendUint(dst, uint64(e.id), 10)
	dst = append(dst, ',')
	dst = appendString(dst, e.kind)
	for _, v := range w.values(e) {
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(v), 10)
	}
	if e.label != "" {
		dst = append(dst, ',')
		dst = appendString(dst, e.label)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as an HTML-safe JSON string: quotes, backslashes and
// control characters escaped, and <, >, &, U+2028, U+2029 as \u escapes (so
// the bytes are safe in every transport); invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
