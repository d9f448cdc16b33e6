package cluster

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"comet"
	"comet/server/push"
)

// A relay batch crosses NATS in one of two encodings. The first one built
// is a JSON array of mirrorItem, every event carrying its own frame in
// base64. The raw encoding, which an edge asks for in its relayRequest
// (Enc: relayEncRaw), sends each distinct frame of a batch once, as raw
// bytes: a room's diff is one frame shared by every viewer of the same
// view, and with 99 relayed players the JSON batch carried it 99 times,
// each a third larger in base64. A home that predates the raw encoding ignores Enc and
// sends JSON, which the edge still reads, so nodes of both kinds relay to
// each other during a rolling deploy.
//
// A raw batch is: the byte batchRaw, a big-endian uint32 n, n bytes of
// JSON (rawHeader), then the frames back to back in the header's order.

// relayEncRaw is the relayRequest.Enc an edge sends to get raw batches.
const relayEncRaw = "raw"

// batchRaw opens a raw batch; a JSON batch opens with '[' (or "null").
const batchRaw = 2

// rawHeader lists a raw batch's frames by length, and its items whose
// events name their frame by index into Frames.
type rawHeader struct {
	Frames []int     `json:"frames"`
	Items  []rawItem `json:"items"`
}

// rawItem is a mirrorItem whose events name their frames.
type rawItem struct {
	SID    string     `json:"sid"`
	ID     string     `json:"id"`
	Prev   uint64     `json:"prev,omitempty"`
	Events []rawEvent `json:"events,omitempty"`
	End    bool       `json:"end,omitempty"`
}

type rawEvent struct {
	Seq   uint64      `json:"seq"`
	Type  string      `json:"type"`
	Frame int         `json:"f"`
	Flags comet.Flags `json:"flags,omitempty"`
}

// frameKey identifies a frame by its backing array: the sessions of one
// home given the same message share the same bytes, so sharing is found
// without comparing contents.
type frameKey struct {
	p *byte
	n int
}

// encodeBatch encodes items for an edge, raw or as JSON.
func encodeBatch(items []mirrorItem, raw bool) ([]byte, error) {
	if !raw {
		return json.Marshal(items)
	}
	var h rawHeader
	var frames [][]byte
	size := 0
	index := map[frameKey]int{}
	h.Items = make([]rawItem, len(items))
	for i, it := range items {
		ri := rawItem{SID: it.SID, ID: it.ID, Prev: it.Prev, End: it.End}
		if len(it.Events) > 0 {
			ri.Events = make([]rawEvent, len(it.Events))
		}
		for j, e := range it.Events {
			k := frameKey{n: len(e.Frame)}
			if len(e.Frame) > 0 {
				k.p = &e.Frame[0]
			}
			f, ok := index[k]
			if !ok {
				f = len(frames)
				index[k] = f
				frames = append(frames, e.Frame)
				h.Frames = append(h.Frames, len(e.Frame))
				size += len(e.Frame)
			}
			ri.Events[j] = rawEvent{Seq: e.Seq, Type: e.Type, Frame: f, Flags: e.Flags}
		}
		h.Items[i] = ri
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 5+len(hb)+size)
	b = append(b, batchRaw)
	b = binary.BigEndian.AppendUint32(b, uint32(len(hb)))
	b = append(b, hb...)
	for _, f := range frames {
		b = append(b, f...)
	}
	return b, nil
}

// errBadBatch is returned by decodeBatch for a batch it cannot read.
var errBadBatch = errors.New("cluster: bad relay batch")

// decodeBatch reads a batch in either encoding. A raw batch's frames are
// copied out of data once each, so events that shared a frame at the home
// share one copy here too, and data itself is not kept.
func decodeBatch(data []byte) ([]mirrorItem, error) {
	if len(data) == 0 || data[0] != batchRaw {
		var items []mirrorItem
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, fmt.Errorf("%w: %w", errBadBatch, err)
		}
		return items, nil
	}
	if len(data) < 5 {
		return nil, fmt.Errorf("%w: %d bytes", errBadBatch, len(data))
	}
	n := binary.BigEndian.Uint32(data[1:5])
	if uint64(n) > uint64(len(data)-5) {
		return nil, fmt.Errorf("%w: header of %d bytes in %d", errBadBatch, n, len(data))
	}
	var h rawHeader
	if err := json.Unmarshal(data[5:5+n], &h); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadBatch, err)
	}
	rest := data[5+n:]
	frames := make([][]byte, len(h.Frames))
	for i, l := range h.Frames {
		if l < 0 || l > len(rest) {
			return nil, fmt.Errorf("%w: frame %d of %d bytes, %d left", errBadBatch, i, l, len(rest))
		}
		frames[i] = append([]byte(nil), rest[:l]...)
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the frames", errBadBatch, len(rest))
	}
	items := make([]mirrorItem, len(h.Items))
	for i, ri := range h.Items {
		it := mirrorItem{SID: ri.SID, ID: ri.ID, Prev: ri.Prev, End: ri.End}
		if len(ri.Events) > 0 {
			it.Events = make([]push.SavedEvent, len(ri.Events))
		}
		for j, e := range ri.Events {
			if e.Frame < 0 || e.Frame >= len(frames) {
				return nil, fmt.Errorf("%w: event %d names frame %d of %d", errBadBatch, e.Seq, e.Frame, len(frames))
			}
			it.Events[j] = push.SavedEvent{Seq: e.Seq, Type: e.Type, Frame: frames[e.Frame], Flags: e.Flags}
		}
		items[i] = it
	}
	return items, nil
}
