package server

import (
	"slices"
	"testing"

	"comet"
	"comet/server/bus"
)

// TestPlayerIndexFollowsRemovals: the hub's per-player list of sessions stays
// right whichever tab goes first (head, middle, tail), and a player with no
// tab left has none.
func TestPlayerIndexFollowsRemovals(t *testing.T) {
	h := NewHub(HubConfig{Bus: bus.New(), Logger: quietLogger()})
	defer h.Close()
	ann := &comet.Player{ID: "p_ann", Name: "ann"}
	bob := &comet.Player{ID: "p_bob", Name: "bob"}
	tabs := make([]*Session, 4)
	for i := range tabs {
		tabs[i] = h.NewSession(ann)
	}
	other := h.NewSession(bob)

	ids := func(player string) []string {
		var out []string
		for _, s := range h.PlayerSessions(player) {
			out = append(out, s.id)
		}
		slices.Sort(out)
		return out
	}
	want := func(ss ...*Session) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.id)
		}
		slices.Sort(out)
		return out
	}
	steps := []struct {
		name   string
		remove *Session
		left   []*Session
	}{
		{"a middle tab", tabs[1], []*Session{tabs[0], tabs[2], tabs[3]}},
		{"the newest tab (the list's head)", tabs[3], []*Session{tabs[0], tabs[2]}},
		{"the oldest tab (the list's tail)", tabs[0], []*Session{tabs[2]}},
		{"removing twice changes nothing", tabs[0], []*Session{tabs[2]}},
		{"the last tab", tabs[2], nil},
	}
	for _, st := range steps {
		h.Remove(st.remove)
		if got := ids(ann.ID); !slices.Equal(got, want(st.left...)) {
			t.Fatalf("after removing %s: ann's sessions %v, want %v", st.name, got, want(st.left...))
		}
		if h.HasSessions(ann.ID) != (len(st.left) > 0) {
			t.Fatalf("after removing %s: HasSessions = %v", st.name, h.HasSessions(ann.ID))
		}
		if got := ids(bob.ID); !slices.Equal(got, want(other)) {
			t.Fatalf("after removing %s: bob's sessions %v", st.name, got)
		}
	}
}
