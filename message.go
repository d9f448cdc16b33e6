package comet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Message is one event encoded once and shared, read-only, by every session it
// is delivered to. Frame holds the JSON members that follow the per-session
// sequence number: `"type":"chat.msg","data":{...}}` (closing brace included),
// so a transport writes `{"seq":N,` + Frame with no re-encoding.
//
// Frame is HTML-safe: '<', '>', '&', U+2028 and U+2029 appear only as \u
// escapes, so no payload can end a <script> block or open a comment in the
// iframe transport.
type Message struct {
	Type  string
	Frame []byte
	// From is the id of the player who caused the message (chat lines), so a
	// delivery filter can drop lines from players a session muted without a
	// per-subscriber publish. Empty for server events.
	From string
	// Flags tell the push core how it may treat the message.
	Flags Flags
}

// Flags are what the push core may do with a message beyond delivering it
// in order; the core never looks at a message's type.
type Flags uint8

const (
	// Droppable messages (a game's diffs) may be dropped for a session whose
	// stream is backlogged; a later Keyframe makes up for them.
	Droppable Flags = 1 << iota
	// Keyframe messages (a game's snapshot) carry whole state: after one,
	// droppable messages flow again.
	Keyframe
	// Filtered messages pass the application's per-session delivery filter
	// (a player's mutes) before they are numbered for a session.
	Filtered
)

// WithFlags sets f on m and returns m, for use where m is built.
func (m *Message) WithFlags(f Flags) *Message {
	m.Flags |= f
	return m
}

// Size is the number of bytes the message adds to a session's replay buffer.
func (m *Message) Size() int { return len(m.Type) + len(m.Frame) + 32 }

// Data returns the message's data member as raw JSON (a copy-free sub-slice).
func (m *Message) Data() json.RawMessage {
	// Frame = `"type":<json string>,"data":<data>}`
	i := bytes.Index(m.Frame, []byte(`,"data":`))
	if i < 0 {
		return nil
	}
	return json.RawMessage(m.Frame[i+len(`,"data":`) : len(m.Frame)-1])
}

// NewMessage encodes data once as an event of type typ. It fails only when
// data cannot be marshalled to JSON.
func NewMessage(typ string, data any) (*Message, error) {
	raw, err := json.Marshal(data) // encoding/json escapes <, >, &, U+2028/9 by default
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	return frame(typ, raw), nil
}

// MustMessage is NewMessage for data that always marshals (structs of plain
// fields); it panics only on a programming error.
func MustMessage(typ string, data any) *Message {
	m, err := NewMessage(typ, data)
	if err != nil {
		panic(err)
	}
	return m
}

// RawMessage wraps data that is already JSON (for example a diff encoded by
// the game loop). The bytes are made HTML-safe; data that is not valid JSON is
// rejected so a broken encoder cannot corrupt a stream.
func RawMessage(typ string, data []byte) (*Message, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("encode %s: data is not valid JSON", typ)
	}
	var safe bytes.Buffer
	safe.Grow(len(data) + 16)
	json.HTMLEscape(&safe, data)
	return frame(typ, safe.Bytes()), nil
}

func frame(typ string, data []byte) *Message {
	t, _ := json.Marshal(typ) // a string always marshals
	b := make([]byte, 0, len(`"type":,"data":}`)+len(t)+len(data))
	b = append(b, `"type":`...)
	b = append(b, t...)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, '}')
	return &Message{Type: typ, Frame: b}
}

// AppendEvent appends the complete event object `{"seq":N,...}` for m to dst.
func AppendEvent(dst []byte, seq uint64, m *Message) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, ',')
	return append(dst, m.Frame...)
}
