package server

import (
	"io"
	"log/slog"
	"testing"

	"comet"
	"comet/server/bus"
)

func benchHub(b *testing.B) *Hub {
	h := NewHub(HubConfig{Bus: bus.New(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b.Cleanup(h.Close)
	return h
}

// BenchmarkSessionSend is the cost of numbering one event into one session
// with no stream attached (buffered for replay).
func BenchmarkSessionSend(b *testing.B) {
	h := benchHub(b)
	s := h.NewSession(&comet.Player{ID: "p", Name: "P"})
	m := comet.MustMessage("chat.msg", map[string]string{"text": "hello"})
	b.ReportAllocs()
	for b.Loop() {
		s.Send(m)
	}
}

// BenchmarkBroadcast15k publishes one message to a topic of 15,000 sessions
// (no streams attached): the fan-out cost of a lobby chat line, per publish.
func BenchmarkBroadcast15k(b *testing.B) {
	h := benchHub(b)
	for i := 0; i < 15000; i++ {
		h.NewSession(&comet.Player{ID: "p", Name: "P"}).Subscribe(comet.TopicLobby)
	}
	m := comet.MustMessage("chat.msg", map[string]string{"text": "hello"})
	b.ReportAllocs()
	for b.Loop() {
		h.bus.Publish(comet.TopicLobby, m)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/15000, "ns/delivery")
}

// BenchmarkFrameBatch is one flush's framing of a 16-event batch per transport.
func BenchmarkFrameBatch(b *testing.B) {
	evs := make([]event, 16)
	for i := range evs {
		evs[i] = event{seq: uint64(1000 + i), msg: comet.MustMessage("room.diff", map[string]any{"t": i, "c": [][]int{{1, 0, 23, 1, 45}}})}
	}
	for _, tr := range fixedTransports() {
		b.Run(tr.name(), func(b *testing.B) {
			buf := make([]byte, 0, 8192)
			b.ReportAllocs()
			for b.Loop() {
				buf = tr.appendBatch(buf[:0], evs)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}
