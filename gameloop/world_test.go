package gameloop

import "testing"

func TestSealSortsAndDropsDuplicates(t *testing.T) {
	w := &World{}
	for _, id := range []uint32{9, 3, 7, 3, 1} {
		w.Add(id, "x", int32(id))
	}
	if dups := w.seal(); dups != 1 {
		t.Errorf("dropped %d duplicates, want 1", dups)
	}
	var ids []uint32
	for _, e := range w.ents {
		ids = append(ids, e.id)
		if got := w.values(&e)[0]; got != int32(e.id) {
			t.Errorf("entity %d carries value %d: fields detached from entity", e.id, got)
		}
	}
	if want := []uint32{1, 3, 7, 9}; !equalIDs(ids, want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
}

func equalIDs(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCheckCatchesSchemaMismatch(t *testing.T) {
	kinds := []Kind{{Name: "p", Fields: []string{"x", "y"}, Label: true}, {Name: "b", Fields: []string{"x"}}}
	cases := []struct {
		name  string
		build func(w *World)
		ok    bool
	}{
		{"valid", func(w *World) { w.AddLabeled(1, "p", "A", 1, 2); w.Add(2, "b", 1) }, true},
		{"unknown kind", func(w *World) { w.Add(1, "z", 1) }, false},
		{"field count", func(w *World) { w.Add(1, "p", 1) }, false},
		{"label on unlabeled kind", func(w *World) { w.AddLabeled(2, "b", "x", 1) }, false},
	}
	for _, c := range cases {
		w := &World{}
		c.build(w)
		if err := w.Check(kinds); (err == nil) != c.ok {
			t.Errorf("%s: Check = %v", c.name, err)
		}
	}
}
