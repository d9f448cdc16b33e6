package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"comet/internal/pgtest"
)

// The processes of a cluster measurement: nats-server built from the
// nats-server/v2 module go.mod requires (JetStream on, its monitoring port
// for /varz), one throwaway PostgreSQL (internal/pgtest: initdb, fsync off,
// as the postgres user under root) and N `comet serve` nodes.

// natsModule is nats-server's main package (Debian's 2.9 lacks per-key TTL).
const natsModule = "github.com/nats-io/nats-server/v2"

// buildNATS builds nats-server from the module cache into dir.
func buildNATS(ctx context.Context, repo, dir string) (string, error) {
	out := filepath.Join(dir, "nats-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, natsModule)
	cmd.Dir = repo
	cmd.WaitDelay = 5 * time.Second
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w: %s", natsModule, err, b)
	}
	return out, nil
}

// natsTarget is a running nats-server: its client URL, and the target of
// its monitoring port (Base answers /varz and /healthz; Pid is the server).
type natsTarget struct {
	*target
	URL string
}

// startNATS starts nats-server with JetStream storing in dir, ready once
// its /healthz (which waits for JetStream) answers 200.
func startNATS(ctx context.Context, bin, dir, name string) (*natsTarget, error) {
	client, err := freeAddr()
	if err != nil {
		return nil, err
	}
	mon, err := freeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := strings.Cut(client, ":")
	_, mport, _ := strings.Cut(mon, ":")
	t, err := startProc(ctx, name, filepath.Join(dir, name+".log"), mon, "/healthz", bin,
		[]string{"-a", host, "-p", port, "-m", mport, "-js", "-sd", filepath.Join(dir, name+"-js"), "-n", name}, nil)
	if err != nil {
		return nil, err
	}
	return &natsTarget{target: t, URL: "nats://" + client}, nil
}

// varz is the part of nats-server's /varz a measurement reads: messages
// and bytes into and out of the server (an out message is one delivery to
// one subscriber).
type varz struct {
	InMsgs   int64 `json:"in_msgs"`
	OutMsgs  int64 `json:"out_msgs"`
	InBytes  int64 `json:"in_bytes"`
	OutBytes int64 `json:"out_bytes"`
}

func (v varz) sub(o varz) varz {
	return varz{v.InMsgs - o.InMsgs, v.OutMsgs - o.OutMsgs, v.InBytes - o.InBytes, v.OutBytes - o.OutBytes}
}

// readVarz reads the counters from the monitoring port.
func (n *natsTarget) readVarz(ctx context.Context) (varz, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.Base+"/varz", nil)
	if err != nil {
		return varz{}, fmt.Errorf("varz: %w", err)
	}
	resp, err := n.http.Do(req)
	if err != nil {
		return varz{}, fmt.Errorf("varz: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return varz{}, fmt.Errorf("varz: status %d: %v", resp.StatusCode, err)
	}
	var v varz
	if err := json.Unmarshal(body, &v); err != nil {
		return varz{}, fmt.Errorf("varz: %w", err)
	}
	return v, nil
}

// startNode runs one cluster node: the comet binary on a free port with
// the shared NATS and PostgreSQL, the per-address abuse limits off (every
// client of the bench comes from a few loopback addresses).
func startNode(ctx context.Context, bin, dir, name, natsURL, dsn string) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return startProc(ctx, name, filepath.Join(dir, name+".log"), addr, "/healthz", bin,
		[]string{"serve", "--addr", addr, "--db", dsn, "--nats", natsURL, "--node", name, "--log-level", "warn",
			"--sessions-per-minute", "-1", "--streams-per-ip", "-1", "--sessions-per-ip", "-1",
			"--rooms-per-minute", "-1", "--chat-per-ip-per-minute", "-1"}, nil)
}

// kill ends a target the bench started with SIGKILL and waits for it: a
// measured node is not drained (its sessions' hand-over is not what is
// measured, and 15,000 of them would take long).
func kill(t *target) {
	if t == nil {
		return
	}
	if t.stop != nil && t.Pid > 0 {
		_ = syscall.Kill(t.Pid, syscall.SIGKILL)
	}
	_ = t.Close()
}

// benchCluster is one cluster under test: NATS, a fresh database on the
// run's PostgreSQL, and its nodes.
type benchCluster struct {
	nats  *natsTarget
	nodes []*target
}

// startCluster starts NATS and n nodes named prefix1…prefixN (buildBins
// first); on an error what started is stopped.
func (b *bench) startCluster(ctx context.Context, pg *pgtest.Cluster, natsBin, prefix string, n int) (*benchCluster, error) {
	_, dsn, err := pg.CreateDatabase(ctx)
	if err != nil {
		return nil, err
	}
	c := &benchCluster{}
	if c.nats, err = startNATS(ctx, natsBin, b.cfg.Work, prefix+"-nats"); err != nil {
		return nil, err
	}
	for i := range n {
		nd, err := startNode(ctx, b.bin, b.cfg.Work, fmt.Sprintf("%s%d", prefix, i+1), c.nats.URL, dsn)
		if err != nil {
			c.close()
			return nil, err
		}
		c.nodes = append(c.nodes, nd)
	}
	return c, nil
}

// close kills the nodes, then stops NATS.
func (c *benchCluster) close() {
	for _, nd := range c.nodes {
		kill(nd)
	}
	if c.nats != nil {
		_ = c.nats.Close()
	}
}

// buildBins builds ./cmd/comet (kept in b.bin) and nats-server; it returns
// nats-server's path.
func (b *bench) buildBins(ctx context.Context) (string, error) {
	repo := b.cfg.Repo
	if repo == "" {
		var err error
		if repo, err = repoRoot(); err != nil {
			return "", err
		}
	}
	if b.bin == "" {
		b.progress("building ./cmd/comet")
		bin, err := buildComet(ctx, repo, b.cfg.Work)
		if err != nil {
			return "", err
		}
		b.bin = bin
	}
	b.progress("building nats-server from %s", natsModule)
	return buildNATS(ctx, repo, b.cfg.Work)
}
