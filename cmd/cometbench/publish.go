package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// publisher sends tagged message k, stamped at, to every stream.
type publisher interface {
	publish(ctx context.Context, k int, at time.Time) error
	close()
}

// cometPublishers say chat lines on the lobby channel through the public
// protocol. Each is a new player with a held stream (so its session does not
// expire); they take turns, which keeps each under the chat rate limit of
// one line a second.
type cometPublishers struct {
	a       *agent
	streams []*clientStream
	next    atomic.Int64
}

func newCometPublishers(ctx context.Context, base string, n int, log *slog.Logger) (*cometPublishers, error) {
	a, err := newAgent(agentConfig{Base: base}, log)
	if err != nil {
		return nil, err
	}
	p := &cometPublishers{a: a}
	for i := 0; i < max(n, 1); i++ {
		s, err := a.startStream("multipart", nil, nil)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("publisher: %w", err)
		}
		p.streams = append(p.streams, s)
	}
	return p, nil
}

func (p *cometPublishers) publish(ctx context.Context, k int, at time.Time) error {
	s := p.streams[int(p.next.Add(1)-1)%len(p.streams)]
	return p.a.send(ctx, s.sess, "chat.say", map[string]string{"channel": "lobby", "text": tagText(k, at)})
}

// refused counts chat lines the server refused (sys.error on the publishers' streams).
func (p *cometPublishers) refused() (int64, []string) {
	s := p.a.stats(false)
	return s.SysErrors, s.Errs
}

func (p *cometPublishers) close() { p.a.closeAll(context.Background()) }

// rawPublisher asks the raw writer to write message k.
type rawPublisher struct {
	base string
	c    *http.Client
}

func newRawPublisher(base string) *rawPublisher {
	return &rawPublisher{base: base, c: &http.Client{Timeout: 60 * time.Second}}
}

func (p *rawPublisher) publish(ctx context.Context, k int, at time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("%s/publish?k=%d&t=%d", p.base, k, at.UnixNano()), nil)
	if err != nil {
		return fmt.Errorf("raw publish: %w", err)
	}
	resp, err := p.c.Do(req)
	if err != nil {
		return fmt.Errorf("raw publish: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("raw publish: status %d", resp.StatusCode)
	}
	return nil
}

func (p *rawPublisher) close() { p.c.CloseIdleConnections() }

// waitTagged waits until the fleet has want tagged receipts, or none came
// for quiet, or max passed; it returns the last stats.
func waitTagged(ctx context.Context, f *fleet, want int64, quiet, max time.Duration) (agentStats, error) {
	deadline := time.Now().Add(max)
	last, lastAt := int64(-1), time.Now()
	for {
		s, err := f.stats(ctx, false)
		if err != nil {
			return s, err
		}
		if s.Tagged >= want || time.Now().After(deadline) {
			return s, nil
		}
		if s.Tagged != last {
			last, lastAt = s.Tagged, time.Now()
		} else if time.Since(lastAt) > quiet {
			return s, nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return s, err
		}
	}
}
