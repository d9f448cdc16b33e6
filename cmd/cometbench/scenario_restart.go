package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The restart scenario: M sessions on every transport, a graceful restart
// (SIGTERM, then the same binary again on the same address and database),
// and what it cost: the old process's drain and save, the new one's restore
// (both from their logs), SIGTERM to exit, start to serving, and the gap each
// client sees on its stream — the last event before (sys.restart) to the
// first event from the successor — with every stream checked for a lost,
// repeated or reset seq. Clients reconnect at once after the stream ends and
// retry every retry interval (the browser client waits reconnect_ms, about
// 1 s, first).
//
// With --rooms N the sessions are also players, spread over N rooms of one
// mode and sending inputs, and each round measures what players see: the
// last room.diff before the restart to the first one after (the play gap),
// the new process's start to that first diff, the rooms' freeze and thaw
// (from the logs), and every player checked to stay in its room and match.

type restartParams struct {
	Sessions   int
	Publishers int // sessions that also chat, one line a second each
	Rounds     int
	Retry      time.Duration
	Transports []string
	Rooms      int           // rooms the sessions play in (0: none)
	Mode       string        // the rooms' mode
	InputEvery time.Duration // a player's input interval
	Interval   time.Duration // play between two restarts
}

// restartRound is one restart's figures.
type restartRound struct {
	Drain, Save   time.Duration // from the old process's "hand-over saved"
	Restore       time.Duration // from the new process's "hand-over restored"
	Restored      int
	TermToExit    time.Duration // SIGTERM until the old process exited
	StartToReady  time.Duration // the new process's exec until /healthz answers (the frontend bundle included)
	TermToServing time.Duration // SIGTERM until the new process answers
	Gaps          []time.Duration
	ChatGap       time.Duration // the longest silence of the lobby chat a client saw across the restart

	// With rooms.
	Freeze        time.Duration // SIGTERM's start to the rooms frozen (the old process's "hand-over saved" freeze)
	Thaw          time.Duration // replaying and resuming the rooms (the new process's "hand-over rooms thawed")
	RoomsSaved    int
	RoomsRestored int
	MaxTick       uint64          // the oldest match's tick at the freeze: what the thaw replays
	LogBytes      int             // the match logs' bytes, all rooms
	Bytes         int             // the hand-over blob's bytes
	PlayGaps      []time.Duration // per player: last room.diff before, first room.diff after
	StartToPlay   []time.Duration // per player: the new process's exec to its first room.diff
}

func runRestartCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := restartParams{}
	fs.IntVar(&p.Sessions, "sessions", 200, "sessions (each with a stream), transports in turn")
	fs.IntVar(&p.Publishers, "publishers", 10, "sessions that also chat, a line a second each")
	fs.IntVar(&p.Rounds, "rounds", 3, "restarts")
	fs.DurationVar(&p.Retry, "retry", 50*time.Millisecond, "a client's retry interval while the server is away")
	fs.IntVar(&p.Rooms, "rooms", 0, "rooms the sessions play in, spread evenly as players sending inputs (0: no rooms)")
	fs.StringVar(&p.Mode, "mode", "arena", "the rooms' game mode")
	fs.DurationVar(&p.InputEvery, "input-every", 500*time.Millisecond, "a player's input interval (each input a new move and aim)")
	fs.DurationVar(&p.Interval, "interval", 3*time.Second, "play between two restarts (and before the first)")
	transports := fs.String("transports", "multipart,sse,iframe,longpoll,poll", "comma-separated transports, used in turn")
	work := fs.String("work", "", "scratch directory (default: a new temp dir)")
	out := fs.String("out", "", "also write the report to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p.Transports = strings.Split(*transports, ",")
	p.Publishers = min(p.Publishers, p.Sessions)
	if p.Rooms < 0 || p.Rooms > p.Sessions/2 {
		return fmt.Errorf("--rooms %d: want 0 to half the sessions (%d)", p.Rooms, p.Sessions/2)
	}
	if !slices.Contains([]string{"arena", "koth", "snake", "tag"}, p.Mode) {
		return fmt.Errorf("--mode %q: want arena, koth, snake or tag (the inputs it sends are per mode)", p.Mode)
	}
	if p.InputEvery <= 0 {
		return fmt.Errorf("--input-every %v: want a positive interval", p.InputEvery)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "cometbench-restart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "restart: building ./cmd/comet")
	bin, err := buildComet(ctx, repo, dir)
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	db := filepath.Join(dir, "restart.db")
	n := 0
	// Matches outlast the run (their logs, which a thaw replays, grow with
	// it); a room short of players gets bots at once.
	serve := []string{"serve", "--addr", addr, "--db", db, "--log-level", "info", "--trusted-proxy", "127.0.0.1/32",
		"--sessions-per-minute", "-1", "--streams-per-ip", "-1", "--sessions-per-ip", "-1", "--session-grace", "60s",
		"--rooms-per-minute", "-1", "--match-length", "1h", "--countdown", "200ms", "--bot-delay", "200ms"}
	// start runs the next process and returns when /healthz answers, with
	// the moment it was executed.
	start := func() (*target, string, time.Time, error) {
		n++
		logPath := filepath.Join(dir, fmt.Sprintf("comet-%d.log", n))
		var t *target
		var err error
		var t0 time.Time
		for i := 0; i < 50; i++ { // the predecessor's port may take a moment to free
			t0 = time.Now()
			t, err = startProc(ctx, "comet", logPath, addr, "/healthz", bin, serve, nil)
			if err == nil || !strings.Contains(err.Error(), "address already in use") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return t, logPath, t0, err
	}
	t, logPath, _, err := start()
	if err != nil {
		return err
	}
	defer func() { _ = t.Close() }()
	base := t.Base

	fmt.Fprintf(stderr, "restart: %d sessions over %s, %d publishers\n", p.Sessions, *transports, p.Publishers)
	clients := make([]*rclient, p.Sessions)
	for i := range clients {
		c, err := newRClient(ctx, base, p.Transports[i%len(p.Transports)], fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255+1), p.Retry)
		if err != nil {
			return err
		}
		clients[i] = c
		go c.run(ctx)
	}
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	if err := waitAll(ctx, clients, func(c *rclient) bool { return c.lastSeq() > 0 }, 60*time.Second); err != nil {
		return fmt.Errorf("streams did not open: %w", err)
	}
	var players []*rclient
	if p.Rooms > 0 {
		fmt.Fprintf(stderr, "restart: seating the %d sessions in %d %s rooms\n", p.Sessions, p.Rooms, p.Mode)
		if players, err = seat(ctx, clients, p.Rooms, p.Mode); err != nil {
			return err
		}
	}
	pubCtx, stopPub := context.WithCancel(ctx)
	var pubs sync.WaitGroup
	for _, c := range clients[:p.Publishers] {
		pubs.Add(1)
		go func() { defer pubs.Done(); c.publish(pubCtx) }()
	}
	for _, c := range players {
		pubs.Add(1)
		go func() { defer pubs.Done(); c.play(pubCtx, p.Mode, p.InputEvery) }()
	}
	defer stopPub()
	// A diff comes when something changes in a player's view: in some modes
	// only once players move.
	if err := waitAll(ctx, players, (*rclient).playing, 60*time.Second); err != nil {
		return fmt.Errorf("players not playing: %w", err)
	}

	var rounds []restartRound
	marks := make([][]int, p.Rounds+1) // per round, each client's event count at its SIGTERM; then at the end
	for r := range p.Rounds {
		if err := sleepCtx(ctx, p.Interval); err != nil {
			return err
		}
		var rd restartRound
		marks[r] = make([]int, len(clients))
		for i, c := range clients {
			marks[r][i] = c.count()
		}
		t0 := time.Now()
		if err := t.Close(); err != nil { // SIGTERM, wait for the exit
			return err
		}
		rd.TermToExit = time.Since(t0)
		old := logFields(logPath, "hand-over saved")
		rd.Drain, rd.Save, rd.Freeze = old.duration("drain"), old.duration("save"), old.duration("freeze")
		rd.RoomsSaved, rd.Bytes = old.int("rooms"), old.int("bytes")
		rd.MaxTick, rd.LogBytes = frozenRooms(logPath)
		nt, nlog, started, err := start()
		if err != nil {
			return err
		}
		t, logPath = nt, nlog
		rd.StartToReady, rd.TermToServing = time.Since(started), time.Since(t0)
		restored := logFields(logPath, "hand-over restored")
		rd.Restore, rd.Restored, rd.RoomsRestored = restored.duration("took"), restored.int("sessions"), restored.int("rooms")
		rd.Thaw = logFields(logPath, "hand-over rooms thawed").duration("took")
		fmt.Fprintf(stderr, "restart %d: exit %v, ready %v, restored %d sessions, %d of %d rooms\n", r+1, rd.TermToExit.Round(time.Millisecond),
			rd.StartToReady.Round(time.Millisecond), rd.Restored, rd.RoomsRestored, rd.RoomsSaved)
		if err := waitAll(ctx, clients, func(c *rclient) bool { return c.afterRestart(r + 1) }, 60*time.Second); err != nil {
			return fmt.Errorf("round %d: clients did not resume: %w", r+1, err)
		}
		if err := waitAll(ctx, players, func(c *rclient) bool { _, ok := c.playGap(r + 1); return ok }, 60*time.Second); err != nil {
			return fmt.Errorf("round %d: players did not play again: %w", r+1, err)
		}
		for _, c := range players {
			pg, _ := c.playGap(r + 1)
			rd.PlayGaps = append(rd.PlayGaps, pg.after.Sub(pg.before))
			rd.StartToPlay = append(rd.StartToPlay, pg.after.Sub(started))
		}
		rounds = append(rounds, rd)
	}
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	stopPub()
	pubs.Wait()
	// The chat's silence around a restart is read up to the next restart,
	// once the lines sent after it have come.
	marks[p.Rounds] = make([]int, len(clients))
	for i, c := range clients {
		marks[p.Rounds][i] = c.count()
	}
	for r := range rounds {
		for i, c := range clients {
			g, chat := c.gap(marks[r][i], marks[r+1][i], r+1)
			rounds[r].Gaps = append(rounds[r].Gaps, g)
			rounds[r].ChatGap = max(rounds[r].ChatGap, chat)
		}
	}
	lost, dup, resets, restarts := 0, 0, 0, 0
	for _, c := range clients {
		l, d, rs, rt := c.check()
		lost, dup, resets, restarts = lost+l, dup+d, resets+rs, restarts+rt
	}
	var unseated []string // players whose room or match did not go on
	for _, c := range players {
		if err := c.checkRoom(p.Rounds); err != nil {
			unseated = append(unseated, err.Error())
		}
	}

	var rep strings.Builder
	w := io.MultiWriter(stdout, &rep)
	fmt.Fprintf(w, "## cometbench restart\n\n%d sessions (%s in turn), %d of them chatting a line a second; %d restarts (SIGTERM, then the same binary on the same address and SQLite file); clients retry every %v.\n\n",
		p.Sessions, strings.Join(p.Transports, ", "), p.Publishers, p.Rounds, p.Retry)
	fmt.Fprintln(w, "| round | drain | save | SIGTERM → exit | start → ready | restore | SIGTERM → serving | gap p50 | gap p99 | gap max | chat silence max |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for i, rd := range rounds {
		g := quantiles(rd.Gaps)
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s (%d sessions) | %s | %s | %s | %s | %s |\n", i+1,
			millis(rd.Drain), millis(rd.Save), millis(rd.TermToExit), millis(rd.StartToReady), millis(rd.Restore), rd.Restored,
			millis(rd.TermToServing), millis(g[0]), millis(g[1]), millis(g[2]), millis(rd.ChatGap))
	}
	fmt.Fprintf(w, "\nAcross every stream: %d events lost, %d repeated, %d sys.reset, %d sys.restart (want %d).\n",
		lost, dup, resets, restarts, p.Sessions*p.Rounds)
	if p.Rooms > 0 {
		writeRoomRounds(w, p, rounds, len(players))
		fmt.Fprintf(w, "\nPlayers who left their room or match: %d of %d.\n", len(unseated), len(players))
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(rep.String()), 0o644); err != nil {
			return err
		}
	}
	if lost+dup+resets > 0 || restarts != p.Sessions*p.Rounds {
		return fmt.Errorf("restart: %d lost, %d repeated, %d resets, %d restarts", lost, dup, resets, restarts)
	}
	if len(unseated) > 0 {
		return fmt.Errorf("restart: %d players did not stay in their room and match, first: %s", len(unseated), unseated[0])
	}
	return nil
}

// writeRoomRounds writes the rooms' table: what each restart cost play.
func writeRoomRounds(w io.Writer, p restartParams, rounds []restartRound, players int) {
	fmt.Fprintf(w, "\n%d players in %d %s rooms, an input each every %v; the play gap is a player's last `room.diff` before the restart to its first after; start → play is the new process's exec to that first diff.\n\n",
		players, p.Rooms, p.Mode, p.InputEvery)
	fmt.Fprintln(w, "| round | rooms saved / restored | oldest match at the freeze | match logs | hand-over | freeze | save | thaw | restore (all) | start → ready | play gap p50 | p99 | max | start → play p50 | p99 | max |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for i, rd := range rounds {
		g, s := quantiles(rd.PlayGaps), quantiles(rd.StartToPlay)
		fmt.Fprintf(w, "| %d | %d / %d | tick %d | %d KiB | %.1f MB | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", i+1,
			rd.RoomsSaved, rd.RoomsRestored, rd.MaxTick, rd.LogBytes>>10, float64(rd.Bytes)/1e6, millis(rd.Freeze), millis(rd.Save), millis(rd.Thaw), millis(rd.Restore),
			millis(rd.StartToReady), millis(g[0]), millis(g[1]), millis(g[2]), millis(s[0]), millis(s[1]), millis(s[2]))
	}
	worst := time.Duration(0)
	for _, rd := range rounds {
		worst = max(worst, quantiles(rd.StartToPlay)[2])
	}
	verdict := "met"
	if worst > 2*time.Second {
		verdict = "not met"
	}
	fmt.Fprintf(w, "\nEvery player playing again within %s of the new process's start, in the worst round (target 2 s: %s).\n", millis(worst), verdict)
}

// quantiles returns the p50, p99 and max of ds (zeros when empty).
func quantiles(ds []time.Duration) [3]time.Duration {
	if len(ds) == 0 {
		return [3]time.Duration{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(f float64) time.Duration { return s[min(len(s)-1, int(f*float64(len(s))))] }
	return [3]time.Duration{q(0.5), q(0.99), s[len(s)-1]}
}

func millis(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

var logField = regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`)

// fields are the key=value pairs of one log line.
type fields map[string]string

// logFields returns the fields of the last log line msg in the log at path
// (none if there is none).
func logFields(path, msg string) fields {
	f := fields{}
	raw, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.Contains(line, `msg="`+msg+`"`) {
			continue
		}
		f = fields{}
		for _, m := range logField.FindAllStringSubmatch(line, -1) {
			f[m[1]] = strings.Trim(m[2], `"`)
		}
	}
	return f
}

// duration is field k as a duration (0 if missing or not one).
func (f fields) duration(k string) time.Duration {
	d, _ := time.ParseDuration(f[k])
	return d
}

// int is field k as an int (0 if missing or not one).
func (f fields) int(k string) int {
	n, _ := strconv.Atoi(f[k])
	return n
}

// frozenRooms reads the old process's "room frozen" lines: the highest tick
// a room stopped at and the match logs' bytes, all rooms.
func frozenRooms(path string) (maxTick uint64, logBytes int) {
	raw, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.Contains(line, `msg="room frozen"`) {
			continue
		}
		f := fields{}
		for _, m := range logField.FindAllStringSubmatch(line, -1) {
			f[m[1]] = strings.Trim(m[2], `"`)
		}
		tick, _ := strconv.ParseUint(f["tick"], 10, 64)
		maxTick = max(maxTick, tick)
		logBytes += f.int("log_bytes")
	}
	return maxTick, logBytes
}

func waitAll(ctx context.Context, cs []*rclient, ok func(*rclient) bool, within time.Duration) error {
	end := time.Now().Add(within)
	for {
		left := 0
		for _, c := range cs {
			if !ok(c) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("%d of %d clients still waiting", left, len(cs))
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// rclient is one session that reconnects with last=N across restarts and
// records each event with the time it arrived.
type rclient struct {
	base, transport, xff string
	sid, token           string
	retry                time.Duration
	http                 *http.Client

	mu   sync.Mutex
	evs  []rev
	body io.Closer
	upSq atomic.Uint64
	stop chan struct{}

	// What the events so far say, kept as they arrive (follow).
	restarts []restartMark
	lastDiff time.Time // the latest room.diff's arrival
	diffs    int
	room     string // of the first room.joined
	match    string // of the first running room.state
	joined   int    // room.joined events
	roomErr  string // the first sign the room or match did not go on
}

// restartMark is one sys.restart as a client saw it.
type restartMark struct {
	next          bool      // an event came after it
	before, after time.Time // the last room.diff before it (or its own arrival), the first after it
}

type rev struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
	at   time.Time
}

func newRClient(ctx context.Context, base, transport, xff string, retry time.Duration) (*rclient, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/comet/session", nil)
	req.Header.Set("X-Forwarded-For", xff)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s struct{ SID, Token string }
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 201 {
		return nil, fmt.Errorf("session: %d %v", resp.StatusCode, err)
	}
	return &rclient{base: base, transport: transport, xff: xff, sid: s.SID, token: s.Token, retry: retry,
		http: hc, stop: make(chan struct{})}, nil
}

func (c *rclient) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.mu.Lock()
	if c.body != nil {
		c.body.Close()
	}
	c.mu.Unlock()
}

func (c *rclient) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

func (c *rclient) lastSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.evs) == 0 {
		return 0
	}
	return c.evs[len(c.evs)-1].Seq
}

// afterRestart: the client has seen the n-th sys.restart and an event after it.
func (c *rclient) afterRestart(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n <= len(c.restarts) && c.restarts[n-1].next
}

// gap returns, for the n-th restart (events from index from to index to),
// the time from sys.restart to the next event, and the longest silence
// between chat lines around it.
func (c *rclient) gap(from, to, n int) (time.Duration, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := 0
	var g time.Duration
	var lastChat time.Time
	var chat time.Duration
	for i := range c.evs {
		e := c.evs[i]
		if e.Type == "chat.msg" && i < to {
			if i >= from && !lastChat.IsZero() {
				chat = max(chat, e.at.Sub(lastChat))
			}
			lastChat = e.at
		}
		if e.Type == "sys.restart" {
			seen++
			if seen == n && i+1 < len(c.evs) {
				g = c.evs[i+1].at.Sub(e.at)
			}
		}
	}
	return g, chat
}

// check counts lost and repeated seqs, resets and restarts.
func (c *rclient) check() (lost, dup, resets, restarts int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var prev uint64
	for _, e := range c.evs {
		switch {
		case e.Seq <= prev:
			dup++
		case e.Seq > prev+1:
			lost += int(e.Seq - prev - 1)
		}
		prev = max(prev, e.Seq)
		switch e.Type {
		case "sys.reset":
			resets++
		case "sys.restart":
			restarts++
		}
	}
	return
}

func (c *rclient) add(b []rev) {
	now := time.Now()
	c.mu.Lock()
	for i := range b {
		b[i].at = now
		c.follow(b[i])
	}
	c.evs = append(c.evs, b...)
	c.mu.Unlock()
}

// follow updates what the client knows of its restarts and its room with
// the next event; c.mu is held.
func (c *rclient) follow(e rev) {
	if n := len(c.restarts); n > 0 {
		c.restarts[n-1].next = true
	}
	var d struct{ Room, State, Match string }
	if strings.HasPrefix(e.Type, "room.") {
		_ = json.Unmarshal(e.Data, &d)
	}
	fail := func(format string, args ...any) {
		if c.roomErr == "" {
			c.roomErr = fmt.Sprintf("%s: seq %d: ", c.sid, e.Seq) + fmt.Sprintf(format, args...)
		}
	}
	switch e.Type {
	case "sys.restart":
		before := c.lastDiff
		if n := len(c.restarts); before.IsZero() || n > 0 && before.Before(c.restarts[n-1].after) {
			before = e.at // no diff since the last restart's first
		}
		c.restarts = append(c.restarts, restartMark{before: before})
	case "room.diff":
		c.lastDiff = e.at
		c.diffs++
		if n := len(c.restarts); n > 0 && c.restarts[n-1].after.IsZero() {
			c.restarts[n-1].after = e.at
		}
	case "room.joined":
		if c.room != "" && d.Room != c.room {
			fail("room.joined %s, was in %s", d.Room, c.room)
		}
		c.room = d.Room
		c.joined++
	case "room.state":
		switch {
		case c.match == "" && d.State == "running":
			c.match = d.Match
		case c.match != "" && (d.State != "running" || d.Match != c.match):
			fail("room.state %s of match %s, was playing %s", d.State, d.Match, c.match)
		}
	case "room.left", "room.closed":
		fail("%s %s", e.Type, e.Data)
	}
}

// joinedRoom returns the room the client was seated in ("" until then).
func (c *rclient) joinedRoom() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room
}

// inMatch reports whether the client's room runs a match.
func (c *rclient) inMatch() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.match != ""
}

// playing reports whether the client's room has sent it a diff of a
// running match.
func (c *rclient) playing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.diffs > 0 && c.match != ""
}

// playGap returns the n-th restart's last diff before and first diff
// after, once there is one after.
func (c *rclient) playGap(n int) (restartMark, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > len(c.restarts) || c.restarts[n-1].after.IsZero() {
		return restartMark{}, false
	}
	return c.restarts[n-1], true
}

// checkRoom returns an error if the player left its room or match, or was
// not welcomed back in it after each of the rounds restarts.
func (c *rclient) checkRoom(rounds int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.roomErr != "":
		return errors.New(c.roomErr)
	case c.joined != rounds+1:
		return fmt.Errorf("%s: room.joined %d times, want %d", c.sid, c.joined, rounds+1)
	}
	return nil
}

func (c *rclient) run(ctx context.Context) {
	for {
		select {
		case <-c.stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if !c.once(ctx) {
			select {
			case <-c.stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(c.retry/2 + time.Duration(rand.Int64N(int64(c.retry)))):
			}
		}
	}
}

var iframeBatchRE = regexp.MustCompile(`parent\.__comet\("[^"]*",(.*)\)</script>`)

func (c *rclient) once(ctx context.Context) bool {
	path, wait := c.transport, ""
	if c.transport == "longpoll" {
		path, wait = "poll", "&wait=25"
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/comet/%s/%s?last=%d%s", c.base, c.sid, path, c.lastSeq(), wait), nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("X-Forwarded-For", c.xff)
	resp, err := c.http.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		_, _ = io.Copy(io.Discard, resp.Body)
		return false
	}
	if path == "poll" {
		var b []rev
		if json.NewDecoder(resp.Body).Decode(&b) != nil {
			return false
		}
		c.add(b)
		if wait == "" && len(b) == 0 {
			time.Sleep(c.retry)
		}
		return true
	}
	c.mu.Lock()
	c.body = resp.Body
	c.mu.Unlock()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var payload []byte
		switch c.transport {
		case "sse":
			payload, _ = bytes.CutPrefix(line, []byte("data: "))
		case "multipart":
			payload = line
		case "iframe":
			if m := iframeBatchRE.FindSubmatch(line); m != nil {
				payload = m[1]
			}
		}
		if len(payload) == 0 || payload[0] != '[' {
			continue
		}
		var b []rev
		if json.Unmarshal(payload, &b) == nil && len(b) > 0 {
			c.add(b)
		}
	}
	return true
}

// publish says a lobby line a second (under the per-player limit), each
// retried on its seq until taken.
func (c *rclient) publish(ctx context.Context) {
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second + time.Duration(rand.IntN(100))*time.Millisecond):
		}
		_ = c.send(ctx, "chat.say", map[string]string{"channel": "lobby", "text": fmt.Sprintf("%s %d", c.sid, i)})
	}
}

// play sends an input of mode about every `every`, a new move (and aim)
// each, retried on its seq until taken.
func (c *rclient) play(ctx context.Context, mode string, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every*9/10 + time.Duration(rand.Int64N(int64(every/5)+1))):
		}
		_ = c.send(ctx, "room.input", randomInput(mode))
	}
}

// randomInput is a player's input in mode: a move, and an aim where the
// mode has one (nobody fires: no match ends by score).
func randomInput(mode string) map[string]int {
	switch mode {
	case "snake":
		return map[string]int{"d": rand.IntN(4)}
	case "tag":
		return map[string]int{"m": rand.IntN(9)}
	}
	return map[string]int{"m": rand.IntN(9), "a": rand.IntN(721) - 360}
}

// send posts one event with the next client seq and retries that seq while
// the server is away (no answer, or 503): true once taken (204), false if
// refused otherwise or ctx ended.
func (c *rclient) send(ctx context.Context, typ string, data any) bool {
	body, _ := json.Marshal([]map[string]any{{"seq": c.upSq.Add(1), "type": typ, "data": data}})
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "POST", c.base+"/comet/"+c.sid+"/send", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("X-Forwarded-For", c.xff)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.http.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusNoContent:
				return true
			case http.StatusServiceUnavailable:
			default:
				return false
			}
		}
		time.Sleep(c.retry)
	}
	return false
}

// seat spreads the clients evenly over n rooms of mode as players: the
// first of each share creates its room, the others join it by id. It
// returns the players once each has been told its match runs.
func seat(ctx context.Context, clients []*rclient, n int, mode string) ([]*rclient, error) {
	per := (len(clients) + n - 1) / n
	var players []*rclient
	for r := 0; r < n && r*per < len(clients); r++ {
		share := clients[r*per : min(len(clients), (r+1)*per)]
		if !share[0].send(ctx, "room.create", map[string]any{"mode": mode, "max": max(len(share), 16)}) {
			return nil, fmt.Errorf("room %d: room.create refused", r+1)
		}
		if err := waitAll(ctx, share[:1], func(c *rclient) bool { return c.joinedRoom() != "" }, 30*time.Second); err != nil {
			return nil, fmt.Errorf("room %d: no room.joined (an error on the stream?): %w", r+1, err)
		}
		id := share[0].joinedRoom()
		for _, c := range share[1:] {
			if !c.send(ctx, "room.join", map[string]string{"room": id}) {
				return nil, fmt.Errorf("room %d: room.join refused", r+1)
			}
		}
		players = append(players, share...)
	}
	if err := waitAll(ctx, players, (*rclient).inMatch, 60*time.Second); err != nil {
		return nil, fmt.Errorf("matches not running: %w", err)
	}
	return players, nil
}
