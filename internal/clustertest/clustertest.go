// Package clustertest runs a Comet cluster of real processes for tests:
// nats-server built from the nats-server/v2 module in go.mod (JetStream on,
// a temp store), a throwaway PostgreSQL (internal/pgtest), N `comet serve`
// processes built from cmd/comet, and nginx round-robin in front of them
// with docs/deploy/nginx-cluster.conf (internal/nginxtest.StartCluster).
//
// Every helper is bounded in time and stops what it started when its test
// ends. Binaries are built once per test process into a temp dir that Main
// removes (or the next test process, if this one was killed).
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NATSModule is the main package of nats-server, built from the version
// go.mod requires (Debian's nats-server 2.9 has no per-key TTL).
const NATSModule = "github.com/nats-io/nats-server/v2"

// CometPackage is the main package of the comet binary.
const CometPackage = "comet/cmd/comet"

// buildTimeout bounds one `go build` (a cold module cache compiles nats-server
// in about a minute on two cores).
const buildTimeout = 5 * time.Minute

var builds struct {
	sync.Mutex
	dir  string
	bins map[string]*buildResult
}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// Build compiles the main package pkg (an import path inside this module's
// build list) once per test process and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	path, err := build(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// NATSServer builds nats-server from NATSModule (once) and returns its path.
func NATSServer(t testing.TB) string { t.Helper(); return Build(t, NATSModule) }

// Comet builds the comet binary (once) and returns its path.
func Comet(t testing.TB) string { t.Helper(); return Build(t, CometPackage) }

func build(pkg string) (string, error) {
	builds.Lock()
	if builds.bins == nil {
		builds.bins = map[string]*buildResult{}
	}
	r := builds.bins[pkg]
	if r == nil {
		r = &buildResult{}
		builds.bins[pkg] = r
	}
	builds.Unlock()
	r.once.Do(func() {
		dir, err := binDir()
		if err != nil {
			r.err = err
			return
		}
		name := filepath.Base(pkg)
		if pkg == NATSModule {
			name = "nats-server"
		}
		r.path = filepath.Join(dir, name)
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", r.path, pkg)
		cmd.WaitDelay = time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			r.err = fmt.Errorf("clustertest: go build %s (offline it needs the module cache, else GOPROXY): %w\n%s", pkg, err, out)
		}
	})
	return r.path, r.err
}

// ownerFile, in the binaries' temp dir, holds the pid of the test process.
const ownerFile = "owner.pid"

// binDir is this process's folder of built binaries, made on first use. It
// first removes the folders of earlier test processes that no longer run.
func binDir() (string, error) {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir != "" {
		return builds.dir, nil
	}
	reapOrphans()
	dir, err := os.MkdirTemp("", "clustertest-bin")
	if err != nil {
		return "", fmt.Errorf("clustertest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", fmt.Errorf("clustertest: %w", err)
	}
	builds.dir = dir
	return dir, nil
}

// reapOrphans removes the temp dirs of test processes that died (a test
// binary killed on timeout never ran Main's clean-up).
func reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "clustertest-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// Main runs the tests and then removes the binaries they built; call it
// from TestMain as os.Exit(clustertest.Main(m)). Without it the folder is
// removed by the next test process that builds.
func Main(m *testing.M) int {
	code := m.Run()
	builds.Lock()
	dir := builds.dir
	builds.dir, builds.bins = "", nil
	builds.Unlock()
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	return code
}

// FreeAddr returns "127.0.0.1:port" for a loopback port nobody listens on
// right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitTCP waits until addr accepts a TCP connection, the process exits
// (exited is closed) or the deadline passes.
func waitTCP(addr string, exited <-chan struct{}, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		default:
		}
		if time.Now().After(end) {
			return fmt.Errorf("nothing listens on %s after %v: %w", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
