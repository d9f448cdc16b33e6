package nginxtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestStartServesAndStops: nginx serves the given http block on the given
// port, writes its own error log, and is gone when its test ends.
func TestStartServesAndStops(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	t.Run("running", func(t *testing.T) {
		n := Start(t, fmt.Sprintf(`
  server {
    listen %s;
    location / { return 200 "hello from nginx\n"; }
  }`, addr), addr)
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "hello from nginx\n" || !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
			t.Fatalf("%d %q (Server %q)", resp.StatusCode, body, resp.Header.Get("Server"))
		}
		if n.Dir == "" {
			t.Fatal("no prefix directory")
		}
	})
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the test that started nginx ended", addr)
	}
}

// TestStartClusterRoundRobin: docs/deploy/nginx-cluster.conf with two
// backends passes requests to each in turn (no stickiness, even on one
// kept-alive connection with the same client), streams a response as it
// is written (no buffering), passes a WebSocket's Upgrade on, and skips a
// backend that answers 503 or refuses connections.
func TestStartClusterRoundRobin(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	backend := func(name string) *httptest.Server {
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if name == "b" && !healthy.Load() {
				http.Error(w, "draining", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, "%s %s %s", name, r.Header.Get("Upgrade"), r.Header.Get("Connection"))
		})
		mux.HandleFunc("/comet/stream", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "first\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // held until the client goes
		})
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv
	}
	a, b := backend("a"), backend("b")
	n := StartCluster(t, a.Listener.Addr().String(), b.Listener.Addr().String())
	c := n.HTTP1Client()
	get := func(path string, h http.Header) string {
		t.Helper()
		req, _ := http.NewRequest("GET", n.HTTPS+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s\n%s", path, resp.StatusCode, body, n.ErrorLog())
		}
		return string(body)
	}
	var seen []string
	for range 6 {
		seen = append(seen, strings.Fields(get("/", nil))[0])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			t.Fatalf("backends in turn: %v, want a and b alternating", seen)
		}
	}
	// /comet/ passes the upgrade on.
	if got := get("/comet/x", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}); !strings.HasSuffix(got, " websocket upgrade") {
		t.Fatalf("backend saw %q, want the Upgrade passed on", got)
	}
	// A held stream's first bytes arrive while the backend still holds it.
	resp, err := c.Get(n.HTTPS + "/comet/stream")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if err != nil || line != "first\n" {
		t.Fatalf("stream's first line %q, %v: buffered by nginx?", line, err)
	}
	// A backend answering 503 is skipped for the other.
	healthy.Store(false)
	for range 4 {
		if got := get("/", nil); !strings.HasPrefix(got, "a ") {
			t.Fatalf("with b answering 503: %q, want every request on a", got)
		}
	}
	// A backend that refuses connections (a killed node) is skipped too.
	healthy.Store(true)
	b.Close()
	for range 4 {
		if got := get("/", nil); !strings.HasPrefix(got, "a ") {
			t.Fatalf("with b gone: %q, want every request on a", got)
		}
	}
}
