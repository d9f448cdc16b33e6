package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"comet/internal/check"
	"comet/internal/clustertest"
)

// The cluster end to end (issue 18): nats-server, PostgreSQL, three
// `comet serve` nodes and nginx round-robin with no stickiness
// (docs/deploy/nginx-cluster.conf), all real processes; clients on every
// transport through nginx.

// clusterMissing names what the cluster core does not do yet, by the
// feature a phase checks (see ARCHITECTURE.md, "Cluster", "Not built yet").
// A phase whose feature is listed still runs its assertions: when they fail
// it skips naming the feature and the failure; when they pass it fails, so
// the entry is removed the day the core does it.
var clusterMissing = map[string]string{}

// expect judges a phase's outcome against clusterMissing.
func expect(t *testing.T, feature string, err error) {
	t.Helper()
	reason, missing := clusterMissing[feature]
	switch {
	case err == nil && missing:
		t.Fatalf("%s works now: remove %q from clusterMissing", reason, feature)
	case err != nil && missing:
		t.Skipf("cluster core lacks %s (issue 18): %v", reason, err)
	case err != nil:
		t.Fatal(err)
	}
}

// openCTab is a tab (handover_test.go) on the cluster's TLS client through
// nginx, retrying a POST's seq for 30 s (a node draining, a home re-homed).
func openCTab(t *testing.T, c *http.Client, url, transport, xff string) *tab {
	t.Helper()
	tb := openTabWith(t, c, url, transport, xff)
	tb.sendFor = 30 * time.Second
	return tb
}

// seqErr checks a session's seqs: 1, 2, 3 … by one, no gap and no repeat,
// a sys.reset included (the cluster numbers it last+1). It returns the
// number of resets.
func seqErr(name string, evs []ev) (resets int, err error) {
	var prev uint64
	for i, e := range evs {
		if e.Seq != prev+1 {
			return resets, fmt.Errorf("%s: event %d (%s) has seq %d after %d: lost or repeated", name, i, e.Type, e.Seq, prev)
		}
		prev = e.Seq
		if e.Type == "sys.reset" {
			resets++
		}
	}
	return resets, nil
}

// chatSeen counts the lobby lines a tab holds, by text, in the state it
// built since its last sys.reset (chat.history after a reset is fresh state,
// not a repeat); dup names a line seen twice within one such epoch.
func chatSeen(evs []ev) (seen map[string]bool, dup string) {
	seen = map[string]bool{}
	epoch := map[string]bool{}
	add := func(text string) {
		if epoch[text] && dup == "" {
			dup = text
		}
		epoch[text], seen[text] = true, true
	}
	for _, e := range evs {
		switch e.Type {
		case "sys.reset":
			epoch = map[string]bool{}
		case "chat.msg":
			var m struct{ Channel, Text string }
			if json.Unmarshal(e.Data, &m) == nil && m.Channel == "lobby" {
				add(m.Text)
			}
		case "chat.history":
			var h struct {
				Channel  string
				Messages []struct{ Text string }
			}
			if json.Unmarshal(e.Data, &h) == nil && h.Channel == "lobby" {
				for _, m := range h.Messages {
					add(m.Text)
				}
			}
		}
	}
	return seen, dup
}

// chatter makes every tab say a lobby line about once a second until stop
// closes, recording the lines a node acknowledged.
type chatter struct {
	mu    sync.Mutex
	acked []acked
	stop  chan struct{}
	once  sync.Once
	done  []chan struct{} // closed when tab i's last line is answered
	wg    sync.WaitGroup
}

type acked struct {
	from int
	seq  uint64
	text string
	at   time.Time // when the 204 came
}

func startChatter(tabs []*tab, prefix string) *chatter {
	ch := &chatter{stop: make(chan struct{})}
	for i, tb := range tabs {
		ch.wg.Add(1)
		done := make(chan struct{})
		ch.done = append(ch.done, done)
		go func() {
			defer ch.wg.Done()
			defer close(done)
			for n := 0; ; n++ {
				select {
				case <-ch.stop:
					return
				case <-time.After(time.Duration(900+rand.IntN(300)) * time.Millisecond):
				}
				text := fmt.Sprintf("%s %s line %d", prefix, tb.transport, n)
				if seq, ok := tb.say(text); ok {
					ch.mu.Lock()
					ch.acked = append(ch.acked, acked{i, seq, text, time.Now()})
					ch.mu.Unlock()
				}
			}
		}()
	}
	return ch
}

// halt tells every tab to stop chatting after the line it is saying;
// ch.done[i] closes when tab i has.
func (ch *chatter) halt() { ch.once.Do(func() { close(ch.stop) }) }

func (ch *chatter) end() []acked {
	ch.halt()
	ch.wg.Wait()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return append([]acked(nil), ch.acked...)
}

// everyoneGets waits until every tab holds every line in lines (not refused
// on its sender's stream), each at most once per epoch.
func everyoneGets(t *testing.T, tabs []*tab, lines []acked, timeout time.Duration) error {
	t.Helper()
	end := time.Now().Add(timeout)
	for {
		err := func() error {
			refusedBy := make([]map[uint64]bool, len(tabs))
			for j, o := range tabs {
				evs := o.snapshot()
				refusedBy[j] = refused(evs)
			}
			for _, tb := range tabs {
				evs := tb.snapshot()
				seen, dup := chatSeen(evs)
				if dup != "" {
					return fmt.Errorf("%s: %q delivered twice", tb.transport, dup)
				}
				for _, l := range lines {
					switch {
					case refusedBy[l.from][l.seq] && seen[l.text]:
						return fmt.Errorf("%s: refused line %q delivered", tb.transport, l.text)
					case !refusedBy[l.from][l.seq] && !seen[l.text]:
						return fmt.Errorf("%s: %q (acknowledged) not received", tb.transport, l.text)
					}
				}
			}
			return nil
		}()
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// storedOnce checks every acknowledged line is in PostgreSQL exactly once.
func storedOnce(ctx context.Context, dsn string, lines []acked) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT text, count(*) FROM chat_messages WHERE channel = 'lobby' GROUP BY text`)
	if err != nil {
		return fmt.Errorf("read chat_messages: %w", err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var text string
		var n int
		if err := rows.Scan(&text, &n); err != nil {
			return err
		}
		stored[text] = n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, l := range lines {
		if stored[l.text] != 1 {
			return fmt.Errorf("acknowledged line %q stored %d times in PostgreSQL", l.text, stored[l.text])
		}
	}
	return nil
}

// checkTabs checks every tab's seqs and returns the resets each saw.
func checkTabs(t *testing.T, tabs []*tab) []int {
	t.Helper()
	resets := make([]int, len(tabs))
	for i, tb := range tabs {
		evs := tb.snapshot()
		n, err := seqErr(tb.transport, evs)
		if err != nil {
			t.Error(err)
		}
		resets[i] = n
	}
	return resets
}

// recovered waits until each tab has said a line after the event at since
// and every tab holds all those lines, and returns how long that took per
// tab (its own line back on its own stream) and in all. A tab says its
// line once after[i] is closed (its chatter done), when after is not nil.
func recovered(t *testing.T, tabs []*tab, since time.Time, tag string, after []chan struct{}) (per []time.Duration, all time.Duration, err error) {
	per, all, _, err = recoveredLines(t, tabs, since, tag, after)
	return per, all, err
}

// recoveredLines is recovered, also returning each tab's line.
func recoveredLines(t *testing.T, tabs []*tab, since time.Time, tag string, after []chan struct{}) (per []time.Duration, all time.Duration, lines []acked, err error) {
	t.Helper()
	lines = make([]acked, len(tabs))
	var wg sync.WaitGroup
	errs := make([]error, len(tabs))
	for i, tb := range tabs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if after != nil {
				<-after[i]
			}
			text := fmt.Sprintf("%s probe %s", tag, tb.transport)
			seq, ok := tb.say(text)
			if !ok {
				tb.mu.Lock()
				st := fmt.Sprint(tb.statuses)
				tb.mu.Unlock()
				errs[i] = fmt.Errorf("%s: no node took its line within 30 s after %s (statuses %s)", tb.transport, tag, st)
			}
			lines[i] = acked{i, seq, text, time.Now()}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, 0, nil, e
		}
	}
	if err := everyoneGets(t, tabs, lines, 60*time.Second); err != nil {
		return nil, 0, nil, fmt.Errorf("after %s: %w", tag, err)
	}
	per = make([]time.Duration, len(tabs))
	for i, tb := range tabs {
		evs, at := tb.snapshotAt()
		for k, e := range evs {
			if e.Type == "chat.msg" && strings.Contains(string(e.Data), lines[i].text) {
				per[i] = at[k].Sub(since)
			}
		}
		all = max(all, per[i])
	}
	return per, all, lines, nil
}

// busiest returns the index of the live node home names the home of the
// most sessions, but not the node named not (when another is live).
func busiest(c *clustertest.Cluster, home map[string]string, not ...string) int {
	count := map[string]int{}
	for _, h := range home {
		count[h]++
	}
	best := -1
	for i, n := range c.Nodes {
		select {
		case <-n.Done():
			continue
		default:
		}
		if slices.Contains(not, n.Name) {
			continue
		}
		if best < 0 || count[n.Name] > count[c.Nodes[best].Name] {
			best = i
		}
	}
	return best
}

// firstAck is how long after at the tab from had its first chat line
// acknowledged (its POSTs taken again: a line in flight at the SIGKILL
// counts from its answer); -1 when none was.
func firstAck(lines []acked, from int, at time.Time) time.Duration {
	first := time.Duration(-1)
	for _, l := range lines {
		if l.from == from && l.at.After(at) && (first < 0 || l.at.Sub(at) < first) {
			first = l.at.Sub(at)
		}
	}
	return first
}

// TestClusterEndToEnd runs the cluster with clients on every transport
// through nginx round-robin: chat across nodes; play across nodes; a node
// SIGKILLed mid-stream; another drained with SIGTERM; NATS restarted. Per
// session the seqs run on with no gap and no repeat, every acknowledged
// chat line is in PostgreSQL once and delivered at most once, and the
// recovery times are logged.
func TestClusterEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server, PostgreSQL, three nodes and nginx")
	}
	if missing := clustertest.MissingFlags(t, clustertest.Comet(t), clustertest.ClusterFlags...); len(missing) > 0 {
		t.Skipf("cluster core lacks the flags %v (issue 18)", missing)
	}
	// The play phase's match runs all test long: no bot joins (nobody fires,
	// so no match ends by score) and none ends by time.
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Args: []string{"--session-grace", "60s",
		"--match-length", "10m", "--countdown", "100ms", "--bot-delay", "10m"}})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", c.Logs())
		}
	})
	transports := []string{"iframe", "multipart", "sse", "longpoll", "poll", "ws"}
	var tabs []*tab
	for i, tr := range transports {
		tabs = append(tabs, openCTab(t, c.Client, c.URL, tr, fmt.Sprintf("198.51.100.%d", i+1)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var allAcked []acked
	// The play phase's players, in one room on one node (tag: three
	// players start its match). Opened here: they play on to the end.
	// Sessions are made round-robin, so of three at least two are homed on
	// different nodes.
	var players []*tab
	for i := range 3 {
		players = append(players, openCTab(t, c.Client, c.URL, "sse", fmt.Sprintf("198.51.100.%d", 101+i)))
	}
	var playRoom string

	t.Run("chat across nodes", func(t *testing.T) {
		ch := startChatter(tabs, "chat")
		time.Sleep(3 * time.Second) // let every tab say a few lines
		lines := ch.end()
		allAcked = append(allAcked, lines...)
		if len(lines) < len(tabs) {
			t.Fatalf("only %d lines acknowledged", len(lines))
		}
		if err := everyoneGets(t, tabs, lines, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if resets := checkTabs(t, tabs); fmt.Sprint(resets) != fmt.Sprint(make([]int, len(tabs))) {
			t.Fatalf("resets per tab %v with every node up", resets)
		}
	})

	t.Run("play across nodes", func(t *testing.T) {
		// Quick play seats the players, homed on different nodes, in one room.
		for _, p := range players {
			if _, ok := p.send("room.join", map[string]string{"mode": "tag"}); !ok {
				t.Fatalf("room.join refused")
			}
		}
		room := func(p *tab) string {
			evs := p.snapshot()
			for _, e := range evs {
				if e.Type == "room.joined" {
					var j struct{ Room string }
					_ = json.Unmarshal(e.Data, &j)
					return j.Room
				}
			}
			return ""
		}
		check.For(t, 20*time.Second, func() error {
			for i, p := range players {
				if room(p) == "" {
					return fmt.Errorf("player %d not seated", i)
				}
			}
			return nil
		})
		var err error
		rooms := map[string]bool{}
		for _, p := range players {
			rooms[room(p)] = true
		}
		if len(rooms) != 1 {
			err = fmt.Errorf("quick play of tag through nginx seated three players in %d rooms %v", len(rooms), rooms)
		} else {
			playRoom = room(players[0])
		}
		if err == nil {
			err = sameRoomList(c)
		}
		expect(t, "rooms", err)
	})

	t.Run("SIGKILL a node mid-stream", func(t *testing.T) {
		home := homes(t, c, tabs)
		owner := roomOwner(t, c, players, playRoom)
		ch := startChatter(tabs, "kill")
		time.Sleep(2 * time.Second)
		before := resetsNow(tabs)
		ticks := roomTicks(t, players)
		// Kill the node home to the most tabs, so that the most transports
		// show their re-home; not the room's owner, whose room must go on
		// untouched (the drain below moves it).
		di := busiest(c, home, owner)
		killed := time.Now()
		dead := c.Nodes[di]
		if err := dead.Kill(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		// Each tab says its probe line as soon as its own chatter stops:
		// its recovery is not held up by another tab's.
		ch.halt()
		per, all, probes, err := recoveredLines(t, tabs, killed, "after kill", ch.done)
		lines := ch.end()
		allAcked = append(allAcked, lines...)
		if err != nil {
			t.Fatal(err)
		}
		resets := checkTabs(t, tabs)
		for i, tb := range tabs {
			// Memory was lost with the home: exactly one sys.reset then
			// fresh state; a session homed elsewhere is not reset.
			want := 0
			if home[tb.sid] == dead.Name {
				want = 1
			}
			if got := resets[i] - before[tb]; got != want {
				t.Errorf("%s (home %s): %d resets at the SIGKILL of %s, want %d", tb.transport, home[tb.sid], got, dead.Name, want)
			}
			t.Logf("%s (home %s): its own line back on its stream %v after the SIGKILL, its POSTs taken again %v after it; resets %d",
				tb.transport, home[tb.sid], per[i].Round(time.Millisecond),
				firstAck(append(lines, probes...), i, killed).Round(time.Millisecond), resets[i])
		}
		t.Logf("every tab had every tab's line %v after the SIGKILL of %s", all.Round(time.Millisecond), dead.Name)
		// The room on a surviving node plays on: same room and match, its
		// ticks running on, no reset for its players.
		roomGoesOn(t, players, playRoom, ticks, killed, "the SIGKILL of "+dead.Name)
		if err := storedOnce(ctx, c.DB, lines); err != nil {
			t.Fatal(err)
		}
		// The killed node comes back under its name once its lease is gone.
		restartAfterLease(t, c, di)
	})

	t.Run("SIGTERM drains a node", func(t *testing.T) {
		home := homes(t, c, tabs)
		ch := startChatter(tabs, "drain")
		time.Sleep(2 * time.Second)
		before := resetsNow(tabs)
		// The room's owner: its room moves to another node with its players
		// (and its tabs' sessions are handed over).
		drained := c.Nodes[busiest(c, home)]
		if owner := roomOwner(t, c, players, playRoom); owner != "" {
			drained = c.Nodes[slices.IndexFunc(c.Nodes, func(n *clustertest.Node) bool { return n.Name == owner })]
		}
		ticks := roomTicks(t, players)
		var strict, moved []*tab
		var strictDone, movedDone []chan struct{}
		for i, tb := range tabs {
			if home[tb.sid] == drained.Name {
				moved, movedDone = append(moved, tb), append(movedDone, ch.done[i])
			} else {
				strict, strictDone = append(strict, tb), append(strictDone, ch.done[i])
			}
		}
		termed := time.Now()
		// The drain takes up to 5 s and more (sessions nobody took are
		// saved as the node leaves): the tabs are measured meanwhile.
		termErr := make(chan error, 1)
		go func() { termErr <- drained.Term() }()
		time.Sleep(time.Second)
		ch.halt()
		// Sessions homed on the other nodes go on untouched: no reset.
		// A drain is a hand-over: the drained node's sessions go on on other
		// nodes, every line reaches them, no reset; the others are untouched.
		all2 := append(append([]*tab(nil), strict...), moved...)
		per, all, err := recovered(t, all2, termed, "after drain", append(strictDone, movedDone...))
		lines := ch.end()
		allAcked = append(allAcked, lines...)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-termErr; err != nil {
			t.Error(err) // a drain ends with exit 0; the rest is still checked
		}
		if err := storedOnce(ctx, c.DB, lines); err != nil {
			t.Fatal(err)
		}
		resets := checkTabs(t, all2)
		for i, tb := range all2 {
			if resets[i] != before[tb] {
				t.Errorf("%s (home %s): reset by the drain of %s", tb.transport, home[tb.sid], drained.Name)
			}
			t.Logf("%s (home %s%s): its own line back on its stream %v after the SIGTERM", tb.transport, home[tb.sid],
				map[bool]string{true: ", drained"}[i >= len(strict)], per[i].Round(time.Millisecond))
		}
		t.Logf("every tab had every line %v after the SIGTERM of %s", all.Round(time.Millisecond), drained.Name)
		tabs = all2
		// The match goes on on another node, with its players.
		roomGoesOn(t, players, playRoom, ticks, termed, "the SIGTERM of "+drained.Name)
		if owner := roomOwner(t, c, players, playRoom); owner == drained.Name {
			t.Errorf("the room's players are still homed on the drained node %s", owner)
		} else if owner != "" {
			t.Logf("the room moved from %s to %s with its %d players", drained.Name, owner, len(players))
		}
	})

	t.Run("NATS restarts", func(t *testing.T) {
		live := liveNodes(c)
		c.NATS.Stop()
		// Fenced: every node says it cannot serve while NATS is gone.
		err := pollAll(live, 20*time.Second, http.StatusServiceUnavailable)
		c.NATS.Start()
		// Recovered by itself: healthy again, and chat across nodes works
		// with every session's seqs running on.
		if err == nil {
			err = pollAll(live, 60*time.Second, http.StatusOK)
		}
		if err == nil {
			var all time.Duration
			_, all, err = recovered(t, tabs, time.Now(), "after NATS restart", nil)
			t.Logf("every tab had every tab's line %v after NATS was back", all.Round(time.Millisecond))
		}
		if err == nil {
			_, err = seqsOf(tabs)
		}
		expect(t, "nats", err)
	})

	if err := storedOnce(ctx, c.DB, allAcked); err != nil {
		t.Fatal(err)
	}
}

// homes reads each tab's home node from the cluster's session directory,
// KV bucket comet_sessions (server/cluster): sid → {"node","player"}.
func homes(t *testing.T, c *clustertest.Cluster, tabs []*tab) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(c.NATS.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "comet_sessions")
	if err != nil {
		t.Fatalf("the cluster's session directory: %v", err)
	}
	out := map[string]string{}
	for _, tb := range tabs {
		e, err := kv.Get(ctx, tb.sid)
		if err != nil {
			t.Fatalf("%s: home of %s: %v", tb.transport, tb.sid, err)
		}
		var d struct{ Node string }
		if err := json.Unmarshal(e.Value(), &d); err != nil || d.Node == "" {
			t.Fatalf("%s: directory entry %q: %v", tb.transport, e.Value(), err)
		}
		out[tb.sid] = d.Node
	}
	return out
}

// seqsOf is checkTabs returning the first error instead of failing.
func seqsOf(tabs []*tab) ([]int, error) {
	resets := make([]int, len(tabs))
	for i, tb := range tabs {
		evs := tb.snapshot()
		n, err := seqErr(tb.transport, evs)
		if err != nil {
			return nil, err
		}
		resets[i] = n
	}
	return resets, nil
}

// sameRoomList checks every live node lists the same public rooms
// (GET /api/rooms asked of each node directly): exact across nodes, no
// zombie and no duplicate.
func sameRoomList(c *clustertest.Cluster) error {
	var first string
	for i, n := range liveNodes(c) {
		resp, err := http.Get(n.URL + "/api/rooms")
		if err != nil {
			return err
		}
		var body struct {
			Rooms []struct{ ID string } `json:"rooms"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s /api/rooms: %w", n.Name, err)
		}
		ids := map[string]bool{}
		for _, r := range body.Rooms {
			if ids[r.ID] {
				return fmt.Errorf("%s lists room %s twice", n.Name, r.ID)
			}
			ids[r.ID] = true
		}
		list := fmt.Sprint(body.Rooms)
		if i == 0 {
			first = list
		} else if list != first {
			return fmt.Errorf("room lists differ: %s has %s, %s has %s", c.Nodes[0].Name, first, n.Name, list)
		}
	}
	return nil
}

func liveNodes(c *clustertest.Cluster) []*clustertest.Node {
	var live []*clustertest.Node
	for _, n := range c.Nodes {
		select {
		case <-n.Done():
		default:
			live = append(live, n)
		}
	}
	return live
}

// pollAll waits until every node's /healthz answers code.
func pollAll(nodes []*clustertest.Node, timeout time.Duration, code int) error {
	end := time.Now().Add(timeout)
	for {
		var err error
		for _, n := range nodes {
			got, body, herr := n.Health()
			if herr != nil || got != code {
				err = fmt.Errorf("%s /healthz = %d %s %v, want %d", n.Name, got, strings.TrimSpace(body), herr, code)
				break
			}
		}
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// resetsNow counts the sys.reset each tab has had so far.
func resetsNow(tabs []*tab) map[*tab]int {
	out := map[*tab]int{}
	for _, tb := range tabs {
		evs := tb.snapshot()
		for _, e := range evs {
			if e.Type == "sys.reset" {
				out[tb]++
			}
		}
	}
	return out
}

// restartAfterLease starts node i again under its name and address once
// its lease has expired (a live lease refuses the name): the lease is the
// key of its name in the cluster's KV bucket comet_nodes (server/cluster).
func restartAfterLease(t *testing.T, c *clustertest.Cluster, i int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(c.NATS.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "comet_nodes")
	if err != nil {
		t.Fatalf("the cluster's lease bucket: %v", err)
	}
	name := c.Nodes[i].Name
	check.For(t, 30*time.Second, func() error {
		if _, err := kv.Get(ctx, name); !errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("lease of %s still there (%v)", name, err)
		}
		return nil
	})
	c.Restart(t, i)
}

// roomOwner returns the node the players of room are homed on (a room's
// members are homed on its owner), "" when there is no room; it fails t
// if they are homed apart.
func roomOwner(t *testing.T, c *clustertest.Cluster, players []*tab, room string) string {
	t.Helper()
	if room == "" {
		return ""
	}
	var owner string
	check.For(t, 20*time.Second, func() error {
		hs := homes(t, c, players)
		owner = hs[players[0].sid]
		for _, p := range players {
			if hs[p.sid] != owner || owner == "" {
				return fmt.Errorf("room %s's players homed on %v", room, hs)
			}
		}
		return nil
	})
	return owner
}

// roomTicks is each player's view tick now.
func roomTicks(t *testing.T, players []*tab) []uint64 {
	t.Helper()
	out := make([]uint64, len(players))
	for i, p := range players {
		out[i] = p.roomStream(t).tick
	}
	return out
}

// roomGoesOn checks that every player's stream shows room's running match
// go on at least 20 ticks past ticks (each player's view before what, which
// happened at since), with nothing a room must never see (followRoom) and
// no sys.reset.
func roomGoesOn(t *testing.T, players []*tab, room string, ticks []uint64, since time.Time, what string) {
	t.Helper()
	if room == "" {
		t.Errorf("no room played across nodes: its match is not checked across %s", what)
		return
	}
	move := 0
	check.For(t, 60*time.Second, func() error {
		// Idle players change nothing, and a tick that changes nothing
		// sends no diff: each moves, a new way each round.
		move = move%8 + 1
		for _, p := range players {
			p.send("room.input", map[string]int{"m": move})
		}
		for i, p := range players {
			rs, err := followRoom(p.snapshot())
			if err != nil {
				t.Fatalf("player %d (%s) across %s: %v", i, p.transport, what, err)
			}
			if rs.room != room || rs.match == "" || rs.tick < ticks[i]+20 {
				return fmt.Errorf("player %d: room %s match %q tick %d; want room %s ticking past %d", i, rs.room, rs.match, rs.tick, room, ticks[i]+20)
			}
		}
		return nil
	})
	for i, p := range players {
		if resets, err := seqErr(p.transport, p.snapshot()); err != nil || resets != 0 {
			t.Errorf("player %d across %s: %d resets, %v", i, what, resets, err)
		}
	}
	t.Logf("room %s 20 ticks on for all %d players %v after %s (checked once every tab had every line)",
		room, len(players), time.Since(since).Round(time.Millisecond), what)
}
