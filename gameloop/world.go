package gameloop

import (
	"cmp"
	"fmt"
	"slices"
)

// World is the list of entities of one view at one tick, as a mode renders
// it: each entity has an id, a short kind name, a fixed number of integer
// fields (per kind) and an optional label (a player's name). The engine diffs
// and encodes Worlds; modes only Add to them.
type World struct {
	tick uint64 // the tick it was rendered at: the base tick of diffs from it
	ents []entity
	vals []int32
	refs int // viewers whose diff base this is, plus one while current
	keys []uint64
	tmp  []entity
}

type entity struct {
	id    uint32
	kind  string
	label string
	off   uint32 // first value in World.vals
	n     uint32
}

// Add appends an entity without a label.
func (w *World) Add(id uint32, kind string, vals ...int32) {
	w.AddLabeled(id, kind, "", vals...)
}

// AddLabeled appends an entity with a label, such as a player's name.
func (w *World) AddLabeled(id uint32, kind, label string, vals ...int32) {
	w.ents = append(w.ents, entity{id: id, kind: kind, label: label, off: uint32(len(w.vals)), n: uint32(len(vals))})
	w.vals = append(w.vals, vals...)
}

// Each calls fn for every entity in the order added (or id order once the
// engine sealed w); mode tests use it to inspect renders.
func (w *World) Each(fn func(id uint32, kind, label string, vals []int32)) {
	for i := range w.ents {
		e := &w.ents[i]
		fn(e.id, e.kind, e.label, w.values(e))
	}
}

// relabel replaces the label of each labelled player entity (id below
// MaxPlayerNum) whose number is in names: the mode still knows a renamed
// player by its old name.
func (w *World) relabel(names map[uint32]string) {
	for i := range w.ents {
		e := &w.ents[i]
		if e.label == "" || e.id >= MaxPlayerNum {
			continue
		}
		if name, ok := names[e.id]; ok {
			e.label = name
		}
	}
}

// Len is the number of entities.
func (w *World) Len() int { return len(w.ents) }

// Reset empties w, keeping its memory.
func (w *World) Reset() {
	clear(w.ents) // release label strings
	w.ents = w.ents[:0]
	w.vals = w.vals[:0]
}

func (w *World) values(e *entity) []int32 { return w.vals[e.off : e.off+e.n] }

// seal sorts the entities by id, the order diffs walk them in, and drops
// duplicate ids (a mode bug), reporting how many it dropped. It sorts packed
// integer keys rather than the entities: several times faster, and no write
// barriers for the strings inside.
func (w *World) seal() (dups int) {
	sorted := true
	for i := 1; i < len(w.ents); i++ {
		if w.ents[i].id <= w.ents[i-1].id {
			sorted = false
			break
		}
	}
	if sorted {
		return 0
	}
	w.keys = w.keys[:0]
	for i := range w.ents {
		w.keys = append(w.keys, uint64(w.ents[i].id)<<32|uint64(i))
	}
	slices.Sort(w.keys)
	out := w.tmp[:0]
	for i, k := range w.keys {
		if i > 0 && k>>32 == w.keys[i-1]>>32 {
			dups++
			continue
		}
		out = append(out, w.ents[uint32(k)])
	}
	clear(w.ents)
	w.ents, w.tmp = out, w.ents[:0]
	return dups
}

func byID(a, b entity) int { return cmp.Compare(a.id, b.id) }

// Check reports the first entity whose kind is not in kinds or whose field
// count or label does not match its kind; mode tests call it on every render.
func (w *World) Check(kinds []Kind) error {
	for i := range w.ents {
		e := &w.ents[i]
		k := slices.IndexFunc(kinds, func(k Kind) bool { return k.Name == e.kind })
		switch {
		case k < 0:
			return fmt.Errorf("entity %d: unknown kind %q", e.id, e.kind)
		case int(e.n) != len(kinds[k].Fields):
			return fmt.Errorf("entity %d kind %q: %d fields, want %d", e.id, e.kind, e.n, len(kinds[k].Fields))
		case e.label != "" && !kinds[k].Label:
			return fmt.Errorf("entity %d kind %q: has a label, kind has none", e.id, e.kind)
		}
	}
	return nil
}

// worldPool recycles Worlds inside one room goroutine.
type worldPool struct{ free []*World }

func (p *worldPool) get() *World {
	if n := len(p.free); n > 0 {
		w := p.free[n-1]
		p.free = p.free[:n-1]
		w.refs = 1
		return w
	}
	return &World{refs: 1}
}

// release drops one reference; the last one returns w to the pool.
func (p *worldPool) release(w *World) {
	if w == nil {
		return
	}
	w.refs--
	if w.refs == 0 {
		w.Reset()
		if len(p.free) < 4096 {
			p.free = append(p.free, w)
		}
	}
}
