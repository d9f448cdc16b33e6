package gameloop

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Replica is a client's copy of one view, rebuilt from room.snapshot and
// room.diff data exactly as docs/PROTOCOL.md ("Game: rooms, snapshots and
// diffs") tells a client to. Tests and load tools use it to check a stream;
// the server never needs one.
type Replica struct {
	Match string
	Tick  uint64
	Ents  map[uint32]ReplicaEntity
}

// ReplicaEntity is one entity of a Replica.
type ReplicaEntity struct {
	Kind  string
	Vals  []int32
	Label string
}

type wireView struct {
	T *uint64           `json:"t"`
	B *uint64           `json:"b"`
	M *string           `json:"m"`
	E []json.RawMessage `json:"e"`
	A []json.RawMessage `json:"a"`
	C [][]int64         `json:"c"`
	R []uint32          `json:"r"`
}

// ApplySnapshot replaces the replica's content with a room.snapshot's data.
func (r *Replica) ApplySnapshot(data []byte) error {
	var v wireView
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if v.T == nil || v.M == nil || v.B != nil || v.A != nil || v.C != nil || v.R != nil {
		return fmt.Errorf("snapshot: want exactly t, m and e")
	}
	ents := make(map[uint32]ReplicaEntity, len(v.E))
	for _, raw := range v.E {
		id, e, err := decodeEntity(raw)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		if _, dup := ents[id]; dup {
			return fmt.Errorf("snapshot: entity %d twice", id)
		}
		ents[id] = e
	}
	r.Match, r.Tick, r.Ents = *v.M, *v.T, ents
	return nil
}

// ApplyDiff applies a room.diff's data; it fails, leaving the replica
// unchanged, when the diff's base is not the replica's tick or it does not
// fit the replica's entities (the client would then ask for a resync).
func (r *Replica) ApplyDiff(data []byte) error {
	var v wireView
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	switch {
	case v.T == nil || v.B == nil || v.M != nil || v.E != nil:
		return fmt.Errorf("diff: want t, b and optional a, c, r")
	case r.Ents == nil:
		return fmt.Errorf("diff before any snapshot")
	case *v.B != r.Tick:
		return fmt.Errorf("diff: base tick %d, replica is at %d", *v.B, r.Tick)
	case *v.T <= *v.B:
		return fmt.Errorf("diff: tick %d not after base %d", *v.T, *v.B)
	}
	next := maps.Clone(r.Ents)
	added := make(map[uint32]bool, len(v.A))
	for _, raw := range v.A {
		id, e, err := decodeEntity(raw)
		if err != nil {
			return fmt.Errorf("diff: %w", err)
		}
		if added[id] {
			return fmt.Errorf("diff: entity %d added twice", id)
		}
		added[id] = true
		next[id] = e
	}
	for _, ch := range v.C {
		if len(ch) < 3 || len(ch)%2 == 0 {
			return fmt.Errorf("diff: change %v is not [id,i,v,...]", ch)
		}
		id := ch[0]
		e, ok := next[uint32(id)]
		if id < 0 || id > math.MaxUint32 || !ok || added[uint32(id)] {
			return fmt.Errorf("diff: change of unknown or just added entity %d", id)
		}
		e.Vals = slices.Clone(e.Vals)
		for k := 1; k < len(ch); k += 2 {
			i, val := ch[k], ch[k+1]
			if i < 0 || i >= int64(len(e.Vals)) || val < math.MinInt32 || val > math.MaxInt32 {
				return fmt.Errorf("diff: change of entity %d: field %d value %d out of range", id, i, val)
			}
			e.Vals[i] = int32(val)
		}
		next[uint32(id)] = e
	}
	for _, id := range v.R {
		if _, ok := next[id]; !ok || added[id] {
			return fmt.Errorf("diff: removal of unknown or just added entity %d", id)
		}
		delete(next, id)
	}
	r.Tick, r.Ents = *v.T, next
	return nil
}

// Equal reports whether two replicas hold the same match, tick and entities.
func (r *Replica) Equal(o *Replica) bool {
	return r.Match == o.Match && r.Tick == o.Tick && maps.EqualFunc(r.Ents, o.Ents, func(a, b ReplicaEntity) bool {
		return a.Kind == b.Kind && a.Label == b.Label && slices.Equal(a.Vals, b.Vals)
	})
}

// decodeEntity parses [id,"kind",v...] with an optional trailing "label".
func decodeEntity(raw json.RawMessage) (uint32, ReplicaEntity, error) {
	var parts []any
	if err := json.Unmarshal(raw, &parts); err != nil {
		return 0, ReplicaEntity{}, fmt.Errorf("entity %s: %w", raw, err)
	}
	var e ReplicaEntity
	if len(parts) < 2 {
		return 0, e, fmt.Errorf("entity %s: want [id,kind,...]", raw)
	}
	id, ok := parts[0].(float64)
	if !ok || id < 0 || id > math.MaxUint32 || id != math.Trunc(id) {
		return 0, e, fmt.Errorf("entity %s: bad id", raw)
	}
	if e.Kind, ok = parts[1].(string); !ok {
		return 0, e, fmt.Errorf("entity %s: kind is not a string", raw)
	}
	vals := parts[2:]
	if n := len(vals); n > 0 {
		if label, ok := vals[n-1].(string); ok {
			if label == "" {
				return 0, e, fmt.Errorf("entity %s: empty label is written as no label", raw)
			}
			e.Label, vals = label, vals[:n-1]
		}
	}
	e.Vals = make([]int32, len(vals))
	for i, v := range vals {
		f, ok := v.(float64)
		if !ok || f < math.MinInt32 || f > math.MaxInt32 || f != math.Trunc(f) {
			return 0, e, fmt.Errorf("entity %s: field %d is not a 32-bit integer", raw, i)
		}
		e.Vals[i] = int32(f)
	}
	return uint32(id), e, nil
}
