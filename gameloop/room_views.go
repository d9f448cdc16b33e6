package gameloop

import (
	"slices"

	"comet"
)

// groupKey identifies viewers that receive the very same bytes this tick:
// the same diff base (nil: a snapshot) and the same current view.
type groupKey struct {
	base *World
	key  ViewKey
}

type group struct {
	groupKey
	members []*member
	cur     *World
	msg     *comet.Message // its encoding this tick; nil: nothing to send
}

// encodeGroups encodes every group's message. (Sharing this among
// goroutines was measured slower on the 2-core target machine; see
// docs/PERFORMANCE.md, "encoding views on two goroutines".)
func (r *room) encodeGroups() {
	for _, gr := range r.groupList {
		gr.cur = r.views[gr.key]
		gr.msg = r.enc.encode(r.tick, r.match.id, gr)
	}
}

// output renders each distinct view once, encodes each distinct (base, view)
// pair once and delivers it: through the bus when every viewer shares it,
// else to each viewer's sink.
func (r *room) output() {
	if len(r.viewers) == 0 {
		return
	}
	if r.views == nil {
		r.views = make(map[ViewKey]*World)
		r.groups = make(map[groupKey]*group)
	}
	g := r.match.game
	for _, mb := range r.viewers {
		mb.key = g.viewOf(mb.num)
		if _, ok := r.views[mb.key]; !ok {
			r.views[mb.key] = r.render(mb.key)
		}
		gk := groupKey{base: mb.base, key: mb.key}
		gr := r.groups[gk]
		if gr == nil {
			if n := len(r.groupFree); n > 0 {
				gr, r.groupFree = r.groupFree[n-1], r.groupFree[:n-1]
			} else {
				gr = &group{}
			}
			gr.groupKey = gk
			r.groups[gk] = gr
			r.groupList = append(r.groupList, gr)
		}
		gr.members = append(gr.members, mb)
	}
	r.encodeGroups()
	r.lastGroups = len(r.groupList)
	for _, gr := range r.groupList {
		msg := gr.msg
		if msg == nil {
			continue // nothing changed for these viewers: they keep their base
		}
		if gr.base == nil {
			r.met.snapshotBytes.Add(float64(len(msg.Frame) * len(gr.members)))
		} else {
			r.met.diffBytes.Add(float64(len(msg.Frame) * len(gr.members)))
		}
		cur := r.views[gr.key]
		if len(gr.members) == len(r.viewers) {
			r.publish(msg)
		}
		for _, mb := range gr.members {
			if len(gr.members) != len(r.viewers) {
				r.sendTo(mb, msg)
			}
			cur.refs++
			r.pool.release(mb.base)
			mb.base = cur
		}
	}
	for k, w := range r.views {
		r.pool.release(w)
		delete(r.views, k)
	}
	for _, gr := range r.groupList {
		clear(gr.members)
		gr.members = gr.members[:0]
		delete(r.groups, gr.groupKey)
		gr.groupKey, gr.cur, gr.msg = groupKey{}, nil, nil
		r.groupFree = append(r.groupFree, gr)
	}
	clear(r.groupList)
	r.groupList = r.groupList[:0]
}

// render asks the game for view key and seals it for diffing.
func (r *room) render(key ViewKey) *World {
	w := r.pool.get()
	r.match.game.render(key, w)
	if len(r.renamed) > 0 {
		w.relabel(r.renamed)
	}
	w.tick = r.tick
	if dups := w.seal(); dups > 0 {
		r.log.Error("mode rendered duplicate entity ids", "view", key, "dropped", dups)
	}
	return w
}

// sendSnapshot sends mb a snapshot of its view now, which becomes its base.
func (r *room) sendSnapshot(mb *member) {
	mb.key = r.match.game.viewOf(mb.num)
	w := r.render(mb.key)
	msg := r.enc.snapshot(w, r.match.id)
	r.pool.release(mb.base)
	mb.base = w // the reference from get is the viewer's
	r.met.snapshotBytes.Add(float64(len(msg.Frame)))
	r.sendTo(mb, msg)
}

// encoder turns views into event frames, reusing its scratch buffers.
type encoder struct {
	differ differ
	buf    []byte
}

func (e *encoder) encode(tick uint64, match string, gr *group) *comet.Message {
	if gr.base == nil {
		return e.snapshot(gr.cur, match)
	}
	return e.diff(tick, gr.base, gr.cur)
}

// snapshot and diff write the event frame directly in the layout
// comet.Message documents. The view encoder emits HTML-safe JSON by
// construction (tested against comet.RawMessage), so the validation and
// escaping pass of comet.RawMessage, a third of a 1,000-player tick, is
// skipped on this hot path.
func (e *encoder) snapshot(w *World, match string) *comet.Message {
	e.buf = append(e.buf[:0], snapshotPrefix...)
	e.buf = appendSnapshot(e.buf, w.tick, match, w)
	e.buf = append(e.buf, '}')
	return &comet.Message{Type: "room.snapshot", Frame: slices.Clone(e.buf), Flags: comet.Keyframe}
}

// diff returns nil when nothing changed.
func (e *encoder) diff(tick uint64, base, cur *World) *comet.Message {
	e.buf = append(e.buf[:0], diffPrefix...)
	var ok bool
	if e.buf, ok = e.differ.appendDiff(e.buf, tick, base, cur); !ok {
		return nil
	}
	e.buf = append(e.buf, '}')
	return &comet.Message{Type: "room.diff", Frame: slices.Clone(e.buf), Flags: comet.Droppable}
}

const (
	snapshotPrefix = `"type":"room.snapshot","data":`
	diffPrefix     = `"type":"room.diff","data":`
)

// rawMessage wraps JSON that did not come from the view encoder.
func (r *room) rawMessage(typ string, data []byte) *comet.Message {
	m, err := comet.RawMessage(typ, data)
	if err != nil {
		r.log.Error("encode event", "type", typ, "err", err)
		return nil
	}
	return m
}
