package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"comet/internal/check"
)

// openTab opens a session on n: for the player whose token is given, or a
// new guest when token is "". It returns the tab, its player's id and name.
func openTab(t *testing.T, n *node, token string) (c *client, id, name string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.ts.URL+"/comet/session", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		SID, Token string
		Player     struct{ ID, Name string }
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&s) != nil {
		t.Fatalf("session on %s: %d", n.name, resp.StatusCode)
	}
	if token != "" && s.Token != token {
		t.Fatalf("session on %s: a new player, want the token's", n.name)
	}
	return &client{t: t, sid: s.SID, token: s.Token, seq: 1}, s.Player.ID, s.Player.Name
}

// tabOn pairs a tab with the node it reads through.
type tabOn struct {
	c *client
	n *node
}

// everyoneOnline waits until every tab's lobby, read through its node,
// lists exactly the players given: each node then knows the others'.
func everyoneOnline(t *testing.T, tabs []tabOn, players ...string) {
	t.Helper()
	var cs []*client
	var ns []*node
	for _, x := range tabs {
		cs, ns = append(cs, x.c), append(ns, x.n)
	}
	lobbyShows(t, cs, ns, players, nil)
}

// errorsRead returns the data of the sys.error events the client read.
func (c *client) errorsRead() []string {
	var out []string
	for _, e := range c.got {
		if e.Type == "sys.error" {
			out = append(out, string(e.Data))
		}
	}
	return out
}

// TestDMAcrossNodes: a direct message from a player homed on A reaches the
// recipient's tabs homed on B and C and the sender's other tab on C, each
// once, and a reset of one of them sends the direct channel's history.
func TestDMAcrossNodes(t *testing.T) {
	ns := threeNodes(t)
	s1, sender, _ := openTab(t, ns[0], "")
	s2, _, _ := openTab(t, ns[2], s1.token)
	r1, recipient, _ := openTab(t, ns[1], "")
	r2, _, _ := openTab(t, ns[2], r1.token)
	tabs := []tabOn{{s1, ns[0]}, {s2, ns[2]}, {r1, ns[1]}, {r2, ns[2]}}
	everyoneOnline(t, tabs, sender, recipient)

	s1.emit(ns[0], "chat.say", map[string]string{"to": recipient, "text": "psst across nodes"})
	channel := "dm:" + min(sender, recipient) + ":" + max(sender, recipient)
	for _, x := range tabs {
		x.c.waitFor(x.n, "psst across nodes")
		var n int
		for _, e := range x.c.got {
			if e.Type == "chat.msg" && bytes.Contains(e.Data, []byte(`"psst across nodes"`)) {
				n++
				if !bytes.Contains(e.Data, []byte(fmt.Sprintf(`"channel":%q`, channel))) {
					t.Fatalf("tab %s read the line on another channel: %s", x.c.sid, e.Data)
				}
			}
		}
		if n != 1 {
			t.Fatalf("tab %s via %s read the line %d times", x.c.sid, x.n.name, n)
		}
		if errs := x.c.errorsRead(); len(errs) > 0 {
			t.Fatalf("tab %s: %v", x.c.sid, errs)
		}
	}

	// r2 (homed on C) resumes from a cursor its session never numbered: a
	// sys.reset, whose fresh state includes the direct channel's history,
	// because C recorded the channel when it delivered the line.
	r2.last, r2.got = r2.last+1000, nil
	check.For(t, 20*time.Second, func() error {
		if code := r2.poll(ns[2]); code != http.StatusOK {
			return fmt.Errorf("poll: %d", code)
		}
		for _, e := range r2.got {
			if e.Type == "chat.history" && bytes.Contains(e.Data, []byte(fmt.Sprintf(`"channel":%q`, channel))) &&
				bytes.Contains(e.Data, []byte(`"psst across nodes"`)) {
				return nil
			}
		}
		return fmt.Errorf("no history of %s after the reset", channel)
	})
}

// TestMuteAcrossNodes: a mute taken on A is in force on the muter's tab
// homed on B when chat.mute is answered. Fence: after the answer the
// muted player says a line, then a third player homed on the same node
// says one on the same channel; B's tab reads the third player's line, the
// muted one's never came before it.
func TestMuteAcrossNodes(t *testing.T) {
	ns := threeNodes(t)
	m1, muter, _ := openTab(t, ns[0], "")
	m2, _, _ := openTab(t, ns[1], m1.token)
	x, muted, _ := openTab(t, ns[2], "")
	y, third, _ := openTab(t, ns[2], "")
	everyoneOnline(t, []tabOn{{m1, ns[0]}, {m2, ns[1]}, {x, ns[2]}, {y, ns[2]}}, muter, muted, third)

	x.say(ns[2], "before the mute") // the control: before the mute it reaches B
	m2.waitFor(ns[1], "before the mute")

	m1.emit(ns[0], "chat.mute", map[string]string{"player": muted})
	x.say(ns[2], "muted line")
	y.say(ns[2], "fence line")
	m2.waitFor(ns[1], "fence line")
	if m2.saw("muted line") {
		t.Fatal("the muter's tab on B read the muted player's line said after the mute was answered")
	}
	sawMuted := false
	for _, e := range m2.got {
		if e.Type == "chat.muted" && bytes.Contains(e.Data, []byte(fmt.Sprintf("%q", muted))) {
			sawMuted = true
		}
	}
	if !sawMuted {
		t.Fatal("the muter's tab on B was not told chat.muted")
	}
	m1.waitFor(ns[0], "fence line")
	if m1.saw("muted line") {
		t.Fatal("the muter's tab on A read the muted player's line")
	}

	// Unmuted on B: A's tab takes the player's lines again at once.
	m2.emit(ns[1], "chat.unmute", map[string]string{"player": muted})
	x.say(ns[2], "after the unmute")
	m1.waitFor(ns[0], "after the unmute")
}

// TestWhisperAcrossNodes: /w name finds a player online only on another
// node (the presence directory), and the line reaches that player there.
func TestWhisperAcrossNodes(t *testing.T) {
	ns := threeNodes(t)
	w, from, _ := openTab(t, ns[0], "")
	z, to, name := openTab(t, ns[1], "")
	everyoneOnline(t, []tabOn{{w, ns[0]}, {z, ns[1]}}, from, to)

	w.emit(ns[0], "chat.say", map[string]string{"channel": "lobby", "text": "/w " + name + " hello over there"})
	z.waitFor(ns[1], "hello over there")
	w.waitFor(ns[0], "hello over there")
	if errs := w.errorsRead(); len(errs) > 0 {
		t.Fatalf("whisper refused: %v", errs)
	}
	// An unknown name is still refused, on the stream.
	w.emit(ns[0], "chat.say", map[string]string{"channel": "lobby", "text": "/w Nobody_Here hi"})
	check.For(t, 20*time.Second, func() error {
		w.poll(ns[0])
		for _, e := range w.errorsRead() {
			if strings.Contains(e, `"not_found"`) {
				return nil
			}
		}
		return fmt.Errorf("no not_found for an unknown name; errors %v", w.errorsRead())
	})
}

// TestChatLimitAcrossNodes: the chat limit is the session's home's bucket
// (docs/SECURITY.md): lines sent through every node, forwarded to the
// home, share one allowance of 5 plus 1 a second — each node taking its
// own would let 12 lines sent within a second or so through.
func TestChatLimitAcrossNodes(t *testing.T) {
	ns := threeNodes(t)
	a, _, _ := openTab(t, ns[0], "")
	const batches, per = 4, 3
	start := time.Now()
	for i := range batches {
		var evs []string
		for j := range per {
			evs = append(evs, fmt.Sprintf(`{"seq":%d,"type":"chat.say","data":{"channel":"lobby","text":"line %d"}}`, a.seq, i*per+j))
			a.seq++
		}
		n := ns[i%3]
		if code, b := a.do(http.MethodPost, n.ts.URL+"/comet/"+a.sid+"/send", []byte("["+strings.Join(evs, ",")+"]")); code != http.StatusNoContent {
			t.Fatalf("send via %s: %d %s", n.name, code, b)
		}
	}
	elapsed := time.Since(start)
	var taken, refused int
	check.For(t, 20*time.Second, func() error {
		a.poll(ns[1])
		taken, refused = 0, 0
		for _, e := range a.got {
			switch {
			case e.Type == "chat.msg":
				taken++
			case e.Type == "sys.error" && bytes.Contains(e.Data, []byte(`"rate_limited"`)):
				refused++
			case e.Type == "sys.error":
				t.Fatalf("unexpected refusal: %s", e.Data)
			}
		}
		if taken+refused != batches*per {
			return fmt.Errorf("read %d lines and %d refusals of %d", taken, refused, batches*per)
		}
		return nil
	})
	// At most the burst plus one a second since the first line (rounded up).
	if most := 5 + int(elapsed/time.Second) + 1; taken > most {
		t.Fatalf("%d lines taken in %v through three nodes; at most %d with one bucket", taken, elapsed, most)
	}
	if refused == 0 && elapsed < 6*time.Second { // a slower run may have refilled the bucket
		t.Fatalf("no line refused (%d taken in %v)", taken, elapsed)
	}
}

// TestChatLimitIsOnePerPlayerInTheCluster: one player's tabs homed on all
// three nodes share one allowance of 5 plus 1 a second, and one address's
// players on all three nodes one allowance of 20 (docs/SECURITY.md) — a
// bucket per node would take 3 times as many. Each tab sends its lines in
// one batch; the lines taken are counted from the store.
func TestChatLimitIsOnePerPlayerInTheCluster(t *testing.T) {
	ns := threeNodes(t)
	first, player, _ := openTab(t, ns[0], "")
	tabs := []*client{first}
	for _, n := range ns[1:] {
		c, id, _ := openTab(t, n, first.token)
		if id != player {
			t.Fatalf("second tab of %s is %s", player, id)
		}
		tabs = append(tabs, c)
	}
	start := time.Now()
	for i, c := range tabs { // 15 lines, 5 on each node
		c.sayBatch(ns[i], fmt.Sprintf("p%d", i), 5)
	}
	taken := linesStored(t, ns[0], "p")
	if most := 5 + int(time.Since(start)/time.Second) + 1; taken > most {
		t.Fatalf("one player's tabs on three nodes had %d lines taken in %v; at most %d with one bucket", taken, time.Since(start), most)
	}

	// One address: 8 players, 3 lines each, spread over the nodes: at most
	// 20 plus 2 a minute.
	start = time.Now()
	for i := range 8 {
		c, _, _ := openTab(t, ns[i%3], "")
		c.sayBatch(ns[i%3], fmt.Sprintf("a%d", i), 3)
	}
	if taken, most := linesStored(t, ns[0], "a"), 20+int(time.Since(start)/(30*time.Second))+1; taken > most {
		t.Fatalf("one address's players on three nodes had %d lines taken in %v; at most %d with one bucket", taken, time.Since(start), most)
	}
}

// sayBatch sends n lobby lines prefix-0 … in one POST through node, which
// takes the batch (204) whatever the limit refuses of it.
func (c *client) sayBatch(node *node, prefix string, n int) {
	c.t.Helper()
	var evs []string
	for j := range n {
		evs = append(evs, fmt.Sprintf(`{"seq":%d,"type":"chat.say","data":{"channel":"lobby","text":"%s-%d"}}`, c.seq, prefix, j))
		c.seq++
	}
	if code, b := c.do(http.MethodPost, node.ts.URL+"/comet/"+c.sid+"/send", []byte("["+strings.Join(evs, ",")+"]")); code != http.StatusNoContent {
		c.t.Fatalf("send via %s: %d %s", node.name, code, b)
	}
}

// linesStored counts the lobby lines in the store whose text starts with
// prefix.
func linesStored(t *testing.T, n *node, prefix string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lines, err := n.store.ChatHistory(ctx, "lobby", 500)
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, l := range lines {
		if strings.HasPrefix(l.Text, prefix) {
			count++
		}
	}
	return count
}
