package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// bot is a game player driven by the bench through the public protocol: it
// joins a room with room.create or room.join, then sends room.input (up its
// WebSocket on transport ws, else by POST), each
// with a new aim, and times every input until its own stream shows its
// player's aim changed (the input → observed diff latency).
type bot struct {
	s        *clientStream
	joined   chan struct{}
	joinOnce sync.Once

	mu         sync.Mutex
	room       string
	you        uint32
	aimIdx     int // index of "aim" among the player kind's fields; -1 unknown
	state      string
	aim        int
	pending    bool
	pendingAim int
	pendingAt  time.Time
}

func newBot() *bot { return &bot{joined: make(chan struct{}), aimIdx: -1} }

func (b *bot) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == "running"
}

// joinedData is the part of room.joined a bot needs.
type joinedData struct {
	Room      string `json:"room"`
	You       uint32 `json:"you"`
	Spectator bool   `json:"spectator"`
	Kinds     []struct {
		Kind   string   `json:"kind"`
		Fields []string `json:"fields"`
	} `json:"kinds"`
}

// playerKind is the entity kind of players in arena.
const playerKind = "p"

// event handles the room events of the bot's stream.
func (b *bot) event(ev *wireEvent, now time.Time) {
	a := b.s.a
	switch ev.Type {
	case "room.joined":
		var d joinedData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			a.note(fmt.Errorf("room.joined: %w", err))
			return
		}
		b.mu.Lock()
		b.room, b.you, b.aimIdx = d.Room, d.You, -1
		for _, k := range d.Kinds {
			if k.Kind != playerKind {
				continue
			}
			for i, f := range k.Fields {
				if f == "aim" {
					b.aimIdx = i
				}
			}
		}
		b.mu.Unlock()
		b.joinOnce.Do(func() { close(b.joined) })
	case "room.state":
		var d struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(ev.Data, &d); err == nil {
			b.mu.Lock()
			b.state = d.State
			b.mu.Unlock()
		}
	case "room.snapshot", "room.diff":
		a.c.views.Add(1)
		b.mu.Lock()
		pending, you, idx, want, at := b.pending, b.you, b.aimIdx, b.pendingAim, b.pendingAt
		b.mu.Unlock()
		if !pending || idx < 0 {
			return
		}
		// Most views do not mention this player: skip them without parsing.
		if !bytes.Contains(ev.Data, fmt.Appendf(nil, "[%d,", you)) {
			return
		}
		aim, ok, err := aimOf(ev.Data, you, idx)
		if err != nil {
			a.note(fmt.Errorf("%s: %w", ev.Type, err))
			return
		}
		if !ok || aim != want {
			return
		}
		b.mu.Lock()
		if b.pending && b.pendingAim == want && b.pendingAt.Equal(at) {
			b.pending = false
			a.c.observed.Add(1)
			a.gameLat.Record(now.Sub(at))
		}
		b.mu.Unlock()
	}
}

// aimOf finds player you's aim (field idx) in a snapshot ("e") or a diff
// ("a" entities, "c" changes [id, field, value, ...]).
func aimOf(data []byte, you uint32, idx int) (aim int, ok bool, err error) {
	var v struct {
		E []json.RawMessage `json:"e"`
		A []json.RawMessage `json:"a"`
		C [][]int64         `json:"c"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return 0, false, fmt.Errorf("decode view: %w", err)
	}
	for _, c := range v.C {
		if len(c) == 0 || c[0] != int64(you) {
			continue
		}
		for i := 1; i+1 < len(c); i += 2 {
			if c[i] == int64(idx) {
				return int(c[i+1]), true, nil
			}
		}
	}
	for _, raw := range append(v.E, v.A...) {
		var ent []json.RawMessage
		if err := json.Unmarshal(raw, &ent); err != nil {
			return 0, false, fmt.Errorf("decode entity: %w", err)
		}
		if len(ent) < 2+idx+1 {
			continue
		}
		id, err := strconv.ParseUint(string(ent[0]), 10, 32)
		if err != nil || uint32(id) != you {
			continue
		}
		n, err := strconv.Atoi(string(ent[2+idx]))
		if err != nil {
			return 0, false, fmt.Errorf("entity %d field %d: %w", id, idx, err)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// sendInput sends one room.input with a new aim and marks it pending.
func (b *bot) sendInput(ctx context.Context) {
	a := b.s.a
	b.mu.Lock()
	if b.pending {
		a.c.unobserved.Add(1) // superseded before it was seen
	}
	aim := (b.aim + 1 + rand.IntN(358)) % 360
	b.aim, b.pending, b.pendingAim, b.pendingAt = aim, true, aim, time.Now()
	at := b.pendingAt
	b.mu.Unlock()
	a.c.inputs.Add(1)
	in := map[string]any{"m": rand.IntN(9), "a": aim, "f": false}
	var err error
	sentWS := false
	if b.s.transport == "ws" { // up the socket, as the browser client does
		sentWS, err = b.s.sendWS("room.input", in)
	}
	if sentWS {
		a.c.inputsWS.Add(1)
	} else { // by POST, as on the other transports (and while a socket is down)
		if err = a.send(ctx, b.s.sess, "room.input", in); err == nil {
			a.postLat.Record(time.Since(at))
		}
	}
	if err != nil && ctx.Err() == nil {
		a.c.inputErrs.Add(1)
		a.note(err)
		b.mu.Lock()
		if b.pendingAt.Equal(at) {
			b.pending = false
		}
		b.mu.Unlock()
	}
}

// inputLoop sends inputs at hz, starting at a random phase, until ctx ends.
func (b *bot) inputLoop(ctx context.Context, hz float64) {
	period := time.Duration(float64(time.Second) / hz)
	t := time.NewTimer(rand.N(period))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.sendInput(ctx)
		t.Reset(period)
	}
}

// settle counts an input still pending as unobserved.
func (b *bot) settle() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending {
		b.pending = false
		b.s.a.c.unobserved.Add(1)
	}
}

// addBots creates req.Count bots; each gets a new player, a stream, and
// joins (or creates) a room before this returns.
func (a *agent) addBots(ctx context.Context, req botsReq) (botsResp, error) {
	var resp botsResp
	if req.Count <= 0 {
		return resp, nil
	}
	if len(req.Transports) == 0 {
		req.Transports = []string{"multipart"}
	}
	if req.Mode == "" {
		req.Mode = "arena"
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := 0; i < req.Count; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b, err := a.joinBot(ctx, req, req.Transports[i%len(req.Transports)])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				resp.Failed++
				a.note(err)
				return
			}
			resp.Joined++
			if req.Create {
				resp.Rooms = append(resp.Rooms, b.room)
			}
		}()
	}
	wg.Wait()
	return resp, nil
}

func (a *agent) joinBot(ctx context.Context, req botsReq, transport string) (*bot, error) {
	b := newBot()
	s, err := a.startStream(transport, b, nil)
	if err != nil {
		return nil, fmt.Errorf("bot stream: %w", err)
	}
	if req.Create {
		err = a.send(ctx, s.sess, "room.create", map[string]any{"mode": req.Mode, "max": req.Max})
	} else {
		err = a.send(ctx, s.sess, "room.join", map[string]any{"room": req.Room})
	}
	if err != nil {
		return nil, err
	}
	select {
	case <-b.joined:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("bot: no room.joined within 30s")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	a.mu.Lock()
	a.bots = append(a.bots, b)
	a.mu.Unlock()
	return b, nil
}

// setInputs starts every bot's input loop at hz, or (hz == 0) stops them,
// waits a second for inputs in flight to show, and counts the rest unobserved.
func (a *agent) setInputs(req inputsReq) {
	a.mu.Lock()
	if a.inputs != nil {
		a.inputs()
		a.inputs = nil
	}
	bots := append([]*bot(nil), a.bots...)
	if req.Hz <= 0 {
		a.mu.Unlock()
		time.Sleep(time.Second)
		for _, b := range bots {
			b.settle()
		}
		return
	}
	ctx, cancel := context.WithCancel(a.ctx)
	a.inputs = cancel
	a.mu.Unlock()
	for _, b := range bots {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			b.inputLoop(ctx, req.Hz)
		}()
	}
}
