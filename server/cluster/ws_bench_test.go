package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"comet/internal/check"
)

// BenchmarkWebSocketLanded measures a lobby line's broadcast to 200
// WebSockets whose sessions were opened on node a, in three set-ups on a
// fresh three-node cluster each: "home", the sockets opened on a itself
// (the baseline: no hop between nodes); "moved", opened on b with WSMove,
// which takes each session from a (cluster_ws.go); "relayed", opened on b
// (the default), each session's events relayed from a. ns/op is from the
// line's POST on a until the last socket had it; nats-msgs/op and
// nats-KiB/op are what nats-server delivered meanwhile (in-process).
//
//	go test -run '^$' -bench BenchmarkWebSocketLanded -benchtime 40x ./server/cluster/
func BenchmarkWebSocketLanded(b *testing.B) {
	const sockets = 200
	for _, mode := range []string{"home", "moved", "relayed"} {
		b.Run(mode, func(b *testing.B) {
			ns := startNATS(b)
			nodes := threeNodesOn(b, ns, func(o *nodeSetup) {
				o.server.WSMove = mode == "moved"
				o.server.Abuse.ChatPerIPPerMinute = -1 // every speaker on one address
			})
			at := nodes[1]
			if mode == "home" {
				at = nodes[0]
			}
			counts := make([]atomic.Int32, b.N)
			done := make([]chan struct{}, b.N)
			for i := range done {
				done[i] = make(chan struct{})
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var readers sync.WaitGroup
			clients := make([]*client, sockets)
			for i := range clients {
				c := newClient(b, nodes[0])
				clients[i] = c
				conn := c.ws(at)
				readers.Go(func() { countLines(ctx, conn, counts, done, sockets) })
			}
			defer readers.Wait()
			defer cancel()
			want := map[string]string{"home": "a", "moved": "b", "relayed": "a"}[mode]
			check.For(b, 30*time.Second, func() error {
				for _, c := range clients {
					if h, _ := home(b, nodes[2], c.sid); h != want {
						return fmt.Errorf("%s: a session homed on %q, want %q", mode, h, want)
					}
				}
				return nil
			})
			speakers := make([]*client, b.N) // one line each: the chat rate is per player
			for i := range speakers {
				speakers[i] = newClient(b, nodes[0])
			}
			before, err := ns.Varz(nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				speakers[i].say(nodes[0], fmt.Sprintf("line %d", i))
				select {
				case <-done[i]:
				case <-time.After(20 * time.Second):
					b.Fatalf("line %d reached %d of %d sockets", i, counts[i].Load(), sockets)
				}
			}
			b.StopTimer()
			after, err := ns.Varz(nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(after.OutMsgs-before.OutMsgs)/float64(b.N), "nats-msgs/op")
			b.ReportMetric(float64(after.OutBytes-before.OutBytes)/1024/float64(b.N), "nats-KiB/op")
		})
	}
}

// countLines reads conn's batches until ctx ends, counting each "line N"
// chat line once per socket; done[N] closes when all sockets had it.
func countLines(ctx context.Context, conn *websocket.Conn, counts []atomic.Int32, done []chan struct{}, sockets int32) {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var evs []event
		if json.Unmarshal(data, &evs) != nil {
			continue
		}
		for _, e := range evs {
			if e.Type != "chat.msg" {
				continue
			}
			var m struct{ Text string }
			var n int
			if json.Unmarshal(e.Data, &m) != nil || !strings.HasPrefix(m.Text, "line ") {
				continue
			}
			if _, err := fmt.Sscanf(m.Text, "line %d", &n); err != nil || n < 0 || n >= len(counts) {
				continue
			}
			if counts[n].Add(1) == sockets {
				close(done[n])
			}
		}
	}
}
