package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"comet/internal/check"
)

// pipeAgent connects a remoteAgent to serveAgent through pipes, the same
// JSON lines a child speaks over its stdin and stdout.
func pipeAgent(t *testing.T) *remoteAgent {
	t.Helper()
	reqR, reqW := io.Pipe()
	respR, respW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveAgent(reqR, respW, quietLog()); respW.Close() }()
	ra := newRemoteAgent(reqW, respR)
	t.Cleanup(func() {
		_ = ra.Close()
		if err, _ := check.Recv(t, done, 10*time.Second, "serveAgent's return"); err != nil {
			t.Errorf("serveAgent: %v", err)
		}
	})
	return ra
}

func TestRemoteAgentProtocol(t *testing.T) {
	tg := startCometT(t)
	ra := pipeAgent(t)
	ctx := context.Background()
	if _, err := ra.Stats(ctx, false); err == nil || !strings.Contains(err.Error(), "before init") {
		t.Fatalf("stats before init: %v", err)
	}
	cfg := agentConfig{Base: tg.Base, Token: playerT(t, tg)}
	if err := ra.call(ctx, agentRequest{Op: "init", Config: &cfg}, nil); err != nil {
		t.Fatal(err)
	}
	if err := ra.call(ctx, agentRequest{Op: "init", Config: &cfg}, nil); err == nil {
		t.Fatal("a second init was accepted")
	}
	if err := ra.Open(ctx, openReq{N: 2, Rate: 100, Transports: []string{"bogus"}}); err == nil {
		t.Fatal("an unknown transport was accepted")
	}
	if err := ra.Open(ctx, openReq{N: 2, Rate: 100, Transports: []string{"sse"}}); err != nil {
		t.Fatal(err)
	}
	check.For(t, 10*time.Second, func() error {
		if s, err := ra.Stats(ctx, false); err != nil || s.Held != 2 {
			return fmt.Errorf("%d streams held, want 2 (%v)", s.Held, err)
		}
		return nil
	})
	if err := ra.call(ctx, agentRequest{Op: "nonsense"}, nil); err == nil {
		t.Fatal("an unknown op was accepted")
	}
	if err := ra.CloseAll(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := ra.Stats(ctx, false)
	if err != nil || s.Held != 0 {
		t.Fatalf("after closeall: held %d, %v", s.Held, err)
	}
}

// TestSpawnedAgent starts the test binary as a real agent child.
func TestSpawnedAgent(t *testing.T) {
	tg := startCometT(t)
	ctx := context.Background()
	f, err := newFleet(ctx, tg.Base, fleetOpts{Agents: 2, Token: playerT(t, tg), IPsPerAgent: 2, Stderr: io.Discard}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	for _, a := range f.agents {
		if a.Pid() <= 0 {
			t.Fatalf("agent has no process: %d", a.Pid())
		}
	}
	st, err := f.open(ctx, 6, 100, []string{"multipart", "iframe"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Held != 6 || st.Opened != 6 {
		t.Fatalf("held %d opened %d: %v", st.Held, st.Opened, st.Errs)
	}
	if err := f.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}
