package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Agents run as child processes of the bench (one process holds at most
// about 19,000 sockets here). Parent and child speak JSON lines over the
// child's stdin and stdout: one request, then its answer.

// childEnv marks a process started by the bench as one of its children
// (agent, naive-server, raw-writer); TestMain honours it too, so tests can
// start the test binary as a child.
const childEnv = "COMETBENCH_CHILD"

type agentRequest struct {
	ID     int          `json:"id"`
	Op     string       `json:"op"` // init, open, bots, inputs, stats, closeall
	Config *agentConfig `json:"config,omitempty"`
	Open   *openReq     `json:"open,omitempty"`
	Bots   *botsReq     `json:"bots,omitempty"`
	Inputs *inputsReq   `json:"inputs,omitempty"`
	Reset  bool         `json:"reset,omitempty"`
}

type agentResponse struct {
	ID    int         `json:"id"`
	Err   string      `json:"err,omitempty"`
	Stats *agentStats `json:"stats,omitempty"`
	Bots  *botsResp   `json:"bots,omitempty"`
}

// childAttr makes a child die with the bench (Linux's parent-death signal),
// so an interrupted run leaves no server or agent behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// agentAPI is an agent in this process or in a child.
type agentAPI interface {
	Open(ctx context.Context, req openReq) error
	Bots(ctx context.Context, req botsReq) (botsResp, error)
	Inputs(ctx context.Context, req inputsReq) error
	Stats(ctx context.Context, reset bool) (agentStats, error)
	CloseAll(ctx context.Context) error
	// Pid is the agent's process, 0 when it runs in this one.
	Pid() int
	Close() error
}

// localAgent is an agent in this process.
type localAgent struct{ a *agent }

func (l localAgent) Open(_ context.Context, req openReq) error { return l.a.open(req) }
func (l localAgent) Bots(ctx context.Context, req botsReq) (botsResp, error) {
	return l.a.addBots(ctx, req)
}
func (l localAgent) Inputs(_ context.Context, req inputsReq) error { l.a.setInputs(req); return nil }
func (l localAgent) Stats(_ context.Context, reset bool) (agentStats, error) {
	return l.a.stats(reset), nil
}
func (l localAgent) CloseAll(ctx context.Context) error { l.a.closeAll(ctx); return nil }
func (l localAgent) Pid() int                           { return 0 }
func (l localAgent) Close() error                       { l.a.closeAll(context.Background()); return nil }

// serveAgent runs an agent for the requests read from r, answering on w,
// until r ends. The first request must be init.
func serveAgent(r io.Reader, w io.Writer, log *slog.Logger) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	enc := json.NewEncoder(w)
	var a *agent
	defer func() {
		if a != nil {
			a.closeAll(context.Background())
		}
	}()
	for sc.Scan() {
		var req agentRequest
		resp := agentResponse{}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Err = fmt.Sprintf("bad request: %v", err)
		} else {
			resp.ID = req.ID
			if err := handleAgent(&a, req, &resp, log); err != nil {
				resp.Err = err.Error()
			}
		}
		if err := enc.Encode(resp); err != nil {
			return fmt.Errorf("agent: write answer: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("agent: read request: %w", err)
	}
	return nil
}

func handleAgent(ap **agent, req agentRequest, resp *agentResponse, log *slog.Logger) error {
	if req.Op == "init" {
		if *ap != nil {
			return errors.New("agent already initialised")
		}
		if req.Config == nil {
			return errors.New("init without config")
		}
		a, err := newAgent(*req.Config, log)
		if err != nil {
			return err
		}
		*ap = a
		return nil
	}
	a := *ap
	if a == nil {
		return fmt.Errorf("%s before init", req.Op)
	}
	ctx := context.Background()
	switch req.Op {
	case "open":
		if req.Open == nil {
			return errors.New("open without arguments")
		}
		return a.open(*req.Open)
	case "bots":
		if req.Bots == nil {
			return errors.New("bots without arguments")
		}
		b, err := a.addBots(ctx, *req.Bots)
		resp.Bots = &b
		return err
	case "inputs":
		if req.Inputs == nil {
			return errors.New("inputs without arguments")
		}
		a.setInputs(*req.Inputs)
		return nil
	case "stats":
		s := a.stats(req.Reset)
		resp.Stats = &s
		return nil
	case "closeall":
		a.closeAll(ctx)
		return nil
	default:
		return fmt.Errorf("unknown op %q", req.Op)
	}
}

// remoteAgent is an agent in a child process (or at the end of any pipe).
type remoteAgent struct {
	cmd *exec.Cmd
	w   io.WriteCloser
	enc *json.Encoder

	mu      sync.Mutex // one request at a time
	nextID  int
	answers chan agentResponse
	readErr error
	done    chan struct{}
}

// spawnAgent starts this program as an agent child and initialises it.
func spawnAgent(ctx context.Context, cfg agentConfig, stderr io.Writer) (*remoteAgent, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("spawn agent: %w", err)
	}
	cmd := exec.Command(exe, "agent")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = stderr
	cmd.SysProcAttr = childAttr()
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("spawn agent: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("spawn agent: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("spawn agent: %w", err)
	}
	ra := newRemoteAgent(in, out)
	ra.cmd = cmd
	if err := ra.call(ctx, agentRequest{Op: "init", Config: &cfg}, nil); err != nil {
		_ = ra.Close()
		return nil, err
	}
	return ra, nil
}

func newRemoteAgent(w io.WriteCloser, r io.Reader) *remoteAgent {
	ra := &remoteAgent{w: w, enc: json.NewEncoder(w), answers: make(chan agentResponse), done: make(chan struct{})}
	go func() {
		defer close(ra.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			var resp agentResponse
			if err := json.Unmarshal(sc.Bytes(), &resp); err != nil {
				ra.readErr = fmt.Errorf("agent answer: %w", err)
				return
			}
			ra.answers <- resp
		}
		ra.readErr = sc.Err()
		if ra.readErr == nil {
			ra.readErr = errors.New("agent exited")
		}
	}()
	return ra
}

func (ra *remoteAgent) call(ctx context.Context, req agentRequest, resp *agentResponse) error {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	ra.nextID++
	req.ID = ra.nextID
	if err := ra.enc.Encode(req); err != nil {
		return fmt.Errorf("agent %s: %w", req.Op, err)
	}
	for {
		select {
		case a := <-ra.answers:
			if a.ID != req.ID {
				continue // the answer to a call whose caller gave up
			}
			if a.Err != "" {
				return fmt.Errorf("agent %s: %s", req.Op, a.Err)
			}
			if resp != nil {
				*resp = a
			}
			return nil
		case <-ra.done:
			return fmt.Errorf("agent %s: %w", req.Op, ra.readErr)
		case <-ctx.Done():
			return fmt.Errorf("agent %s: %w", req.Op, ctx.Err())
		}
	}
}

func (ra *remoteAgent) Open(ctx context.Context, req openReq) error {
	return ra.call(ctx, agentRequest{Op: "open", Open: &req}, nil)
}

func (ra *remoteAgent) Bots(ctx context.Context, req botsReq) (botsResp, error) {
	var resp agentResponse
	if err := ra.call(ctx, agentRequest{Op: "bots", Bots: &req}, &resp); err != nil {
		return botsResp{}, err
	}
	if resp.Bots == nil {
		return botsResp{}, errors.New("agent bots: empty answer")
	}
	return *resp.Bots, nil
}

func (ra *remoteAgent) Inputs(ctx context.Context, req inputsReq) error {
	return ra.call(ctx, agentRequest{Op: "inputs", Inputs: &req}, nil)
}

func (ra *remoteAgent) Stats(ctx context.Context, reset bool) (agentStats, error) {
	var resp agentResponse
	if err := ra.call(ctx, agentRequest{Op: "stats", Reset: reset}, &resp); err != nil {
		return agentStats{}, err
	}
	if resp.Stats == nil {
		return agentStats{}, errors.New("agent stats: empty answer")
	}
	return *resp.Stats, nil
}

func (ra *remoteAgent) CloseAll(ctx context.Context) error {
	return ra.call(ctx, agentRequest{Op: "closeall"}, nil)
}

func (ra *remoteAgent) Pid() int {
	if ra.cmd == nil || ra.cmd.Process == nil {
		return 0
	}
	return ra.cmd.Process.Pid
}

// Close ends the agent: its stdin closes, it closes its streams and exits.
func (ra *remoteAgent) Close() error {
	_ = ra.w.Close()
	if ra.cmd == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- ra.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("agent %d: %w", ra.Pid(), err)
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = ra.cmd.Process.Kill()
		<-done
		return fmt.Errorf("agent %d did not exit; killed", ra.Pid())
	}
}
