package nginxtest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
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
