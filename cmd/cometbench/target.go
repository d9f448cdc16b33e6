package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// target is a server under test: where it listens and which process to
// measure through /proc.
type target struct {
	Name string
	Base string // http://127.0.0.1:port
	Pid  int
	http *http.Client
	stop func() error
}

func newTarget(name, base string, pid int, stop func() error) *target {
	return &target{Name: name, Base: base, Pid: pid, stop: stop,
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
}

// sample reads the target process's RSS and CPU.
func (t *target) sample() (procSample, error) { return sampleProc(t.Pid) }

// metrics scrapes the target's /metrics.
func (t *target) metrics(ctx context.Context) (promSet, error) { return scrape(ctx, t.http, t.Base) }

// Close stops the target (when the bench started it).
func (t *target) Close() error {
	t.http.CloseIdleConnections()
	if t.stop == nil {
		return nil
	}
	return t.stop()
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
}

// startProc starts a server process listening on addr and waits until
// readyPath answers 200.
func startProc(ctx context.Context, name, logPath, addr, readyPath string, exe string, args []string, env []string) (*target, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); logf.Close(); close(exited) }()
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				stopErr = fmt.Errorf("%s did not stop within 20s; killed", name)
			}
		})
		return stopErr
	}
	t := newTarget(name, "http://"+addr, cmd.Process.Pid, stop)
	deadline := time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.Base+readyPath, nil)
		resp, err := t.http.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return t, nil
			}
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("%s exited before it was ready (%v): %s", name, waitErr, tail(logPath))
		case <-ctx.Done():
			_ = stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = stop()
			return nil, fmt.Errorf("%s not ready within 90s: %s", name, tail(logPath))
		}
	}
}

// tail returns the end of a log file for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(bytes.TrimSpace(b))
}

// repoRoot finds the comet module's root from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module comet\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repo: no go.mod of module comet above the working directory")
		}
		dir = parent
	}
}

// buildComet builds ./cmd/comet into dir and returns the binary's path.
func buildComet(ctx context.Context, repo, dir string) (string, error) {
	out := filepath.Join(dir, "comet")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/comet")
	cmd.Dir = repo
	cmd.WaitDelay = 5 * time.Second // the compiler's children may hold the output pipe
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/comet: %w: %s", err, b)
	}
	return out, nil
}

// startComet runs the comet binary on a fresh database in dir.
func startComet(ctx context.Context, bin, dir, name string) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	db := filepath.Join(dir, name+".db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(db + suffix)
	}
	return startProc(ctx, name, filepath.Join(dir, name+".log"), addr, "/healthz", bin,
		// The per-address abuse limits are off: every client of the bench comes
		// from a few loopback addresses.
		[]string{"serve", "--addr", addr, "--db", db, "--log-level", "warn", "--sessions-per-minute", "-1", "--streams-per-ip", "-1", "--sessions-per-ip", "-1", "--rooms-per-minute", "-1", "--chat-per-ip-per-minute", "-1"}, nil)
}

// startSelf runs this program in one of its server modes (naive-server,
// raw-writer) as a child process.
func startSelf(ctx context.Context, dir, mode string, extra ...string) (*target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", mode, err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{mode, "--addr", addr}, extra...)
	return startProc(ctx, mode, filepath.Join(dir, mode+".log"), addr, "/healthz", exe, args, []string{childEnv + "=1"})
}
