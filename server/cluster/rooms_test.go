package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"comet/internal/check"
	"comet/server/cluster"
)

// emit posts one client event through n, retrying while the session is
// between two nodes (503).
func (c *client) emit(n *node, typ string, data any) uint64 {
	c.t.Helper()
	b, _ := json.Marshal(data)
	seq := c.seq
	c.seq++
	body := fmt.Sprintf(`[{"seq":%d,"type":%q,"data":%s}]`, seq, typ, b)
	check.For(c.t, 20*time.Second, func() error {
		code, resp := c.do(http.MethodPost, n.ts.URL+"/comet/"+c.sid+"/send", []byte(body))
		if code != http.StatusNoContent {
			return fmt.Errorf("%s via %s: %d %s", typ, n.name, code, resp)
		}
		return nil
	})
	return seq
}

type roomView struct {
	ID      string `json:"id"`
	Mode    string `json:"mode"`
	Players int    `json:"players"`
	Private bool   `json:"private"`
}

// lobby folds what the client read into its lobby: the rooms listed and
// the players online.
func (c *client) lobby() (rooms map[string]roomView, online []string) {
	rooms = map[string]roomView{}
	for _, e := range c.got {
		switch e.Type {
		case "sys.reset":
			rooms, online = map[string]roomView{}, nil
		case "lobby.rooms":
			var m struct {
				Full   bool       `json:"full"`
				Rooms  []roomView `json:"rooms"`
				Closed []string   `json:"closed"`
			}
			if json.Unmarshal(e.Data, &m) != nil {
				c.t.Fatalf("bad lobby.rooms %s", e.Data)
			}
			if m.Full {
				clear(rooms)
			}
			for _, r := range m.Rooms {
				rooms[r.ID] = r
			}
			for _, id := range m.Closed {
				delete(rooms, id)
			}
		case "lobby.presence":
			var p struct {
				Players []struct {
					ID string `json:"id"`
				} `json:"players"`
			}
			_ = json.Unmarshal(e.Data, &p)
			online = nil
			for _, x := range p.Players {
				online = append(online, x.ID)
			}
			slices.Sort(online)
		}
	}
	return rooms, online
}

// newPlayer opens a session on n as newClient does and returns the
// client with its player id.
func newPlayer(t *testing.T, n *node) (*client, string) {
	t.Helper()
	resp, err := http.Post(n.ts.URL+"/comet/session", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		SID, Token string
		Player     struct{ ID string }
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&s) != nil {
		t.Fatalf("session on %s: %d", n.name, resp.StatusCode)
	}
	return &client{t: t, sid: s.SID, token: s.Token, seq: 1}, s.Player.ID
}

// lobbyShows waits until every client's lobby, read through its own node,
// lists exactly the players and the room ids given.
func lobbyShows(t *testing.T, cs []*client, ns []*node, players []string, rooms []string) {
	t.Helper()
	want := slices.Sorted(slices.Values(players))
	wantRooms := slices.Sorted(slices.Values(rooms))
	for i, c := range cs {
		check.For(t, 30*time.Second, func() error {
			if code := c.poll(ns[i]); code != http.StatusOK {
				return fmt.Errorf("poll: %d", code)
			}
			rs, online := c.lobby()
			var ids []string
			for id := range rs {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			if !slices.Equal(online, want) || !slices.Equal(ids, wantRooms) {
				return fmt.Errorf("client %d via %s: online %v rooms %v; want %v and %v", i, ns[i].name, online, ids, want, wantRooms)
			}
			return nil
		})
	}
}

// joined waits for the client's room.joined and returns its room and number.
func (c *client) joined(n *node) (room string, you int) {
	c.t.Helper()
	check.For(c.t, 30*time.Second, func() error {
		if code := c.poll(n); code != http.StatusOK {
			return fmt.Errorf("poll via %s: %d", n.name, code)
		}
		for _, e := range slices.Backward(c.got) {
			switch e.Type {
			case "room.joined":
				var j struct {
					Room string `json:"room"`
					You  int    `json:"you"`
				}
				_ = json.Unmarshal(e.Data, &j)
				room, you = j.Room, j.You
				return nil
			case "sys.error":
				c.t.Fatalf("refused: %s", e.Data)
			}
		}
		return fmt.Errorf("no room.joined yet")
	})
	return room, you
}

// TestLobbyAcrossNodes: three players homed on three nodes see the same
// online list and room list on every node; a node killed takes its player
// and its room out of the others' lists once its lease expires.
func TestLobbyAcrossNodes(t *testing.T) {
	ns := threeNodes(t)
	var cs []*client
	var ids []string
	for _, n := range ns {
		c, id := newPlayer(t, n)
		cs, ids = append(cs, c), append(ids, id)
	}
	lobbyShows(t, cs, ns, ids, nil)

	cs[0].emit(ns[0], "room.create", map[string]any{"mode": "arena"})
	roomA, _ := cs[0].joined(ns[0])
	cs[2].emit(ns[2], "room.create", map[string]any{"mode": "tag"})
	roomC, _ := cs[2].joined(ns[2])
	lobbyShows(t, cs, ns, ids, []string{roomA, roomC})

	ns[2].kill()
	lobbyShows(t, cs[:2], ns[:2], ids[:2], []string{roomA})
}

// TestRoomAcrossNodes: a player homed on B joins a room on A; the session
// moves to A with its numbering, and both players' inputs show in both
// players' views; the numbering of each never skips or repeats (take).
func TestRoomAcrossNodes(t *testing.T) {
	ns := threeNodes(t)
	a, b := newClient(t, ns[0]), newClient(t, ns[1])
	a.emit(ns[0], "room.create", map[string]any{"mode": "arena"})
	room, youA := a.joined(ns[0])
	b.poll(ns[1])
	b.emit(ns[1], "room.join", map[string]any{"room": room})
	roomB, youB := b.joined(ns[2]) // read through a third node: relayed or forwarded from A
	if roomB != room {
		t.Fatalf("b joined %s, want %s", roomB, room)
	}
	// Each aims a distinct angle until both views show both (a match may
	// still be starting: inputs are sent again until they take).
	aims := map[int]int{youA: 90, youB: 270}
	check.For(t, 60*time.Second, func() error {
		a.emit(ns[1], "room.input", map[string]any{"m": 0, "a": aims[youA]}) // through any node
		b.emit(ns[0], "room.input", map[string]any{"m": 0, "a": aims[youB]})
		for _, x := range []struct {
			c *client
			n *node
		}{{a, ns[2]}, {b, ns[1]}} {
			if code := x.c.poll(x.n); code != http.StatusOK {
				return fmt.Errorf("poll: %d", code)
			}
			ents := entities(t, x.c.got)
			for you, aim := range aims {
				e := ents[you]
				if len(e) < 5 || int(e[4].(float64)) != aim {
					return fmt.Errorf("player %d's aim not %d in a view yet: %v", you, aim, e)
				}
			}
		}
		return nil
	})
}

// entities folds room.snapshot and room.diff events into each entity's
// wire array (id, kind, fields…).
func entities(t *testing.T, evs []event) map[int][]any {
	ents := map[int][]any{}
	for _, e := range evs {
		switch e.Type {
		case "room.snapshot", "room.diff":
			var d struct {
				E [][]any `json:"e"`
				A [][]any `json:"a"`
				C [][]any `json:"c"`
				R []int   `json:"r"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatalf("bad %s: %v", e.Type, err)
			}
			if e.Type == "room.snapshot" {
				clear(ents)
			}
			for _, x := range append(d.E, d.A...) {
				ents[int(x[0].(float64))] = x
			}
			for _, c := range d.C {
				x := ents[int(c[0].(float64))]
				for i := 1; i+1 < len(c); i += 2 {
					if f := int(c[i].(float64)) + 2; f < len(x) {
						x[f] = c[i+1]
					}
				}
			}
			for _, id := range d.R {
				delete(ents, id)
			}
		}
	}
	return ents
}

// createPrivate opens a private room of mode through n and returns its id
// and join code.
func (c *client) createPrivate(n *node, mode string) (room, code string) {
	c.t.Helper()
	c.emit(n, "room.create", map[string]any{"mode": mode, "private": true})
	room, _ = c.joined(n)
	for _, e := range c.got {
		if e.Type == "room.joined" {
			var j struct{ Code string }
			_ = json.Unmarshal(e.Data, &j)
			code = j.Code
		}
	}
	if code == "" {
		c.t.Fatal("no join code in room.joined")
	}
	return room, code
}

// TestPrivateCodeAcrossNodes: a private room made on A is joined by its
// code from a player homed on C.
func TestPrivateCodeAcrossNodes(t *testing.T) {
	ns := threeNodes(t)
	a, c := newClient(t, ns[0]), newClient(t, ns[2])
	room, code := a.createPrivate(ns[0], "tag")
	c.poll(ns[2])
	c.emit(ns[2], "room.join", map[string]any{"room": strings.ToLower(code)})
	if got, _ := c.joined(ns[1]); got != room {
		t.Fatalf("joined %s by code, want %s", got, room)
	}
}

// TestQuickPlayAcrossNodes: quick play from two nodes fills one room.
func TestQuickPlayAcrossNodes(t *testing.T) {
	ns := threeNodes(t)
	a, b := newClient(t, ns[0]), newClient(t, ns[1])
	a.emit(ns[0], "room.join", map[string]any{"mode": "tag"})
	room, _ := a.joined(ns[0])
	check.For(t, 30*time.Second, func() error { // B's lobby lists the room first
		b.poll(ns[1])
		if rs, _ := b.lobby(); rs[room].Players == 0 {
			return fmt.Errorf("room %s not listed on b", room)
		}
		return nil
	})
	b.emit(ns[1], "room.join", map[string]any{"mode": "tag"})
	if got, _ := b.joined(ns[1]); got != room {
		t.Fatalf("quick play from b: %s, want %s", got, room)
	}
}

// TestRoomOwnerDies: the node that owns a room is killed; its members,
// re-homed on the node they reach next, get sys.reset then room.closed for
// that room, and no node lists it any more.
func TestRoomOwnerDies(t *testing.T) {
	ns := threeNodes(t)
	a, b, c := newClient(t, ns[0]), newClient(t, ns[1]), newClient(t, ns[2])
	a.emit(ns[0], "room.create", map[string]any{"mode": "tag"})
	room, _ := a.joined(ns[0])
	b.poll(ns[1])
	b.emit(ns[1], "room.join", map[string]any{"room": room})
	b.joined(ns[1])
	c.poll(ns[2])
	ns[0].kill()
	for _, x := range []struct {
		c *client
		n *node
	}{{a, ns[1]}, {b, ns[2]}} {
		check.For(t, 30*time.Second, func() error {
			if code := x.c.poll(x.n); code != http.StatusOK {
				return fmt.Errorf("poll via %s: %d", x.n.name, code)
			}
			for _, e := range x.c.got {
				if e.Type == "room.closed" && strings.Contains(string(e.Data), room) {
					return nil
				}
			}
			return fmt.Errorf("no room.closed for %s yet", room)
		})
	}
	check.For(t, 30*time.Second, func() error {
		for _, x := range []*client{a, b, c} {
			x.poll(ns[2])
			if rs, _ := x.lobby(); len(rs) != 0 {
				return fmt.Errorf("room still listed: %v", rs)
			}
		}
		return nil
	})
}

// TestQuickPlayAtOnce: three players homed on three nodes send quick play
// of a mode no node has a room of at the same moment; one node claims
// opening the room and the others join it, so all three land in one room.
// Each mode is one round.
func TestQuickPlayAtOnce(t *testing.T) {
	ns := threeNodes(t)
	for _, mode := range []string{"arena", "tag", "koth", "snake"} {
		cs := make([]*client, len(ns))
		for i, n := range ns {
			cs[i], _ = newPlayer(t, n)
			cs[i].poll(n)
		}
		start := make(chan struct{})
		codes := make([]int, len(ns))
		var wg sync.WaitGroup
		for i, c := range cs {
			body := fmt.Sprintf(`[{"seq":%d,"type":"room.join","data":{"mode":%q}}]`, c.seq, mode)
			c.seq++
			wg.Go(func() {
				<-start
				codes[i], _ = c.do(http.MethodPost, ns[i].ts.URL+"/comet/"+c.sid+"/send", []byte(body))
			})
		}
		close(start)
		wg.Wait()
		rooms := map[string]int{}
		for i, c := range cs {
			if codes[i] != http.StatusNoContent {
				t.Fatalf("%s: quick play via %s: %d", mode, ns[i].name, codes[i])
			}
			room, _ := c.joined(ns[i])
			rooms[room]++
		}
		if len(rooms) != 1 {
			t.Fatalf("%s: quick play at once on three nodes seated the players in %d rooms: %v", mode, len(rooms), rooms)
		}
	}
}

// TestQuickPlayClaimOfDeadNode: a claim to open a room held by a node that
// is gone (it died between claiming and opening) is dropped, and quick
// play opens the room itself rather than wait for it.
func TestQuickPlayClaimOfDeadNode(t *testing.T) {
	ns := threeNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(ns[0].nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: cluster.OpeningBucket, Storage: jetstream.MemoryStorage, History: 1, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "tag", []byte(`{"node":"gone"}`)); err != nil {
		t.Fatal(err)
	}
	a, _ := newPlayer(t, ns[1])
	a.poll(ns[1])
	a.emit(ns[1], "room.join", map[string]any{"mode": "tag"})
	room, _ := a.joined(ns[1])
	check.For(t, 10*time.Second, func() error { // the claim is node b's, naming the room
		e, err := kv.Get(ctx, "tag")
		if err != nil {
			return err
		}
		if want := fmt.Sprintf(`{"node":"b","room":%q}`, room); string(e.Value()) != want {
			return fmt.Errorf("claim %s, want %s", e.Value(), want)
		}
		return nil
	})
}
