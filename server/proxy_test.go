package server

import (
	"fmt"
	"testing"
	"time"

	"comet/internal/nginxtest"
)

// startNginx runs real nginx with a default proxy_pass to upstream (no
// tuning: HTTP/1.0 to the upstream, proxy buffering on).
func startNginx(t *testing.T, upstream string) string {
	addr := fmt.Sprintf("127.0.0.1:%d", nginxtest.FreePort(t))
	nginxtest.Start(t, fmt.Sprintf(`
  server {
    listen %s;
    location / { proxy_pass %s; }
  }`, addr, upstream), addr)
	return "http://" + addr
}

// TestThroughNginxEventsArriveIncrementally checks every streaming transport
// through a default nginx: events must arrive while the response is still
// open (X-Accel-Buffering: no turns nginx's buffering off), not at its end.
func TestThroughNginxEventsArriveIncrementally(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Hub.Heartbeat = 300 * time.Millisecond })
	proxy := startNginx(t, ts.URL)
	for _, tr := range streamTransports {
		t.Run(tr, func(t *testing.T) {
			c := newClient(t, proxy)
			st := c.open(tr, 0)
			defer st.close()
			st.waitType(t, "lobby.rooms", 5*time.Second)
			for i := 1; i <= 3; i++ {
				c.send("sys.ping", map[string]any{"t": i})
				ev := st.waitType(t, "sys.pong", 3*time.Second)
				if string(ev.Data) != fmt.Sprintf(`{"t":%d}`, i) {
					t.Fatalf("pong %s, want t=%d", ev.Data, i)
				}
			}
			select {
			case err := <-st.done:
				t.Fatalf("stream ended (%v): events were not incremental", err)
			default:
			}
			// Heartbeats pass through too, so a client can tell a live stream.
			deadline := time.After(3 * time.Second)
			for {
				select {
				case b := <-st.batches:
					if len(b) == 0 {
						return
					}
				case <-deadline:
					t.Fatal("no heartbeat through nginx")
				}
			}
		})
	}
}
