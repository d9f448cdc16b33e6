package gameloop

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"comet"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

func sealed(tick uint64, build func(w *World)) *World {
	w := &World{tick: tick}
	build(w)
	w.seal()
	return w
}

// TestEncodingGolden pins the wire form of snapshots and diffs: adds, field
// changes, removals, replacements (kind or label change), labels that need
// escaping, negative values, and an empty diff.
func TestEncodingGolden(t *testing.T) {
	base := sealed(41, func(w *World) {
		w.Add(1048576, "w", 16000, 10000)
		w.AddLabeled(2, "p", "Bob", 700, 800, 0, 0, 3)
		w.AddLabeled(1, "p", `Ada "<the>" & co`+"\u2028", 100, 200, 1, 0, 5)
		w.Add(1048577, "b", 10, 20, -35, 0, 40, 1)
		w.AddLabeled(3, "p", "Cy", 5, 5, 0, 0, 0)
	})
	next := sealed(42, func(w *World) {
		w.Add(1048576, "w", 16000, 10000)
		w.AddLabeled(1, "p", `Ada "<the>" & co`+"\u2028", 110, 200, 1, 1, 5) // x and frozen change
		w.AddLabeled(2, "p", "Bobby", 700, 800, 0, 0, 3)                     // renamed: replaced
		w.Add(1048578, "b", -5, 0, 35, 0, 42, 2)                             // new bullet
		w.AddLabeled(3, "p", "Cy", 5, 5, 0, 0, 0)                            // unchanged
	})
	var d differ
	snap := appendSnapshot(nil, 41, "m_1", base)
	diff, ok := d.appendDiff(nil, 42, base, next)
	if !ok {
		t.Fatal("diff reported no change")
	}
	if _, ok := d.appendDiff(nil, 43, next, next); ok {
		t.Error("diff of a world with itself is not empty")
	}
	golden(t, "snapshot.golden", snap)
	golden(t, "diff.golden", diff)
	for _, b := range [][]byte{snap, diff} {
		if !json.Valid(b) {
			t.Errorf("invalid JSON: %s", b)
		}
		if bytes.ContainsAny(b, "<>&\u2028\u2029") {
			t.Errorf("not HTML-safe: %s", b)
		}
	}
}

// TestFramesMatchRawMessage checks that the frames the room builds directly
// are byte for byte what comet.RawMessage would build.
func TestFramesMatchRawMessage(t *testing.T) {
	r := &room{match: &match{id: "m_x"}, tick: 9}
	base := sealed(8, func(w *World) { w.AddLabeled(1, "p", "<Ada & Bob>\u2029", 1, 2) })
	cur := sealed(9, func(w *World) { w.AddLabeled(1, "p", "<Ada & Bob>\u2029", 1, 3); w.Add(5, "b", 7) })
	for _, c := range []struct {
		got  *comet.Message
		typ  string
		data []byte
	}{
		{r.encodeSnapshot(cur), "room.snapshot", appendSnapshot(nil, 9, "m_x", cur)},
		{r.encodeDiff(base, cur), "room.diff", must(r.differ.appendDiff(nil, 9, base, cur))},
	} {
		want, err := comet.RawMessage(c.typ, c.data)
		if err != nil {
			t.Fatal(err)
		}
		if c.got.Type != want.Type || !bytes.Equal(c.got.Frame, want.Frame) {
			t.Errorf("frame %s\nwant  %s", c.got.Frame, want.Frame)
		}
	}
}

func must(b []byte, ok bool) []byte {
	if !ok {
		panic("empty diff")
	}
	return b
}

// randomWorld builds a world from rng: ids from a small range so that
// consecutive worlds share, add and drop entities; kinds and labels change
// sometimes, so replacements happen too.
func randomWorld(rng *rand.Rand, tick uint64) *World {
	kinds := []struct {
		name string
		n    int
	}{{"p", 3}, {"b", 2}, {"q", 3}}
	labels := []string{"", "", "Ada", "Bob", `"q"<&>`, "名前"}
	return sealed(tick, func(w *World) {
		for id := uint32(1); id <= 24; id++ {
			if rng.IntN(3) == 0 {
				continue
			}
			k := kinds[rng.IntN(len(kinds))]
			if id%2 == 0 { // stable kinds for even ids: mostly field changes
				k = kinds[0]
			}
			vals := make([]int32, k.n)
			for i := range vals {
				vals[i] = int32(rng.IntN(5)) - 2
				if rng.IntN(8) == 0 {
					vals[i] = rng.Int32() - 1<<30
				}
			}
			label := ""
			if k.name == "p" {
				label = labels[rng.IntN(len(labels))]
			}
			w.AddLabeled(id, k.name, label, vals...)
		}
	})
}

// replicaOf decodes a world's snapshot as a client would.
func replicaOf(t *testing.T, w *World, match string) *Replica {
	t.Helper()
	var r Replica
	if err := r.ApplySnapshot(appendSnapshot(nil, w.tick, match, w)); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestSnapshotPlusDiffsEqualsFinalSnapshot is the property the protocol
// promises: a snapshot followed by every diff, applied in order, gives
// exactly the snapshot of the last tick, for random sequences of worlds
// (empty diffs skipped, as the room does).
func TestSnapshotPlusDiffsEqualsFinalSnapshot(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var d differ
		first := randomWorld(rng, 1)
		client := replicaOf(t, first, "m")
		base := first
		for tick := uint64(2); tick < 40; tick++ {
			cur := randomWorld(rng, tick)
			if rng.IntN(4) == 0 {
				cur = sealed(tick, func(w *World) { // an unchanged world
					for i := range base.ents {
						e := &base.ents[i]
						w.AddLabeled(e.id, e.kind, e.label, base.values(e)...)
					}
				})
			}
			diff, ok := d.appendDiff(nil, tick, base, cur)
			if !ok {
				continue
			}
			if err := client.ApplyDiff(diff); err != nil {
				t.Fatalf("seed %d tick %d: %v\ndiff %s", seed, tick, err, diff)
			}
			base = cur
		}
		want := replicaOf(t, base, "m")
		if !client.Equal(want) {
			t.Fatalf("seed %d: replica after diffs differs from the final snapshot\n got %+v\nwant %+v", seed, client.Ents, want.Ents)
		}
	}
}

// FuzzDiffRoundTrip: for any two worlds, snapshot(a) + diff(a→b) decodes to
// exactly snapshot(b), and both encodings are valid, HTML-safe JSON.
func FuzzDiffRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(99), uint64(99))
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		a := randomWorld(rand.New(rand.NewPCG(s1, 1)), 10)
		b := randomWorld(rand.New(rand.NewPCG(s2, 1)), 11)
		var d differ
		client := replicaOf(t, a, "m")
		if diff, ok := d.appendDiff(nil, 11, a, b); ok {
			if !json.Valid(diff) || bytes.ContainsAny(diff, "<>&") {
				t.Fatalf("bad diff encoding %s", diff)
			}
			if err := client.ApplyDiff(diff); err != nil {
				t.Fatalf("apply: %v\n%s", err, diff)
			}
		} else {
			client.Tick = 11
		}
		if want := replicaOf(t, b, "m"); !client.Equal(want) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v", client.Ents, want.Ents)
		}
	})
}

// FuzzReplicaDecode feeds arbitrary bytes to the client-side decoder: it
// must reject or apply, never panic, and never half-apply a bad diff.
func FuzzReplicaDecode(f *testing.F) {
	f.Add([]byte(`{"t":2,"b":1,"a":[[3,"p",1,2,"x"]],"c":[[1,0,5]],"r":[2]}`))
	f.Add([]byte(`{"t":1,"m":"m","e":[[1,"p",1],[2,"b"]]}`))
	f.Add([]byte(`{"t":2,"b":1,"c":[[1,9,5]]}`))
	f.Add([]byte(`{"t":2,"b":1,"c":[[1,0,99999999999]]}`))
	f.Add([]byte(`[1,2`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Replica
		if err := r.ApplySnapshot([]byte(`{"t":1,"m":"m","e":[[1,"p",1,2],[2,"b",3]]}`)); err != nil {
			t.Fatal(err)
		}
		before := r
		if err := r.ApplyDiff(data); err != nil && !before.Equal(&r) {
			t.Fatalf("failed diff changed the replica")
		}
		var s Replica
		_ = s.ApplySnapshot(data)
	})
}

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
