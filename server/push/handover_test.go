package push

import (
	"testing"
	"time"

	"comet"
)

// TestSaveRestoreContinuesTheStream: a session saved by one hub and restored
// by another keeps its id and numbering; a client resuming from any point it
// read gets exactly the events after it, then the new hub's events, with no
// gap and no repeat.
func TestSaveRestoreContinuesTheStream(t *testing.T) {
	old := newTestHub(t, Config{})
	s := old.NewSession("p1", "state")
	s.Subscribe("lobby")
	for i := 1; i <= 10; i++ {
		s.Send(comet.MustMessage("test.n", i))
	}
	c := holdSSE(t, old, s, 0, 0)
	for want := uint64(1); want <= 4; want++ { // the client read 4 before the restart
		if ev := c.next(t, 5*time.Second); ev.Seq != want {
			t.Fatalf("read seq %d, want %d", ev.Seq, want)
		}
	}
	s.TakeUpstream(7)
	old.Drain()
	if err := old.Hold(Hold{Conn: nil, Session: s}); err != ErrDraining {
		t.Fatalf("Hold while draining: %v, want ErrDraining", err)
	}
	saved := old.Save()
	if len(saved) != 1 || saved[0].ID != s.ID() || saved[0].Seq != 10 {
		t.Fatalf("saved %+v", saved)
	}

	fresh := newTestHub(t, Config{})
	r, err := fresh.Restore(saved[0], "state")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := fresh.Session(s.ID()); !ok || got != r || r.User() != "p1" || r.State() != "state" {
		t.Fatal("restored session not registered under its id and user")
	}
	if !r.Subscribed("lobby") || r.TakeUpstream(7) {
		t.Fatal("restored session lost its topics or its upstream numbering")
	}
	// Seqs below the highest taken that never came are still new, once.
	if !r.TakeUpstream(5) || r.TakeUpstream(5) {
		t.Fatal("restored session lost which client seqs below the highest were never taken")
	}
	r.Send(comet.MustMessage("test.n", 11))
	c2 := holdSSE(t, fresh, r, 4, 0)
	for want := uint64(5); want <= 11; want++ {
		if ev := c2.next(t, 5*time.Second); ev.Seq != want || ev.Type != "test.n" {
			t.Fatalf("after the restart got %v, want seq %d", ev, want)
		}
	}
	if _, err := fresh.Restore(saved[0], nil); err == nil {
		t.Fatal("a session restored twice")
	}
	bad := saved[0]
	bad.Events = append([]SavedEvent{}, bad.Events...)
	bad.ID = "s_other"
	bad.Events[0].Seq = 99
	if _, err := fresh.Restore(bad, nil); err == nil {
		t.Fatal("an inconsistent saved session was restored")
	}
}
