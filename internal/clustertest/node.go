package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"comet/internal/pgtest"
)

// Node start and stop bounds: a node bundles its frontend and migrates its
// database before it listens; a drain ends within 10 s plus the hand-over.
const (
	nodeStartTimeout = 60 * time.Second
	nodeStopTimeout  = 30 * time.Second
)

// Node is one `comet serve` process on a free loopback port.
type Node struct {
	Name string // its --node name ("" for a single node)
	Addr string // 127.0.0.1:port
	URL  string // http://Addr

	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit error, valid after done
}

// StartNode starts bin (see Comet) as `serve --addr <free port> args…` and
// waits until its /healthz answers 200. It is killed (SIGKILL) when the test
// ends if it still runs. A start that fails or exits fails the test with
// the node's log.
func StartNode(t testing.TB, bin, name string, args ...string) *Node {
	t.Helper()
	return StartNodeAt(t, bin, name, FreeAddr(t), args...)
}

// StartNodeAt is StartNode on addr: a node restarted where its
// predecessor listened, behind the same load balancer.
func StartNodeAt(t testing.TB, bin, name, addr string, args ...string) *Node {
	t.Helper()
	return startNodeAt(t, t, bin, name, addr, args...)
}

// startNodeAt is StartNodeAt whose node is killed when owner ends, which
// may outlive t (a node restarted by a subtest serves the next ones).
func startNodeAt(t, owner testing.TB, bin, name, addr string, args ...string) *Node {
	t.Helper()
	n := &Node{Name: name, Addr: addr, logs: &syncBuffer{}, done: make(chan struct{})}
	n.URL = "http://" + n.Addr
	n.cmd = exec.Command(bin, append([]string{"serve", "--addr", n.Addr}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { n.err = n.cmd.Wait(); close(n.done) }()
	owner.Cleanup(func() {
		_ = n.cmd.Process.Kill()
		select {
		case <-n.done:
		case <-time.After(nodeStopTimeout):
			t.Errorf("node %s still running %v after SIGKILL", n.Name, nodeStopTimeout)
		}
	})
	if err := n.WaitHealthy(nodeStartTimeout); err != nil {
		t.Fatalf("node %s: %v\n%s", n.Name, err, n.Log())
	}
	return n
}

// Log is what the node wrote to standard output and error so far.
func (n *Node) Log() string { return n.logs.String() }

// Done is closed when the process has exited.
func (n *Node) Done() <-chan struct{} { return n.done }

// Health asks the node's /healthz and returns its status and body.
func (n *Node) Health() (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// WaitHealthy polls /healthz until it answers 200, the process exits or
// timeout passes.
func (n *Node) WaitHealthy(timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for {
		code, body, err := n.Health()
		if err == nil && code == http.StatusOK {
			return nil
		}
		select {
		case <-n.done:
			return fmt.Errorf("exited (%v) before /healthz answered 200", n.err)
		default:
		}
		if time.Now().After(end) {
			if err == nil {
				err = fmt.Errorf("/healthz %d %s", code, strings.TrimSpace(body))
			}
			return fmt.Errorf("not healthy after %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill ends the node with SIGKILL (a crash: no drain, no hand-over) and
// waits for it to exit.
func (n *Node) Kill() error {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-n.done:
		return nil
	case <-time.After(nodeStopTimeout):
		return fmt.Errorf("node %s still running %v after SIGKILL", n.Name, nodeStopTimeout)
	}
}

// Term sends SIGTERM (a drain) and waits for the node to exit; an exit
// other than 0, or none within nodeStopTimeout, is an error naming the log.
func (n *Node) Term() error {
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("node %s: SIGTERM: %w", n.Name, err)
	}
	select {
	case <-n.done:
		if n.err != nil {
			return fmt.Errorf("node %s exited after SIGTERM: %w\n%s", n.Name, n.err, n.Log())
		}
		return nil
	case <-time.After(nodeStopTimeout):
		return fmt.Errorf("node %s still running %v after SIGTERM\n%s", n.Name, nodeStopTimeout, n.Log())
	}
}

// MissingFlags runs `bin serve -h` and returns the flags of want (e.g.
// "--nats") it does not list: what the binary in this tree cannot do yet.
func MissingFlags(t testing.TB, bin string, want ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "serve", "-h").CombinedOutput() // -h exits 0 or 2 by flag package
	if !bytes.Contains(out, []byte("-addr")) {
		t.Fatalf("%s serve -h printed no flag list:\n%s", bin, out)
	}
	var missing []string
	for _, f := range want {
		listed := regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(strings.TrimLeft(f, "-")) + `(\s|$)`)
		if !listed.Match(out) {
			missing = append(missing, f)
		}
	}
	return missing
}

// Postgres starts a throwaway PostgreSQL cluster (internal/pgtest: initdb,
// fsync off, a unix socket in a temp dir, as the postgres user under root)
// with one fresh database, and returns its postgres:// URL; all of it is
// removed when the test ends. It skips t when COMET_SKIP_POSTGRES=1 and
// fails it, naming the Debian package, when PostgreSQL is not installed.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if os.Getenv(pgtest.SkipEnv) == "1" {
		t.Skip(pgtest.SkipEnv + "=1: PostgreSQL tests skipped")
	}
	c, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	_, dsn, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}
