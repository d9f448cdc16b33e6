package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"
)

// fleetOpts says how to build a fleet of agents.
type fleetOpts struct {
	Agents    int    // how many agents (processes)
	InProcess bool   // run them in this process (tests)
	Token     string // player token the agents' sessions use
	Raw       bool   // clients of the raw writer
	PollWait  int    // long-poll wait, seconds
	// IPsPerAgent source addresses per agent (127.S.A.1 … 127.S.A.n, S
	// random per fleet so a new run does not meet the last one's TIME_WAIT
	// ports); 0 dials from the default address.
	IPsPerAgent int
	Stderr      io.Writer // children's stderr
	// SessionBase, when set, is where the agents open their sessions (a
	// cluster node other than base: every stream is relayed).
	SessionBase string
}

// fleet is the client side of a measurement: agents, each holding a share
// of the streams.
type fleet struct {
	agents []agentAPI
	log    *slog.Logger
}

func newFleet(ctx context.Context, base string, o fleetOpts, log *slog.Logger) (*fleet, error) {
	if o.Agents < 1 {
		o.Agents = 1
	}
	f := &fleet{log: log}
	salt := 16 + rand.IntN(224)
	for i := 0; i < o.Agents; i++ {
		cfg := agentConfig{Base: base, SessionBase: o.SessionBase, Token: o.Token, Raw: o.Raw, PollWait: o.PollWait}
		for j := 1; j <= o.IPsPerAgent; j++ {
			cfg.SrcIPs = append(cfg.SrcIPs, fmt.Sprintf("127.%d.%d.%d", salt, i+1, j))
		}
		var ag agentAPI
		if o.InProcess {
			a, err := newAgent(cfg, log)
			if err != nil {
				f.close()
				return nil, err
			}
			ag = localAgent{a}
		} else {
			ra, err := spawnAgent(ctx, cfg, o.Stderr)
			if err != nil {
				f.close()
				return nil, err
			}
			ag = ra
		}
		f.agents = append(f.agents, ag)
	}
	return f, nil
}

// share splits n over the agents.
func (f *fleet) share(n, i int) int {
	k := len(f.agents)
	return n/k + btoi(i < n%k)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// open ramps n more streams at rate per second over all agents and waits
// until every open has succeeded or failed (or the ramp's time runs out).
func (f *fleet) open(ctx context.Context, n int, rate float64, transports []string) (agentStats, error) {
	before, err := f.stats(ctx, false)
	if err != nil {
		return before, err
	}
	for i, a := range f.agents {
		k := f.share(n, i)
		if err := a.Open(ctx, openReq{N: k, Rate: rate * float64(k) / float64(n), Transports: transports}); err != nil {
			return before, err
		}
	}
	want := before.Opened + before.OpenFailed + int64(n)
	// Twice the planned ramp and a minute: on a shared machine neighbours'
	// load slows a ramp that is still progressing (a cluster's 15,000 a node
	// took 2.1 min of a planned 1.3 under load 38); a real stall is the 45 s
	// without progress below.
	deadline := time.Now().Add(2*time.Duration(float64(n)/rate*float64(time.Second)) + 60*time.Second)
	last, lastAt := int64(-1), time.Now()
	for {
		s, err := f.stats(ctx, false)
		if err != nil {
			return s, err
		}
		done := s.Opened + s.OpenFailed
		if done >= want {
			return s, nil
		}
		if done != last {
			last, lastAt = done, time.Now()
		}
		if time.Now().After(deadline) || time.Since(lastAt) > 45*time.Second {
			return s, fmt.Errorf("ramp stalled: %d of %d streams open, %d failed (%v)", s.Opened-before.Opened, n, s.OpenFailed-before.OpenFailed, s.Errs)
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stats merges every agent's stats.
func (f *fleet) stats(ctx context.Context, reset bool) (agentStats, error) {
	var total agentStats
	for _, a := range f.agents {
		s, err := a.Stats(ctx, reset)
		if err != nil {
			return total, err
		}
		total.merge(s)
	}
	return total, nil
}

// bots adds game bots on agent i.
func (f *fleet) bots(ctx context.Context, i int, req botsReq) (botsResp, error) {
	return f.agents[i%len(f.agents)].Bots(ctx, req)
}

// inputs starts or stops every agent's bots' inputs.
func (f *fleet) inputs(ctx context.Context, hz float64) error {
	errc := make(chan error, len(f.agents))
	for _, a := range f.agents {
		go func() { errc <- a.Inputs(ctx, inputsReq{Hz: hz}) }()
	}
	var errs []error
	for range f.agents {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// cpu is the agents' processes' CPU time so far (0 for in-process agents).
func (f *fleet) cpu() time.Duration {
	var total time.Duration
	for _, a := range f.agents {
		if pid := a.Pid(); pid > 0 {
			if s, err := sampleProc(pid); err == nil {
				total += s.CPU
			}
		}
	}
	return total
}

// closeAll ends every stream and bot but keeps the agents.
func (f *fleet) closeAll(ctx context.Context) error {
	var errs []error
	for _, a := range f.agents {
		errs = append(errs, a.CloseAll(ctx))
	}
	return errors.Join(errs...)
}

// close ends the agents.
func (f *fleet) close() error {
	var errs []error
	for _, a := range f.agents {
		errs = append(errs, a.Close())
	}
	f.agents = nil
	return errors.Join(errs...)
}
