package natsbus

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"

	"comet"
)

// The payload of one message on a topic's subject, in order:
//
//	format  1 byte, 1
//	flags   1 byte, comet.Flags
//	origin  8 bytes, big-endian: the publishing Bus, so it skips its own echo
//	type    uvarint length, then the bytes of Message.Type
//	from    uvarint length, then the bytes of Message.From
//	frame   the rest: Message.Frame as published, never re-encoded
//
// A chat line of 120 bytes of frame travels in 120 + 10 + 2 + len(type) +
// len(from) bytes.
const format = 1

var errPayload = errors.New("natsbus: malformed message")

// appendMessage appends m's payload to dst.
func appendMessage(dst []byte, origin uint64, m *comet.Message) []byte {
	dst = append(dst, format, byte(m.Flags))
	dst = binary.BigEndian.AppendUint64(dst, origin)
	dst = binary.AppendUvarint(dst, uint64(len(m.Type)))
	dst = append(dst, m.Type...)
	dst = binary.AppendUvarint(dst, uint64(len(m.From)))
	dst = append(dst, m.From...)
	return append(dst, m.Frame...)
}

// payloadSize is len(appendMessage(nil, origin, m)).
func payloadSize(m *comet.Message) int {
	return 2 + 8 + binary.MaxVarintLen64*2 + len(m.Type) + len(m.From) + len(m.Frame)
}

// decoder reads payloads on one goroutine: it keeps the node's few event
// types so they are not allocated again per message, and a scratch buffer.
type decoder struct {
	types   map[string]string
	scratch []byte
}

func (d *decoder) intern(t []byte) string {
	if s, ok := d.types[string(t)]; ok {
		return s
	}
	s := string(t)
	if d.types == nil {
		d.types = make(map[string]string)
	}
	if len(d.types) < 1024 {
		d.types[s] = s
	}
	return s
}

// decode reads a payload. The frame is a sub-slice of data (nats.go gives
// every message its own copy). A frame that is not a complete, HTML-safe
// event body is refused: a transport writes it verbatim.
func (d *decoder) decode(data []byte) (origin uint64, m *comet.Message, err error) {
	if len(data) < 10 || data[0] != format {
		return 0, nil, errPayload
	}
	flags := comet.Flags(data[1])
	origin = binary.BigEndian.Uint64(data[2:10])
	rest := data[10:]
	typ, rest, ok := field(rest)
	if !ok {
		return 0, nil, errPayload
	}
	from, frame, ok := field(rest)
	if !ok || !d.wellFormed(frame) {
		return 0, nil, errPayload
	}
	m = &comet.Message{Type: d.intern(typ), Frame: frame, Flags: flags}
	if len(from) > 0 {
		m.From = string(from)
	}
	return origin, m, nil
}

func field(b []byte) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// wellFormed reports whether frame is what comet.Message promises: the JSON
// members after the seq, closing brace included, with no raw '<', '>', '&',
// U+2028 or U+2029.
func (d *decoder) wellFormed(frame []byte) bool {
	if !bytes.HasPrefix(frame, []byte(`"type":`)) || bytes.ContainsAny(frame, "<>&\u2028\u2029") {
		return false
	}
	d.scratch = append(append(d.scratch[:0], '{'), frame...)
	ok := json.Valid(d.scratch)
	if cap(d.scratch) > 64<<10 {
		d.scratch = nil // keep no large frame's buffer
	}
	return ok
}
