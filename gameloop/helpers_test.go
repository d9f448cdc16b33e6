package gameloop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"comet"
	"comet/gameloop"
	"comet/gameloop/modetest"
)

// newMemBus is the test kit's in-process bus.
func newMemBus() *modetest.Bus { return modetest.NewBus() }

// recSink records every message a session gets and keeps a Replica of the
// view, failing the test at the end if a diff did not apply.
type recSink struct {
	mu      sync.Mutex
	msgs    []*comet.Message
	replica gameloop.Replica
	errs    []error
	notify  chan struct{}
}

func newRecSink() *recSink { return &recSink{notify: make(chan struct{}, 1)} }

func (s *recSink) Send(m *comet.Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	var err error
	switch m.Type {
	case "room.snapshot":
		err = s.replica.ApplySnapshot(m.Data())
	case "room.diff":
		err = s.replica.ApplyDiff(m.Data())
	}
	if err != nil {
		s.errs = append(s.errs, err)
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// types lists the message types received so far.
func (s *recSink) types() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.Type
	}
	return out
}

// last returns the data of the last message of type typ.
func (s *recSink) last(typ string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.msgs) - 1; i >= 0; i-- {
		if s.msgs[i].Type == typ {
			return s.msgs[i].Data(), true
		}
	}
	return nil, false
}

func (s *recSink) count(typ string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		if m.Type == typ {
			n++
		}
	}
	return n
}

func (s *recSink) copyReplica() gameloop.Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replica
}

func (s *recSink) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.errs {
		t.Errorf("stream error: %v", err)
	}
}

// waitFor polls until cond holds or fails the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// memStore records saved matches.
type memStore struct {
	mu      sync.Mutex
	matches []*comet.MatchResult
}

func (s *memStore) SaveMatch(_ context.Context, r *comet.MatchResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.matches = append(s.matches, r)
	return nil
}

func (s *memStore) Leaderboard(context.Context, comet.LeaderQuery) ([]comet.LeaderRow, error) {
	return nil, fmt.Errorf("not used")
}

func (s *memStore) PlayerMatches(context.Context, string, int) ([]comet.PlayerMatch, error) {
	return nil, fmt.Errorf("not used")
}

func (s *memStore) saved() []*comet.MatchResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.matches)
}

// decode unmarshals a message's data into v or fails the test.
func decode[T any](t *testing.T, data json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}
