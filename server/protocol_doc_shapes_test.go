package server

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"comet/gameloop"
)

// TestProtocolDocEventShapes: every server event shown in a ```json block of
// PROTOCOL.md has the shape of the real event of its type — the same
// members (optional ones aside), the same JSON kinds, objects in arrays
// alike — captured from a real session that plays a short match. A doc
// example of a type the script never receives fails, so new examples need a
// scenario here.
func TestProtocolDocEventShapes(t *testing.T) {
	ts := startGameServer(t, func(c *Config) {
		c.Game.BotFillDelay = 10 * time.Millisecond
		c.Game.Settings = map[string]gameloop.Settings{"tag": {MinPlayers: 2, Countdown: 50 * time.Millisecond,
			Duration: 1500 * time.Millisecond, Intermission: time.Minute}}
	})
	real := map[string]json.RawMessage{}
	a := openTab(t, ts.URL, "")
	b := openTab(t, ts.URL, "")
	keep := func(ev wireEvent) {
		if _, ok := real[ev.Type]; !ok || ev.Type == "lobby.rooms" && len(ev.Data) > len(real[ev.Type]) {
			real[ev.Type] = ev.Data
		}
	}
	until := func(tb *testTab, typ string) {
		t.Helper()
		end := time.Now().Add(10 * time.Second)
		for {
			ev, ok := tb.read(time.Until(end))
			if !ok {
				t.Fatalf("no %s within 10s (have %v)", typ, slices.Sorted(maps.Keys(real)))
			}
			keep(ev)
			if ev.Type == typ {
				return
			}
		}
	}
	// The script: lobby and chat first, then a private tag room played to its end.
	a.send("player.rename", map[string]string{"name": "Ada Lovelace"})
	until(a, "player.renamed")
	a.send("chat.say", map[string]string{"channel": "lobby", "text": "good game!"})
	until(a, "chat.msg")
	a.send("chat.mute", map[string]string{"player": b.Player.ID})
	until(a, "chat.muted")
	a.send("player.claim", map[string]string{"password": "correct horse battery"})
	until(a, "player.claimed")
	a.send("room.create", map[string]any{"mode": "tag", "name": "Friday", "private": true})
	for _, typ := range []string{"room.joined", "room.state", "room.snapshot", "room.diff", "room.scores", "match.result"} {
		until(a, typ)
	}
	a.send("room.leave", map[string]any{})
	until(a, "room.left")
	until(b, "lobby.presence")
	// room.closed: the empty room closes (EmptyTimeout is short in tests).
	until(a, "lobby.rooms")

	optional := []string{"me", "code", "aborted", "bot", "score_limit", "queued", "stats", "left", "a", "c", "r"}
	clientTypes := map[string]bool{}
	for typ := range ts.handlers {
		clientTypes[typ] = true
	}
	seqN := regexp.MustCompile(`"seq":\s*N\b`)
	checked := 0
	for _, blk := range fencedBlocks(readProtocolDoc(t)) {
		if strings.TrimSpace(blk.info) != "json" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(seqN.ReplaceAllString(blk.body, `"seq":-1`)))
		for {
			var ev struct {
				Seq  int64           `json:"seq"`
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			if err := dec.Decode(&ev); err == io.EOF {
				break
			} else if err != nil {
				t.Errorf("line %d: not JSON: %v", blk.line, err)
				break
			}
			if ev.Type == "" || clientTypes[ev.Type] && ev.Seq != -1 || ev.Type == "room.closed" {
				continue // not an event, a client's event, or one the script cannot cause
			}
			got, ok := real[ev.Type]
			if !ok {
				t.Errorf("line %d: %s is documented but the script never received one: add it to this test", blk.line, ev.Type)
				continue
			}
			var d, r any
			_ = json.Unmarshal(ev.Data, &d)
			_ = json.Unmarshal(got, &r)
			if err := likeShape(ev.Type, d, r, optional); err != nil {
				t.Errorf("line %d: the doc's %s differs from the server's: %v\n doc: %s\nreal: %s", blk.line, ev.Type, err, ev.Data, got)
			}
			checked++
		}
	}
	if checked < 12 {
		t.Fatalf("only %d documented events checked", checked)
	}
}

// likeShape compares a documented value with a real one by shape: objects
// have the same members (optional ones may be missing on either side),
// scalars the same JSON kind, and the first objects of two arrays alike.
func likeShape(path string, doc, real any, optional []string) error {
	switch d := doc.(type) {
	case map[string]any:
		r, ok := real.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: the doc has an object, the server %T", path, real)
		}
		for _, k := range keysOf(d) {
			rv, ok := r[k]
			if !ok {
				if !slices.Contains(optional, k) {
					return fmt.Errorf("%s: the doc has %q, the server not (its members: %v)", path, k, keysOf(r))
				}
				continue
			}
			if err := likeShape(path+"."+k, d[k], rv, optional); err != nil {
				return err
			}
		}
		for _, k := range keysOf(r) {
			if _, ok := d[k]; !ok && !slices.Contains(optional, k) {
				return fmt.Errorf("%s: the server sends %q, the doc does not show it", path, k)
			}
		}
	case []any:
		r, ok := real.([]any)
		if !ok {
			return fmt.Errorf("%s: the doc has an array, the server %T", path, real)
		}
		if len(d) > 0 && len(r) > 0 {
			if _, isObj := d[0].(map[string]any); isObj {
				return likeShape(path+"[0]", d[0], r[0], optional)
			}
		}
	case string:
		if _, ok := real.(string); !ok {
			return fmt.Errorf("%s: the doc has a string, the server %v", path, real)
		}
	case float64:
		if _, ok := real.(float64); !ok {
			return fmt.Errorf("%s: the doc has a number, the server %v", path, real)
		}
	case bool:
		if _, ok := real.(bool); !ok {
			return fmt.Errorf("%s: the doc has a boolean, the server %v", path, real)
		}
	}
	return nil
}
