package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

type restartParams struct {
	Sessions   int
	Publishers int // sessions that also chat, one line a second each
	Rounds     int
	Retry      time.Duration
	Transports []string
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
}

func runRestartCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := restartParams{}
	fs.IntVar(&p.Sessions, "sessions", 200, "sessions (each with a stream), transports in turn")
	fs.IntVar(&p.Publishers, "publishers", 10, "sessions that also chat, a line a second each")
	fs.IntVar(&p.Rounds, "rounds", 3, "restarts")
	fs.DurationVar(&p.Retry, "retry", 50*time.Millisecond, "a client's retry interval while the server is away")
	transports := fs.String("transports", "multipart,sse,iframe,longpoll,poll", "comma-separated transports, used in turn")
	work := fs.String("work", "", "scratch directory (default: a new temp dir)")
	out := fs.String("out", "", "also write the report to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p.Transports = strings.Split(*transports, ",")
	p.Publishers = min(p.Publishers, p.Sessions)
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
	start := func() (*target, string, time.Duration, error) {
		n++
		logPath := filepath.Join(dir, fmt.Sprintf("comet-%d.log", n))
		t0 := time.Now()
		var t *target
		var err error
		for i := 0; i < 50; i++ { // the predecessor's port may take a moment to free
			t, err = startProc(ctx, "comet", logPath, addr, "/healthz", bin,
				[]string{"serve", "--addr", addr, "--db", db, "--log-level", "info", "--trusted-proxy", "127.0.0.1/32",
					"--sessions-per-minute", "-1", "--streams-per-ip", "-1", "--sessions-per-ip", "-1", "--session-grace", "60s"}, nil)
			if err == nil || !strings.Contains(err.Error(), "address already in use") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return t, logPath, time.Since(t0), err
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
	pubCtx, stopPub := context.WithCancel(ctx)
	var pubs sync.WaitGroup
	for _, c := range clients[:p.Publishers] {
		pubs.Add(1)
		go func() { defer pubs.Done(); c.publish(pubCtx) }()
	}
	defer stopPub()

	var rounds []restartRound
	for r := range p.Rounds {
		if err := sleepCtx(ctx, 3*time.Second); err != nil {
			return err
		}
		var rd restartRound
		marks := make([]int, len(clients))
		for i, c := range clients {
			marks[i] = c.count()
		}
		t0 := time.Now()
		if err := t.Close(); err != nil { // SIGTERM, wait for the exit
			return err
		}
		rd.TermToExit = time.Since(t0)
		rd.Drain, rd.Save, _ = handoverLog(logPath, "hand-over saved")
		nt, nlog, took, err := start()
		if err != nil {
			return err
		}
		t, logPath = nt, nlog
		rd.StartToReady, rd.TermToServing = took, time.Since(t0)
		_, rd.Restore, rd.Restored = handoverLog(logPath, "hand-over restored")
		fmt.Fprintf(stderr, "restart %d: exit %v, ready %v, restored %d\n", r+1, rd.TermToExit.Round(time.Millisecond), rd.StartToReady.Round(time.Millisecond), rd.Restored)
		if err := waitAll(ctx, clients, func(c *rclient) bool { return c.afterRestart(r + 1) }, 60*time.Second); err != nil {
			return fmt.Errorf("round %d: clients did not resume: %w", r+1, err)
		}
		for i, c := range clients {
			g, chat := c.gap(marks[i], r+1)
			rd.Gaps = append(rd.Gaps, g)
			rd.ChatGap = max(rd.ChatGap, chat)
		}
		rounds = append(rounds, rd)
	}
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	stopPub()
	pubs.Wait()
	lost, dup, resets, restarts := 0, 0, 0, 0
	for _, c := range clients {
		l, d, rs, rt := c.check()
		lost, dup, resets, restarts = lost+l, dup+d, resets+rs, restarts+rt
	}

	var rep strings.Builder
	w := io.MultiWriter(stdout, &rep)
	fmt.Fprintf(w, "## cometbench restart\n\n%d sessions (%s in turn), %d of them chatting a line a second; %d restarts (SIGTERM, then the same binary on the same address and SQLite file); clients retry every %v.\n\n",
		p.Sessions, strings.Join(p.Transports, ", "), p.Publishers, p.Rounds, p.Retry)
	fmt.Fprintln(w, "| round | drain | save | SIGTERM → exit | start → ready | restore | SIGTERM → serving | gap p50 | gap p99 | gap max | chat silence max |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds()) }
	for i, rd := range rounds {
		slices.Sort(rd.Gaps)
		q := func(f float64) time.Duration { return rd.Gaps[min(len(rd.Gaps)-1, int(f*float64(len(rd.Gaps))))] }
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s (%d sessions) | %s | %s | %s | %s | %s |\n", i+1,
			ms(rd.Drain), ms(rd.Save), ms(rd.TermToExit), ms(rd.StartToReady), ms(rd.Restore), rd.Restored,
			ms(rd.TermToServing), ms(q(0.5)), ms(q(0.99)), ms(rd.Gaps[len(rd.Gaps)-1]), ms(rd.ChatGap))
	}
	fmt.Fprintf(w, "\nAcross every stream: %d events lost, %d repeated, %d sys.reset, %d sys.restart (want %d).\n",
		lost, dup, resets, restarts, p.Sessions*p.Rounds)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(rep.String()), 0o644); err != nil {
			return err
		}
	}
	if lost+dup+resets > 0 || restarts != p.Sessions*p.Rounds {
		return fmt.Errorf("restart: %d lost, %d repeated, %d resets, %d restarts", lost, dup, resets, restarts)
	}
	return nil
}

var logField = regexp.MustCompile(`(\w+)=("[^"]*"|\S+)`)

// handoverLog reads the durations and session count of the log line msg.
func handoverLog(path, msg string) (a, b time.Duration, sessions int) {
	raw, _ := os.ReadFile(path)
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.Contains(line, `msg="`+msg+`"`) {
			continue
		}
		for _, m := range logField.FindAllStringSubmatch(line, -1) {
			d, _ := time.ParseDuration(strings.Trim(m[2], `"`))
			switch m[1] {
			case "drain":
				a = d
			case "save", "took":
				b = d
			case "sessions":
				fmt.Sscan(m[2], &sessions)
			}
		}
	}
	return
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
	seen := 0
	for i, e := range c.evs {
		if e.Type == "sys.restart" {
			seen++
			if seen == n {
				return i+1 < len(c.evs)
			}
		}
	}
	return false
}

// gap returns, for the n-th restart (events from mark on), the time from
// sys.restart to the next event, and the longest silence between chat
// lines around it.
func (c *rclient) gap(mark, n int) (time.Duration, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := 0
	var g time.Duration
	var lastChat time.Time
	var chat time.Duration
	for i := range c.evs {
		e := c.evs[i]
		if e.Type == "chat.msg" {
			if i >= mark && !lastChat.IsZero() {
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
	}
	c.evs = append(c.evs, b...)
	c.mu.Unlock()
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
		seq := c.upSq.Add(1)
		body, _ := json.Marshal([]map[string]any{{"seq": seq, "type": "chat.say",
			"data": map[string]string{"channel": "lobby", "text": fmt.Sprintf("%s %d", c.sid, i)}}})
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "POST", c.base+"/comet/"+c.sid+"/send", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+c.token)
			req.Header.Set("X-Forwarded-For", c.xff)
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.http.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					break
				}
			}
			time.Sleep(c.retry)
		}
	}
}
