// Package nginxtest runs a real nginx for tests: Debian's binary in the
// foreground, one process, its configuration, logs, pid file and temp paths
// in a temp dir, listening only where the test says, and stopped when the
// test ends.
//
// When nginx is not installed the test fails naming the Debian package
// (`make deps` installs it as root).
package nginxtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Package is the Debian package that provides nginx.
const Package = "nginx"

// startTimeout bounds nginx's start; stopTimeout its graceful stop.
const (
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
)

// Binary returns nginx's path: $NGINX_PATH, /usr/sbin/nginx (Debian), or
// PATH. The error names the Debian package to install.
func Binary() (string, error) {
	for _, p := range []string{os.Getenv("NGINX_PATH"), "/usr/sbin/nginx"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the proxy tests need nginx: install the Debian package %q (apt-get install -y %s; make test does this as root), or set NGINX_PATH", Package, Package)
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Nginx is a running nginx.
type Nginx struct {
	Dir string // its prefix: nginx.conf, error.log, temp paths
	cmd *exec.Cmd
}

// Start runs nginx with http as the contents of its http block (maps,
// upstreams, server blocks; temp paths and logs are set already) and waits
// until every address in listen accepts TCP connections. It is stopped
// (SIGTERM, then SIGKILL) when the test ends. A configuration nginx refuses
// fails the test with nginx's error log.
func Start(t testing.TB, http string, listen ...string) *Nginx {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, http)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &Nginx{Dir: dir}
	n.cmd = exec.Command(bin, "-c", path, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	n.cmd.Stderr = os.Stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- n.cmd.Wait() }()
	t.Cleanup(func() { n.stop(exited) })
	end := time.Now().Add(startTimeout)
	for _, addr := range listen {
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			select {
			case werr := <-exited:
				exited <- werr // for stop
				t.Fatalf("nginx exited (%v) before listening on %s:\n%s", werr, addr, n.ErrorLog())
			default:
			}
			if time.Now().After(end) {
				t.Fatalf("nginx not listening on %s after %v: %v\n%s", addr, startTimeout, err, n.ErrorLog())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return n
}

// ErrorLog is what nginx wrote to its error log so far.
func (n *Nginx) ErrorLog() string {
	b, err := os.ReadFile(filepath.Join(n.Dir, "error.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err.Error()
	}
	return string(b)
}

// stop asks nginx to stop (SIGTERM: a fast shutdown) and kills it if it
// has not within stopTimeout.
func (n *Nginx) stop(exited chan error) {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = n.cmd.Process.Kill()
		<-exited
	}
}
