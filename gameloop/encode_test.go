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
	var e encoder
	var d differ
	base := sealed(8, func(w *World) { w.AddLabeled(1, "p", "<Ada & Bob>\u2029", 1, 2) })
	cur := sealed(9, func(w *World) { w.AddLabeled(1, "p", "<Ada & Bob>\u2029", 1, 3); w.Add(5, "b", 7) })
	for _, c := range []struct {
		got  *comet.Message
		typ  string
		data []byte
	}{
		{e.snapshot(cur, "m_x"), "room.snapshot", appendSnapshot(nil, 9, "m_x", cur)},
		{e.diff(9, base, cur), "room.diff", must(d.appendDiff(nil, 9, base, cur))},
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

// BenchmarkDiff encodes the diff of a 150-entity view in which a third of
// the entities moved, a few appeared and a few left: a typical arena view.
func BenchmarkDiff(b *testing.B) {
	build := func(tick uint64, shift int32) *World {
		return sealed(tick, func(w *World) {
			for id := uint32(1); id <= 150; id++ {
				if (id+uint32(shift))%25 == 0 {
					continue
				}
				x := int32(id) * 100
				if id%3 == 0 {
					x += shift * 100
				}
				w.AddLabeled(id, "p", "Player", x, 5000, 90, 100, 3, 1, 0)
			}
		})
	}
	base, cur := build(1, 0), build(2, 1)
	var d differ
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = d.appendDiff(buf[:0], 2, base, cur)
	}
	b.SetBytes(int64(len(buf)))
}
