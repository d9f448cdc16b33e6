package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"sync"
	"time"
)

// Config is one bench run's settings.
type Config struct {
	URL       string        // an external server to measure; empty: build ./cmd/comet and start it
	Pid       int           // the external server's process, for RSS and CPU (0: not measured)
	Repo      string        // the comet module root (found upwards from the working directory when empty)
	Work      string        // scratch directory (a new temp dir when empty)
	PerAgent  int           // streams per client process (default 7,000: under the 20,000 open-file cap)
	InProcess bool          // run agents and baselines in this process (tests)
	Heartbeat time.Duration // the naive baseline's heartbeat (default 25 s, the server's)
	Out       io.Writer     // the report
	Stderr    io.Writer     // children's stderr and progress lines
	Log       *slog.Logger

	// Test hooks: how the servers under test start (default: subprocesses).
	StartComet func(ctx context.Context, name string) (*target, error)
	StartNaive func(ctx context.Context) (*target, error)
	StartRaw   func(ctx context.Context) (*target, error)
}

func (c *Config) setDefaults() {
	if c.PerAgent <= 0 {
		c.PerAgent = 7000
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 25 * time.Second
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
}

// bench is one run: its configuration, the comet binary it built, and the
// rows of the results table.
type bench struct {
	cfg   Config
	log   *slog.Logger
	bin   string
	start time.Time
	load0 string

	mu    sync.Mutex
	rows  []row
	notes []string
}

func newBench(cfg Config) (*bench, error) {
	cfg.setDefaults()
	if cfg.Work == "" {
		dir, err := os.MkdirTemp("", "cometbench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		cfg.Work = dir
	}
	return &bench{cfg: cfg, log: cfg.Log, start: time.Now(), load0: loadAvg()}, nil
}

// progress prints one line of progress to stderr.
func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.cfg.Stderr, "%6.1fs  %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// comet starts (or names) the server under test.
func (b *bench) comet(ctx context.Context, name string) (*target, error) {
	if b.cfg.URL != "" {
		return newTarget("comet", b.cfg.URL, b.cfg.Pid, nil), nil
	}
	if b.cfg.StartComet != nil {
		return b.cfg.StartComet(ctx, name)
	}
	if b.bin == "" {
		repo := b.cfg.Repo
		if repo == "" {
			var err error
			if repo, err = repoRoot(); err != nil {
				return nil, err
			}
		}
		b.progress("building ./cmd/comet")
		bin, err := buildComet(ctx, repo, b.cfg.Work)
		if err != nil {
			return nil, err
		}
		b.bin = bin
	}
	return startComet(ctx, b.bin, b.cfg.Work, name)
}

func (b *bench) naive(ctx context.Context) (*target, error) {
	if b.cfg.StartNaive != nil {
		return b.cfg.StartNaive(ctx)
	}
	return startSelf(ctx, b.cfg.Work, "naive-server", "--heartbeat", b.cfg.Heartbeat.String())
}

func (b *bench) raw(ctx context.Context) (*target, error) {
	if b.cfg.StartRaw != nil {
		return b.cfg.StartRaw(ctx)
	}
	return startSelf(ctx, b.cfg.Work, "raw-writer")
}

// fleet builds the agents for n streams against t; raw targets need no player.
func (b *bench) fleet(ctx context.Context, t *target, n int, raw bool) (*fleet, error) {
	return b.fleetOf(ctx, t, (n+b.cfg.PerAgent-1)/b.cfg.PerAgent, raw)
}

// fleetOf builds a fleet of exactly agents agents.
func (b *bench) fleetOf(ctx context.Context, t *target, agents int, raw bool) (*fleet, error) {
	o := fleetOpts{Agents: agents, InProcess: b.cfg.InProcess, Raw: raw, Stderr: b.cfg.Stderr}
	if !b.cfg.InProcess {
		o.IPsPerAgent = b.cfg.PerAgent/2000 + 1 // ~2,000 ports per source address
	}
	if !raw {
		tok, err := newPlayer(ctx, t.Base)
		if err != nil {
			return nil, err
		}
		o.Token = tok
	}
	return newFleet(ctx, t.Base, o, b.log)
}

// newPlayer creates a guest player and returns its token; every later
// session opened with it belongs to that one player (no 15,000 player rows).
func newPlayer(ctx context.Context, base string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/comet/session", nil)
	if err != nil {
		return "", fmt.Errorf("new player: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("new player: %w", err)
	}
	defer resp.Body.Close()
	var s struct {
		Token string `json:"token"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("new player: status %d: %.100s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &s); err != nil || s.Token == "" {
		return "", fmt.Errorf("new player: no token in %.100q", body)
	}
	return s.Token, nil
}

func (b *bench) add(rs ...row) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rows = append(b.rows, rs...)
}

func (b *bench) note(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.notes = append(b.notes, fmt.Sprintf(format, args...))
}

// procDelta is what /proc says happened to a process between two samples.
type procDelta struct {
	ok       bool
	RSS      int64
	CPU      time.Duration
	Interval time.Duration
}

func deltaOf(a, b procSample, errA, errB error) procDelta {
	if errA != nil || errB != nil {
		return procDelta{}
	}
	return procDelta{ok: true, RSS: b.RSS - a.RSS, CPU: b.CPU - a.CPU, Interval: b.At.Sub(a.At)}
}

// CPUPct is the CPU used over the interval in % of one core.
func (d procDelta) CPUPct() float64 {
	if !d.ok || d.Interval <= 0 {
		return math.NaN()
	}
	return 100 * d.CPU.Seconds() / d.Interval.Seconds()
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
