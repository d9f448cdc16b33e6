package server

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nginxBinary finds Debian's nginx; `make test` installs it when missing.
func nginxBinary(t *testing.T) string {
	for _, p := range []string{os.Getenv("NGINX_PATH"), "/usr/sbin/nginx"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	t.Fatal("the proxy test needs nginx: install the Debian package 'nginx' (make test does this as root)")
	return ""
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNginx runs nginx in the foreground with a default proxy_pass to
// upstream (no tuning: HTTP/1.0 to the upstream, proxy buffering on).
func startNginx(t *testing.T, upstream string) string {
	bin := nginxBinary(t)
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[2]d;
    location / { proxy_pass %[3]s; }
  }
}
`, dir, port, upstream)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	checkFor(t, 10*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
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
