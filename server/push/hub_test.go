package push

import (
	"context"
	"slices"
	"testing"
)

// TestPlayerIndexFollowsRemovals: the hub's per-user list of sessions stays
// right whichever tab goes first (head, middle, tail), and a player with no
// tab left has none.
func TestPlayerIndexFollowsRemovals(t *testing.T) {
	h := newTestHub(t, Config{})
	const ann, bob = "p_ann", "p_bob"
	tabs := make([]*Session, 4)
	for i := range tabs {
		tabs[i] = h.NewSession(ann, nil)
	}
	other := h.NewSession(bob, nil)

	ids := func(player string) []string {
		var out []string
		for _, s := range h.UserSessions(player) {
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
		h.Remove(context.Background(), st.remove)
		if got := ids(ann); !slices.Equal(got, want(st.left...)) {
			t.Fatalf("after removing %s: ann's sessions %v, want %v", st.name, got, want(st.left...))
		}
		if h.HasSessions(ann) != (len(st.left) > 0) {
			t.Fatalf("after removing %s: HasSessions = %v", st.name, h.HasSessions(ann))
		}
		if got := ids(bob); !slices.Equal(got, want(other)) {
			t.Fatalf("after removing %s: bob's sessions %v", st.name, got)
		}
	}
}
