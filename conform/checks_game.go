package conform

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

type kind struct {
	Kind   string   `json:"kind"`
	Fields []string `json:"fields"`
	Label  bool     `json:"label"`
}

type roomJoined struct {
	Room      string         `json:"room"`
	Name      string         `json:"name"`
	Mode      string         `json:"mode"`
	You       *int64         `json:"you"`
	Spectator bool           `json:"spectator"`
	TickHz    int            `json:"tick_hz"`
	Max       int            `json:"max"`
	Kinds     []kind         `json:"kinds"`
	Rules     map[string]any `json:"rules"`
}

// entity is a decoded entity: kind, fields and label.
type entity struct {
	kind  string
	f     []int64
	label *string
}

func (e entity) String() string {
	l := ""
	if e.label != nil {
		l = " " + *e.label
	}
	return fmt.Sprintf("%s%v%s", e.kind, e.f, l)
}

// view is a client's view of a room, built as PROTOCOL.md's applyDiff says.
type view struct {
	tick  int64
	ents  map[int64]entity
	kinds map[string]kind
}

// decodeEntity checks and decodes [id, "kind", f0, …, fn, "label"?].
func (v *view) decodeEntity(raw json.RawMessage) (int64, entity, error) {
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) < 2 {
		return 0, entity{}, fmt.Errorf("entity %s is not [id, kind, …]", raw)
	}
	var id int64
	var e entity
	if json.Unmarshal(arr[0], &id) != nil || json.Unmarshal(arr[1], &e.kind) != nil {
		return 0, entity{}, fmt.Errorf("entity %s: id or kind malformed", raw)
	}
	k, ok := v.kinds[e.kind]
	if !ok {
		return 0, entity{}, fmt.Errorf("entity %s: kind %q not in room.joined's kinds", raw, e.kind)
	}
	want := 2 + len(k.Fields)
	if k.Label {
		want++
	}
	if len(arr) != want {
		return 0, entity{}, fmt.Errorf("entity %s: %d members, want %d for kind %s (label %v)", raw, len(arr), want, e.kind, k.Label)
	}
	for i := 2; i < 2+len(k.Fields); i++ {
		var n int32
		if err := json.Unmarshal(arr[i], &n); err != nil {
			return 0, entity{}, fmt.Errorf("entity %s: field %d is not a 32-bit integer", raw, i-2)
		}
		e.f = append(e.f, int64(n))
	}
	if k.Label {
		var l string
		if err := json.Unmarshal(arr[len(arr)-1], &l); err != nil {
			return 0, entity{}, fmt.Errorf("entity %s: the label is not a string", raw)
		}
		e.label = &l
	}
	return id, e, nil
}

// snapshot replaces the view; entities must come in ascending id order.
func (v *view) snapshot(data json.RawMessage) error {
	var s struct {
		T *int64            `json:"t"`
		M string            `json:"m"`
		E []json.RawMessage `json:"e"`
	}
	if err := json.Unmarshal(data, &s); err != nil || s.T == nil || s.M == "" {
		return fmt.Errorf("room.snapshot %.100s: want t, m and e", data)
	}
	v.tick, v.ents = *s.T, map[int64]entity{}
	prev := int64(-1 << 62)
	for _, raw := range s.E {
		id, e, err := v.decodeEntity(raw)
		if err != nil {
			return err
		}
		if id <= prev {
			return fmt.Errorf("room.snapshot: id %d after %d, want ascending ids", id, prev)
		}
		prev = id
		v.ents[id] = e
	}
	return nil
}

// apply is applyDiff of PROTOCOL.md; it returns an error where that
// function returns false.
func (v *view) apply(data json.RawMessage) error {
	var d struct {
		T *int64            `json:"t"`
		B *int64            `json:"b"`
		A []json.RawMessage `json:"a"`
		C [][]int64         `json:"c"`
		R []int64           `json:"r"`
		X map[string]any    `json:"-"`
	}
	if err := json.Unmarshal(data, &d); err != nil || d.T == nil || d.B == nil {
		return fmt.Errorf("room.diff %.100s: want t and b", data)
	}
	if *d.B != v.tick {
		return fmt.Errorf("room.diff b=%d, the last tick received is %d", *d.B, v.tick)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(data, &raw)
	for _, m := range []string{"a", "c", "r"} {
		if r, ok := raw[m]; ok && string(r) == "[]" {
			return fmt.Errorf("room.diff %.100s: an empty %q is sent (omitted when empty)", data, m)
		}
	}
	seen := map[int64]bool{}
	once := func(id int64) error {
		if seen[id] {
			return fmt.Errorf("room.diff %.100s: id %d appears twice", data, id)
		}
		seen[id] = true
		return nil
	}
	for _, a := range d.A {
		id, e, err := v.decodeEntity(a)
		if err != nil {
			return err
		}
		if err := once(id); err != nil {
			return err
		}
		v.ents[id] = e
	}
	for _, c := range d.C {
		if len(c) < 3 || len(c)%2 == 0 {
			return fmt.Errorf("room.diff change %v is not [id, i, v, …]", c)
		}
		if err := once(c[0]); err != nil {
			return err
		}
		e, ok := v.ents[c[0]]
		if !ok {
			return fmt.Errorf("room.diff changes entity %d, which the view does not hold", c[0])
		}
		f := slices.Clone(e.f)
		for k := 1; k < len(c); k += 2 {
			if c[k] < 0 || int(c[k]) >= len(f) {
				return fmt.Errorf("room.diff sets field %d of a %s (%d fields)", c[k], e.kind, len(f))
			}
			f[c[k]] = c[k+1]
		}
		e.f = f
		v.ents[c[0]] = e
	}
	for _, id := range d.R {
		if err := once(id); err != nil {
			return err
		}
		delete(v.ents, id)
	}
	v.tick = *d.T
	return nil
}

// equal compares two views' entities and says how they differ.
func (v *view) diff(w *view) string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(v.ents)) {
		if e, ok := w.ents[id]; !ok {
			out = append(out, fmt.Sprintf("%d only in the diffs' view", id))
		} else if e.String() != v.ents[id].String() {
			out = append(out, fmt.Sprintf("%d: %s from diffs, %s in the snapshot", id, v.ents[id], e))
		}
	}
	for id := range w.ents {
		if _, ok := v.ents[id]; !ok {
			out = append(out, fmt.Sprintf("%d only in the snapshot", id))
		}
	}
	if len(out) > 4 {
		out = append(out[:4], fmt.Sprintf("… %d differences", len(out)))
	}
	return strings.Join(out, "; ")
}

// gameInput is a documented input that moves a player in a mode.
func gameInput(mode string, i int) map[string]any {
	switch mode {
	case "arena":
		return map[string]any{"m": 1 + i%8, "a": float64(i * 45 % 360), "f": i%2 == 0}
	case "snake":
		return map[string]any{"d": i % 4}
	default: // tag and modes moving like it
		return map[string]any{"m": 1 + i%8}
	}
}

// render is a view's entities in a canonical text, for comparing views.
func (v *view) render() string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(v.ents)) {
		fmt.Fprintf(&b, "%d:%s ", id, v.ents[id])
	}
	return b.String()
}

// pickMode is the first of tag, snake, arena the server has (modes whose
// players see the whole field first), else its first mode.
func pickMode(modes []string) string {
	for _, m := range []string{"tag", "snake", "arena"} {
		if slices.Contains(modes, m) {
			return m
		}
	}
	return modes[0]
}

// readJoin reads a join's events up to its room.snapshot and checks their order.
func (t *T) readJoin(st *stream, v *view, what string) roomJoined {
	var order []string
	var joined roomJoined
	evs := t.readUntil(st, what+": room.snapshot", func(e Event) bool { return e.Type == "room.snapshot" })
	for _, e := range evs {
		switch e.Type {
		case "room.joined", "room.state", "room.scores", "room.snapshot":
			order = append(order, e.Type)
		}
		if e.Type == "room.joined" {
			t.unmarshal("room.joined", e.Data, &joined)
		}
	}
	o := strings.Join(order, " ")
	if o != "room.joined room.state room.snapshot" && o != "room.joined room.state room.scores room.snapshot" {
		t.Errorf("%s gave %v, want room.joined, room.state, (room.scores,) room.snapshot", what, order)
	}
	if joined.You == nil || joined.TickHz <= 0 || len(joined.Kinds) == 0 || joined.Rules == nil || joined.Room == "" {
		t.Fatalf("%s: room.joined %+v, want room, you, tick_hz, kinds and rules", what, joined)
	}
	v.kinds = map[string]kind{}
	for _, k := range joined.Kinds {
		v.kinds[k.Kind] = k
	}
	if err := v.snapshot(evs[len(evs)-1].Data); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return joined
}

// checkGame plays a room on two sessions: the first applies every diff to
// its snapshot as applyDiff says, and its view at a tick must equal the
// snapshot the second gets of that tick after room.resync.
func checkGame(t *T) {
	mode := pickMode(t.modes())
	a, b := t.session(), t.session()
	as, bs := t.lobbyStream(a), t.lobbyStream(b)
	// Every punctuation mark Room names allow, with spaces around to trim.
	name := "Conform_" + randName(t) + "-'s. go! ?#1: a, (b)"
	t.say(a, "room.create", map[string]any{"mode": mode, "name": "  " + name + " "})
	t.Cleanup(func() { t.send(a, a.ev("room.leave", map[string]any{})) })
	va := &view{}
	ja := t.readJoin(as, va, "room.create")
	if ja.Name != name {
		t.Errorf("room.create with the name %q: room.joined name %q, want %q", "  "+name+" ", ja.Name, name)
	}
	if ja.Mode != mode || *ja.You <= 0 || ja.Spectator {
		t.Errorf("room.joined %+v, want mode %s and you > 0", ja, mode)
	}
	if _, ok := va.ents[*ja.You]; !ok {
		t.Errorf("the snapshot lacks your entity %d", *ja.You)
	}
	hist := map[int64]string{va.tick: va.render()}
	diffs := 0
	// stepA reads a's stream to its next diff, applying it and keeping the view of each tick.
	stepA := func() {
		t.readUntil(as, "room.diff", func(e Event) bool {
			switch e.Type {
			case "room.diff":
				diffs++
				if err := va.apply(e.Data); err != nil {
					t.Fatalf("diff %d: %v", diffs, err)
				}
				hist[va.tick] = va.render()
				return true
			case "room.snapshot": // a new match, or a keyframe after a backlog
				if err := va.snapshot(e.Data); err != nil {
					t.Fatalf("%v", err)
				}
				hist = map[int64]string{va.tick: va.render()}
			case "sys.error":
				t.Fatalf("%s", e.Data)
			}
			return false
		})
	}
	t.say(a, "room.input", gameInput(mode, 1))
	for diffs < 5 {
		stepA()
	}
	// viewAt is a's view at tick tk: ticks without a change for a are not sent.
	viewAt := func(tk int64) (string, bool) {
		for va.tick < tk {
			stepA()
		}
		for k := tk; k >= tk-200; k-- {
			if r, ok := hist[k]; ok {
				return r, true
			}
		}
		return "", false
	}
	compare := func(what string, fresh *view) {
		got, ok := viewAt(fresh.tick)
		if !ok {
			t.Errorf("%s: the first session holds no view of tick %d", what, fresh.tick)
			return
		}
		if want := fresh.render(); got != want {
			t.Errorf("%s: the snapshot plus %d diffs at tick %d is %.300s; the fresh snapshot is %.300s", what, diffs, fresh.tick, got, want)
		}
	}
	t.say(b, "room.join", map[string]any{"room": ja.Room})
	t.Cleanup(func() { t.send(b, b.ev("room.leave", map[string]any{})) })
	vb := &view{}
	t.readJoin(bs, vb, "room.join")
	t.say(a, "room.input", gameInput(mode, 2))
	t.say(b, "room.resync", map[string]any{})
	fresh := &view{}
	t.readJoin(bs, fresh, "room.resync")
	compare("the second player's snapshot after room.resync", fresh)
	// Diffs go on from the fresh snapshot.
	next := t.readType(bs, "room.diff")
	if err := fresh.apply(next.Data); err != nil {
		t.Errorf("the first diff after the resync: %v", err)
	}
	t.wantClean(as, bs)
}

// checkGameErrors: the room requests' documented errors.
func checkGameErrors(t *T) {
	modes := t.modes()
	s := t.session()
	st := t.lobbyStream(s)
	t.wantError(s, st, "room.join", map[string]any{}, "invalid", "room.join needs a mode (quick play) or a room")
	t.wantError(s, st, "room.join", map[string]any{"mode": "chess"}, "invalid", fmt.Sprintf("unknown mode %q (have %s)", "chess", strings.Join(modes, ", ")))
	t.wantError(s, st, "room.join", map[string]any{"room": "r_nope"}, "not_found", `no room "r_nope"`)
	t.wantError(s, st, "room.leave", map[string]any{}, "not_found", "you are not in a room")
	t.wantError(s, st, "room.spectate", map[string]any{}, "invalid", "room.spectate needs a room")
	t.wantError(s, st, "room.input", gameInput(modes[0], 1), "not_found", "")
	t.wantError(s, st, "room.create", map[string]any{"mode": modes[0], "name": strings.Repeat("r", 41)}, "invalid", "a room name is 1 to 40 characters")
	t.wantError(s, st, "room.create", map[string]any{"mode": modes[0], "name": "a@b"}, "invalid", "a room name may hold letters, digits, spaces and _ - ' . ! ? # : , ( ) only")
	t.wantClean(st)
}
