// Package nginxtest runs a real nginx for tests: Debian's binary in the
// foreground, one process, its configuration, logs, pid file and temp paths
// in a temp dir, listening only where the test says, and stopped when the
// test ends. StartDeployed runs the site file docs/deploy/nginx.conf as it
// is, with TLS, so the documented configuration is the tested one.
//
// When nginx is not installed the test fails naming the Debian package
// (`make deps` installs it as root).
package nginxtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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

// Deployed is nginx running docs/deploy/nginx.conf, the site DEPLOY.md tells
// a host to use, with only its ports, certificate and upstream replaced:
// TLS with HTTP/2 (and HTTP/1.1) on HTTPS, the redirect on HTTP.
type Deployed struct {
	*Nginx
	HTTPS, HTTP string            // https://127.0.0.1:port, http://127.0.0.1:port
	Cert        *x509.Certificate // the self-signed certificate nginx serves (127.0.0.1, localhost)
}

// DeployedConf is the site file's path inside the module.
const DeployedConf = "docs/deploy/nginx.conf"

// StartDeployed runs DeployedConf in front of the Comet server at upstream
// ("127.0.0.1:port"), with a fresh self-signed certificate. The test fails
// if the file no longer holds, once each, the lines it replaces.
func StartDeployed(t testing.TB, upstream string) *Deployed {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, DeployedConf))
	if err != nil {
		t.Fatal(err)
	}
	return startSite(t, DeployedConf, string(raw), []replacement{{"server 127.0.0.1:8080;", "server " + upstream + ";"}})
}

type replacement struct{ old, new string }

// startSite runs the site conf (read from file) with its listen lines and
// certificate replaced by free loopback ports and a fresh self-signed
// certificate, and the extra replacements made.
func startSite(t testing.TB, file, conf string, extra []replacement) *Deployed {
	t.Helper()
	cert, certFile, keyFile := SelfSignedCert(t, t.TempDir())
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	plainAddr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	for _, r := range append([]replacement{
		{"listen 443 ssl http2;", "listen " + tlsAddr + " ssl http2;"},
		{"listen 80;", "listen " + plainAddr + ";"},
		{"/etc/letsencrypt/live/game.example.com/fullchain.pem", certFile},
		{"/etc/letsencrypt/live/game.example.com/privkey.pem", keyFile},
	}, extra...) {
		if strings.Count(conf, r.old) != 1 {
			t.Fatalf("%s should hold %q once (the tests replace it); update nginxtest with the file", file, r.old)
		}
		conf = strings.Replace(conf, r.old, r.new, 1)
	}
	n := Start(t, conf, tlsAddr, plainAddr)
	return &Deployed{Nginx: n, HTTPS: "https://" + tlsAddr, HTTP: "http://" + plainAddr, Cert: cert}
}

// moduleRoot is the nearest folder above the working directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("nginxtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// SelfSignedCert writes a P-256 certificate for 127.0.0.1 and localhost,
// signed by its own key, and the key, as PEM files in dir.
func SelfSignedCert(t testing.TB, dir string) (cert *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "comet test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, certFile, keyFile
}

// ClusterConf is the cluster site file's path inside the module: nginx
// round-robin, no stickiness, in front of several Comet nodes.
const ClusterConf = "docs/deploy/nginx-cluster.conf"

// clusterServer matches one node line of ClusterConf's upstream block:
// its indentation, its address and its parameters.
var clusterServer = regexp.MustCompile(`(?m)^([ \t]*)server 10\.0\.0\.\d+:8080((?: [^;\n]*)?);\n`)

// StartCluster runs ClusterConf in front of the Comet nodes at upstreams
// ("127.0.0.1:port" each, in round-robin order), with a fresh self-signed
// certificate: the file's node lines are replaced by one line per upstream
// with the same parameters, and its ports and certificate as in
// StartDeployed. The test fails if the file no longer holds what is replaced.
func StartCluster(t testing.TB, upstreams ...string) *Deployed {
	t.Helper()
	if len(upstreams) == 0 {
		t.Fatal("nginxtest.StartCluster: no upstream")
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, ClusterConf))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	lines := clusterServer.FindAllStringSubmatchIndex(conf, -1)
	if len(lines) < 2 {
		t.Fatalf("%s should list at least two nodes as `server 10.0.0.N:8080 …;` in its upstream (the tests replace them); update nginxtest.StartCluster with the file", ClusterConf)
	}
	first := clusterServer.FindStringSubmatch(conf)
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "%sserver %s%s;\n", first[1], u, first[2])
	}
	conf = conf[:lines[0][0]] + servers.String() + clusterServer.ReplaceAllString(conf[lines[0][0]:], "")
	return startSite(t, ClusterConf, conf, nil)
}

// HTTP1Client is a client that trusts the site's certificate and speaks
// HTTP/1.1 over TLS (as a WebSocket must), one connection per request
// in flight.
func (d *Deployed) HTTP1Client() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(d.Cert)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
		MaxIdleConnsPerHost: 64,
	}}
}
