package cluster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"comet"
	"comet/server/push"
)

// batchItems is a round of three relayed sessions: two given the same diff
// (one frame, shared as the home shares it), one its own, and an ended relay.
func batchItems() (items []mirrorItem, shared []byte) {
	shared = []byte(`"type":"room.diff","data":{"t":7,"a":[[1,"p",1,2]]}}`)
	own := []byte(`"type":"room.diff","data":{"t":7,"a":[[2,"p",3,4]]}}`)
	chat := []byte(`"type":"chat.message","data":{"text":"hi"}}`)
	items = []mirrorItem{
		{SID: "s1", ID: "r1", Prev: 4, Events: []push.SavedEvent{
			{Seq: 5, Type: "room.diff", Frame: shared, Flags: comet.Droppable},
			{Seq: 6, Type: "chat.message", Frame: chat},
		}},
		{SID: "s2", ID: "r2", Prev: 9, Events: []push.SavedEvent{{Seq: 10, Type: "room.diff", Frame: shared, Flags: comet.Droppable}}},
		{SID: "s3", ID: "r3", Events: []push.SavedEvent{{Seq: 1, Type: "room.diff", Frame: own, Flags: comet.Droppable}}},
		{SID: "s4", ID: "r4", End: true},
	}
	return items, shared
}

// A raw batch carries a frame shared by several sessions once, decodes to
// the same items, and the sessions share one copy of it on the edge.
func TestRawBatchSendsSharedFrameOnce(t *testing.T) {
	items, shared := batchItems()
	raw, err := encodeBatch(items, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(raw, shared); n != 1 {
		t.Fatalf("the shared frame is in the raw batch %d times, want once", n)
	}
	js, err := encodeBatch(items, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) >= len(js) {
		t.Fatalf("raw batch %d bytes, JSON %d: no smaller", len(raw), len(js))
	}
	got, err := decodeBatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, items) {
		t.Fatalf("raw round trip:\n got %+v\nwant %+v", got, items)
	}
	a, b := got[0].Events[0].Frame, got[1].Events[0].Frame
	if &a[0] != &b[0] {
		t.Fatal("the shared frame was copied once per session on the edge")
	}
	if &a[0] == &raw[bytes.Index(raw, shared)] {
		t.Fatal("decoded frames point into the batch's buffer (it would be kept whole)")
	}
}

// An edge reads a JSON batch too: what a home built before the raw
// encoding sends (it ignores relayRequest.Enc).
func TestJSONBatchStillRead(t *testing.T) {
	items, _ := batchItems()
	js, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeBatch(js)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, items) {
		t.Fatalf("JSON batch:\n got %+v\nwant %+v", got, items)
	}
	var req relayRequest
	if err := json.Unmarshal([]byte(`{"sid":"s","id":"i","edge":"n2","enc":"raw"}`), &req); err != nil || req.Enc != relayEncRaw {
		t.Fatalf("relay request's enc: %+v, %v", req, err)
	}
}

// A damaged batch is refused with errBadBatch, never a panic or a frame
// read past the end.
func TestBadBatchRefused(t *testing.T) {
	items, _ := batchItems()
	good, err := encodeBatch(items, true)
	if err != nil {
		t.Fatal(err)
	}
	hlen := binary.BigEndian.Uint32(good[1:5])
	withHeader := func(h string, frames string) []byte {
		b := binary.BigEndian.AppendUint32([]byte{batchRaw}, uint32(len(h)))
		return append(append(b, h...), frames...)
	}
	cases := map[string][]byte{
		"empty":              {},
		"json garbage":       []byte(`[{"sid":`),
		"raw, no length":     {batchRaw, 0, 0},
		"header past end":    good[:5+hlen-1],
		"frames cut short":   good[:len(good)-1],
		"bytes after":        append(append([]byte(nil), good...), 'x'),
		"header not json":    withHeader(`{"frames":[1`, "x"),
		"negative frame":     withHeader(`{"frames":[-1],"items":[]}`, ""),
		"frame out of range": withHeader(`{"frames":[1],"items":[{"sid":"s","id":"i","events":[{"seq":1,"type":"x","f":1}]}]}`, "x"),
		"negative index":     withHeader(`{"frames":[1],"items":[{"sid":"s","id":"i","events":[{"seq":1,"type":"x","f":-1}]}]}`, "x"),
	}
	for name, b := range cases {
		if _, err := decodeBatch(b); !errors.Is(err, errBadBatch) {
			t.Errorf("%s: err %v, want errBadBatch", name, err)
		}
	}
}
