package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// agentConfig is what an agent (one client process) is given once.
type agentConfig struct {
	Base     string   `json:"base"`      // server base URL, http://host:port
	SrcIPs   []string `json:"src_ips"`   // local addresses to dial from, round robin; empty: any
	Token    string   `json:"token"`     // player token for new sessions (Bearer); "" makes a new player each
	Raw      bool     `json:"raw"`       // the raw writer: no sessions, streams at rawPath
	PollWait int      `json:"poll_wait"` // long-poll wait in seconds (default 25)
	MaxTags  int      `json:"max_tags"`  // tagged message numbers are below this (default 1024)
	// SessionBase, when set, is where sessions are opened (their home node
	// in a cluster); streams and sends still go to Base, which relays them.
	SessionBase string `json:"session_base,omitempty"`
}

// rawPath is the one stream the raw writer serves.
const rawPath = "/comet/raw/multipart"

// openReq asks an agent to open n streams at rate per second, cycling through
// transports.
type openReq struct {
	N          int      `json:"n"`
	Rate       float64  `json:"rate"`
	Transports []string `json:"transports"`
}

// botsReq asks an agent for count game bots, each a new player with its own
// stream: with Create each makes its own room of Max players, else each joins Room.
type botsReq struct {
	Count      int      `json:"count"`
	Create     bool     `json:"create"`
	Mode       string   `json:"mode"`
	Max        int      `json:"max"`
	Room       string   `json:"room"`
	Transports []string `json:"transports"`
}

type botsResp struct {
	Rooms  []string `json:"rooms"` // the rooms the creators made
	Joined int      `json:"joined"`
	Failed int      `json:"failed"`
}

// inputsReq starts (Hz > 0) or stops (Hz == 0) every bot's input loop.
type inputsReq struct {
	Hz float64 `json:"hz"`
}

// agentStats are an agent's counters; merged over agents by fleet.stats.
type agentStats struct {
	Held       int64 `json:"held"`        // streams attached now
	Opened     int64 `json:"opened"`      // streams whose first open succeeded
	OpenFailed int64 `json:"open_failed"` // streams never opened
	Lost       int64 `json:"lost"`        // streams given up after opening
	Recycled   int64 `json:"recycled"`    // clean ends followed by a resume
	Reconnects int64 `json:"reconnects"`  // reconnects after an error
	Events     int64 `json:"events"`
	Heartbeats int64 `json:"heartbeats"`
	BadBatches int64 `json:"bad_batches"`
	SeqGaps    int64 `json:"seq_gaps"`
	SeqDups    int64 `json:"seq_dups"`
	Resets     int64 `json:"resets"`
	SysErrors  int64 `json:"sys_errors"`

	Tagged  int64    `json:"tagged"`   // first receipts of tagged chat lines
	TagDups int64    `json:"tag_dups"` // repeated receipts on one stream
	PerTag  []int64  `json:"per_tag"`  // first receipts by tag number
	Lat     histSnap `json:"lat"`      // publish → receipt

	Bots        int64    `json:"bots"`
	BotsRunning int64    `json:"bots_running"`
	Views       int64    `json:"views"` // room.snapshot and room.diff events
	Inputs      int64    `json:"inputs"`
	InputsWS    int64    `json:"inputs_ws"` // of which sent up a WebSocket (the rest by POST)
	InputErrs   int64    `json:"input_errs"`
	Observed    int64    `json:"observed"`   // inputs seen applied in a view
	Unobserved  int64    `json:"unobserved"` // inputs never seen (superseded or timed out)
	GameLat     histSnap `json:"game_lat"`   // input sent → view showing it
	PostLat     histSnap `json:"post_lat"`   // input POST round trip (sent → 204)

	Errs []string `json:"errs,omitempty"` // the first few distinct errors
}

func (s *agentStats) merge(o agentStats) {
	s.Held += o.Held
	s.Opened += o.Opened
	s.OpenFailed += o.OpenFailed
	s.Lost += o.Lost
	s.Recycled += o.Recycled
	s.Reconnects += o.Reconnects
	s.Events += o.Events
	s.Heartbeats += o.Heartbeats
	s.BadBatches += o.BadBatches
	s.SeqGaps += o.SeqGaps
	s.SeqDups += o.SeqDups
	s.Resets += o.Resets
	s.SysErrors += o.SysErrors
	s.Tagged += o.Tagged
	s.TagDups += o.TagDups
	if len(o.PerTag) > len(s.PerTag) {
		s.PerTag = append(s.PerTag, make([]int64, len(o.PerTag)-len(s.PerTag))...)
	}
	for i, n := range o.PerTag {
		s.PerTag[i] += n
	}
	s.Lat.Merge(o.Lat)
	s.Bots += o.Bots
	s.BotsRunning += o.BotsRunning
	s.Views += o.Views
	s.Inputs += o.Inputs
	s.InputsWS += o.InputsWS
	s.InputErrs += o.InputErrs
	s.Observed += o.Observed
	s.Unobserved += o.Unobserved
	s.GameLat.Merge(o.GameLat)
	s.PostLat.Merge(o.PostLat)
	for _, e := range o.Errs {
		if len(s.Errs) < maxErrs && !contains(s.Errs, e) {
			s.Errs = append(s.Errs, e)
		}
	}
}

const maxErrs = 8

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// counters are the live, atomically updated side of agentStats.
type counters struct {
	held, opened, openFailed, lost, recycled, reconnects     atomic.Int64
	events, heartbeats, badBatches, seqGaps, seqDups, resets atomic.Int64
	sysErrors, tagged, tagDups, views, inputs, inputErrs     atomic.Int64
	observed, unobserved, inputsWS                           atomic.Int64
}

// agent holds many client streams and bots against one server, in one
// process. Every stream is one goroutine reading a raw net.Conn through a
// 4 KiB bufio.Reader; upstream POSTs share a small keep-alive pool.
type agent struct {
	cfg  agentConfig
	log  *slog.Logger
	host string
	ips  []net.IP
	next atomic.Uint64
	http *http.Client

	wg sync.WaitGroup

	c       counters
	perTag  []atomic.Int64
	lat     hist
	gameLat hist
	postLat hist
	epoch   atomic.Uint64 // bumped by a stats reset: streams forget the tags they saw

	mu      sync.Mutex
	ctx     context.Context // life of the streams, replaced by closeAll
	cancel  context.CancelFunc
	streams map[*clientStream]struct{}
	bots    []*bot
	inputs  context.CancelFunc
	errs    []string
}

func newAgent(cfg agentConfig, log *slog.Logger) (*agent, error) {
	if cfg.PollWait <= 0 {
		cfg.PollWait = 25
	}
	if cfg.MaxTags <= 0 {
		cfg.MaxTags = 1024
	}
	host, err := hostOf(cfg.Base)
	if err != nil {
		return nil, err
	}
	a := &agent{cfg: cfg, log: log, host: host, streams: map[*clientStream]struct{}{},
		perTag: make([]atomic.Int64, cfg.MaxTags)}
	for _, s := range cfg.SrcIPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("agent: bad source address %q", s)
		}
		a.ips = append(a.ips, ip)
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.http = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         func(ctx context.Context, _, addr string) (net.Conn, error) { return a.dialTo(ctx, addr) },
			MaxIdleConnsPerHost: 64,
			MaxConnsPerHost:     128,
			IdleConnTimeout:     60 * time.Second,
			DisableCompression:  true,
		},
	}
	return a, nil
}

func hostOf(base string) (string, error) {
	rest, ok := strings.CutPrefix(base, "http://")
	if !ok {
		return "", fmt.Errorf("base URL %q: want http://host:port", base)
	}
	host, _, _ := strings.Cut(rest, "/")
	if _, _, err := net.SplitHostPort(host); err != nil {
		return "", fmt.Errorf("base URL %q: %w", base, err)
	}
	return host, nil
}

// dial opens a TCP connection to the server from the next source address.
func (a *agent) dial(ctx context.Context) (net.Conn, error) { return a.dialTo(ctx, a.host) }

// dialTo opens a TCP connection to host:port from the next source address.
func (a *agent) dialTo(ctx context.Context, host string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	if len(a.ips) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: a.ips[a.next.Add(1)%uint64(len(a.ips))]}
	}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", host, err)
	}
	return c, nil
}

// note keeps the first few distinct errors for the report.
func (a *agent) note(err error) {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.errs) < maxErrs && !contains(a.errs, msg) {
		a.errs = append(a.errs, msg)
		a.log.Debug("agent error", "err", msg)
	}
}

// session is one Comet session as the client knows it.
type session struct {
	SID    string `json:"sid"`
	Token  string `json:"token"`
	Player struct {
		ID string `json:"id"`
	} `json:"player"`
	up atomic.Uint64 // the client's upstream seq
}

// newSession opens a session: for the agent's player, or (newPlayer) for a
// new guest player.
func (a *agent) newSession(ctx context.Context, newPlayer bool) (*session, error) {
	if a.cfg.Raw {
		return &session{SID: "raw"}, nil
	}
	base := a.cfg.Base
	if a.cfg.SessionBase != "" {
		base = a.cfg.SessionBase
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/comet/session", nil)
	if err != nil {
		return nil, fmt.Errorf("new session: %w", err)
	}
	if a.cfg.Token != "" && !newPlayer {
		req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("new session: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("new session: read: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("new session: status %d: %.100s", resp.StatusCode, body)
	}
	var s session
	if err := json.Unmarshal(body, &s); err != nil || s.SID == "" {
		return nil, fmt.Errorf("new session: bad answer %.100q", body)
	}
	if s.Token == "" {
		s.Token = a.cfg.Token
	}
	return &s, nil
}

// send posts events to the session's /send (one request).
func (a *agent) send(ctx context.Context, s *session, typ string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	body := fmt.Appendf(nil, `[{"seq":%d,"type":%q,"data":%s}]`, s.up.Add(1), typ, raw)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.Base+"/comet/"+s.SID+"/send", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("send %s: status %d: %s", typ, resp.StatusCode, bytes.TrimSpace(msg))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// open starts opening req.N streams at req.Rate per second; it returns at
// once, and Stats shows the progress (Opened + OpenFailed reach N).
func (a *agent) open(req openReq) error {
	if req.N <= 0 {
		return nil
	}
	if len(req.Transports) == 0 {
		req.Transports = []string{"multipart"}
	}
	for _, t := range req.Transports {
		if !validTransport(t) {
			return fmt.Errorf("open: unknown transport %q", t)
		}
	}
	rate := req.Rate
	if rate <= 0 {
		rate = 1000
	}
	ctx := a.context()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		sem := make(chan struct{}, 64) // opens in flight
		defer func() {
			for range cap(sem) { // every open decided:
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
			// the session POSTs' keep-alive sockets would hold a server
			// goroutine each and blur the per-stream figures
			a.http.CloseIdleConnections()
		}()
		start := time.Now()
		for i := 0; i < req.N; i++ {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			t := req.Transports[i%len(req.Transports)]
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				_, err := a.startStream(t, nil, func() { <-sem })
				if err != nil {
					a.c.openFailed.Add(1)
					a.note(err)
				}
			}()
		}
	}()
	return nil
}

func validTransport(t string) bool {
	switch t {
	case "multipart", "sse", "iframe", "ws", "longpoll":
		return true
	}
	return false
}

// startStream opens a session and its stream and returns once the stream is
// attached (its prelude or first poll answer arrived) or failed. done runs
// when the attempt is decided either way.
func (a *agent) startStream(transport string, b *bot, done func()) (*clientStream, error) {
	life := a.context()
	ctx, cancel := context.WithTimeout(life, 30*time.Second)
	defer cancel()
	decided := false
	decide := func() {
		if !decided && done != nil {
			decided = true
			done()
		}
	}
	defer decide()
	sess, err := a.newSession(ctx, b != nil)
	if err != nil {
		return nil, err
	}
	s := &clientStream{a: a, sess: sess, transport: transport, bot: b}
	if b != nil {
		b.s = s
	}
	ready := make(chan error, 1)
	a.mu.Lock()
	a.streams[s] = struct{}{}
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		s.run(life, func(err error) { ready <- err })
		a.mu.Lock()
		delete(a.streams, s)
		a.mu.Unlock()
	}()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = fmt.Errorf("open %s stream: %w", transport, ctx.Err())
	}
	if err != nil {
		return nil, err
	}
	a.c.opened.Add(1)
	return s, nil
}

// stats returns the counters; reset zeroes the per-measurement ones (tags,
// latencies, inputs, events) but not the stream counts.
func (a *agent) stats(reset bool) agentStats {
	ld := func(v *atomic.Int64) int64 {
		if reset {
			return v.Swap(0)
		}
		return v.Load()
	}
	s := agentStats{
		Held: a.c.held.Load(), Opened: a.c.opened.Load(), OpenFailed: a.c.openFailed.Load(),
		Lost: a.c.lost.Load(), Recycled: a.c.recycled.Load(), Reconnects: a.c.reconnects.Load(),
		Events: ld(&a.c.events), Heartbeats: ld(&a.c.heartbeats), BadBatches: ld(&a.c.badBatches),
		SeqGaps: ld(&a.c.seqGaps), SeqDups: ld(&a.c.seqDups), Resets: ld(&a.c.resets),
		SysErrors: ld(&a.c.sysErrors), Tagged: ld(&a.c.tagged), TagDups: ld(&a.c.tagDups),
		Views: ld(&a.c.views), Inputs: ld(&a.c.inputs), InputErrs: ld(&a.c.inputErrs),
		Observed: ld(&a.c.observed), Unobserved: ld(&a.c.unobserved), InputsWS: ld(&a.c.inputsWS),
		Lat: a.lat.Snapshot(reset), GameLat: a.gameLat.Snapshot(reset), PostLat: a.postLat.Snapshot(reset),
	}
	last := -1
	tags := make([]int64, len(a.perTag))
	for i := range a.perTag {
		if tags[i] = ld(&a.perTag[i]); tags[i] != 0 {
			last = i
		}
	}
	s.PerTag = tags[:last+1]
	if reset {
		a.epoch.Add(1)
	}
	a.mu.Lock()
	s.Errs = append([]string(nil), a.errs...) // kept across resets: the first errors explain the rest
	bots := a.bots
	a.mu.Unlock()
	for _, b := range bots {
		s.Bots++
		if b.running() {
			s.BotsRunning++
		}
	}
	return s
}

// closeAll ends every stream and bot (bots leave their rooms first) and
// waits for their goroutines.
func (a *agent) closeAll(ctx context.Context) {
	a.mu.Lock()
	bots := a.bots
	a.bots = nil
	if a.inputs != nil {
		a.inputs()
		a.inputs = nil
	}
	a.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, b := range bots {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = a.send(lctx, b.s.sess, "room.leave", struct{}{})
		}()
	}
	wg.Wait()
	a.mu.Lock()
	cancel := a.cancel
	a.mu.Unlock()
	cancel()
	a.wg.Wait()
	a.http.CloseIdleConnections()
	a.mu.Lock()
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.mu.Unlock()
}

// context is the life of the current streams; closeAll ends it.
func (a *agent) context() context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ctx
}

// clientStream is one session's downstream: a held stream, a WebSocket or a
// long-poll loop, resumed with ?last= after every clean end.
type clientStream struct {
	a         *agent
	sess      *session
	transport string
	bot       *bot
	last      uint64
	epoch     uint64
	seen      []uint64 // tag numbers received since epoch, a bitset

	wsMu sync.Mutex
	ws   *wsClient // the attached WebSocket (transport ws), for upstream events
}

// errGone is a 404: the session expired; a real client would open a new one.
var errGone = errors.New("session gone (404)")

// run keeps the stream attached until ctx ends or it fails for good; ready
// is called once, when the first attach succeeded or was given up.
func (s *clientStream) run(ctx context.Context, ready func(error)) {
	a := s.a
	attached := false
	held := false
	fails := 0
	onAttach := func() {
		if !held {
			held = true
			a.c.held.Add(1)
		}
		if !attached {
			attached = true
			ready(nil)
		}
		fails = 0
	}
	for {
		var err error
		switch s.transport {
		case "longpoll":
			err = s.poll(ctx, onAttach)
		case "ws":
			err = s.holdWS(ctx, onAttach)
		default:
			err = s.hold(ctx, onAttach)
		}
		if held {
			held = false
			a.c.held.Add(-1)
		}
		if ctx.Err() != nil {
			if !attached {
				ready(ctx.Err())
			}
			return
		}
		if errors.Is(err, errStreamEnd) {
			a.c.recycled.Add(1)
			continue
		}
		a.note(err)
		fails++
		if errors.Is(err, errGone) || fails > 4 {
			if attached {
				a.c.lost.Add(1)
			} else {
				ready(err)
			}
			return
		}
		a.c.reconnects.Add(1)
		backoff := time.Duration(100<<fails) * time.Millisecond
		backoff += rand.N(backoff) // jitter: a storm of reconnects spreads out
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
	}
}

// dialStream opens the socket of one attempt; it closes when ctx ends, and
// the caller defers done.
func (s *clientStream) dialStream(ctx context.Context) (nc net.Conn, done func(), err error) {
	nc, err = s.a.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	return nc, func() { stop(); _ = nc.Close() }, nil
}

// path is the stream's URL path with its resume cursor (the raw writer
// serves one path per framing and needs no session).
func (s *clientStream) path() string {
	p := "/comet/" + s.sess.SID + "/" + s.transport
	switch {
	case s.a.cfg.Raw && s.transport == "ws":
		p = rawWSPath
	case s.a.cfg.Raw:
		p = rawPath
	}
	return p + "?last=" + strconv.FormatUint(s.last, 10)
}

// hold runs one held response (multipart, sse, iframe) until it ends.
func (s *clientStream) hold(ctx context.Context, onAttach func()) error {
	nc, done, err := s.dialStream(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := s.writeGet(nc, s.path()); err != nil {
		return err
	}
	br := bufio.NewReaderSize(nc, 4096)
	h, err := readRespHead(br)
	if err != nil {
		return fmt.Errorf("%s: %w", s.transport, err)
	}
	if h.Status != http.StatusOK {
		return statusErr(s.transport, h, br)
	}
	fr, err := newFramer(s.transport, h)
	if err != nil {
		return err
	}
	lr := newLineReader(br, h)
	attached := false
	for {
		line, err := lr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // a held stream ends with its terminator
			}
			if errors.Is(err, errStreamEnd) {
				return err
			}
			return fmt.Errorf("%s: %w", s.transport, err)
		}
		if !attached {
			attached = true
			onAttach() // the prelude is in: the stream is held
		}
		batch, ok, err := fr.frame(line)
		if err != nil {
			return err
		}
		if ok {
			s.batch(batch, time.Now())
		}
	}
}

// poll runs long-polls back to back on one keep-alive connection.
func (s *clientStream) poll(ctx context.Context, onAttach func()) error {
	nc, done, err := s.dialStream(ctx)
	if err != nil {
		return err
	}
	defer done()
	br := bufio.NewReaderSize(nc, 4096)
	for {
		path := fmt.Sprintf("/comet/%s/poll?last=%d&wait=%d", s.sess.SID, s.last, s.a.cfg.PollWait)
		if err := s.writeGet(nc, path); err != nil {
			return err
		}
		h, err := readRespHead(br)
		if err != nil {
			return fmt.Errorf("longpoll: %w", err)
		}
		if h.Status != http.StatusOK {
			return statusErr("longpoll", h, br)
		}
		lr := newLineReader(br, h)
		body, err := lr.next()
		if err != nil {
			return fmt.Errorf("longpoll body: %w", err)
		}
		onAttach()
		s.batch(body, time.Now())
		if _, err := lr.next(); err == nil {
			return fmt.Errorf("longpoll: more than one line in a poll answer")
		}
		if h.Close {
			return errStreamEnd
		}
	}
}

func (s *clientStream) writeGet(nc net.Conn, path string) error {
	req := "GET " + path + " HTTP/1.1\r\nHost: " + s.a.host + "\r\nUser-Agent: cometbench\r\nAccept: */*\r\n"
	if s.sess.Token != "" {
		req += "Authorization: Bearer " + s.sess.Token + "\r\n"
	}
	_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		return fmt.Errorf("%s: write request: %w", s.transport, err)
	}
	return nil
}

func statusErr(transport string, h respHead, br *bufio.Reader) error {
	var msg []byte
	if h.ContentLength > 0 && h.ContentLength < 4096 {
		msg = make([]byte, h.ContentLength)
		_, _ = io.ReadFull(br, msg)
	}
	if h.Status == http.StatusNotFound {
		return fmt.Errorf("%s: %w: %s", transport, errGone, bytes.TrimSpace(msg))
	}
	return fmt.Errorf("%s: status %d: %s", transport, h.Status, bytes.TrimSpace(msg))
}

// batch handles one batch line.
func (s *clientStream) batch(b []byte, now time.Time) {
	a := s.a
	evs, err := decodeBatch(b)
	if err != nil {
		a.c.badBatches.Add(1)
		a.note(err)
		return
	}
	if len(evs) == 0 {
		a.c.heartbeats.Add(1)
		return
	}
	for i := range evs {
		s.event(&evs[i], now)
	}
}

// event checks the seq and dispatches one event.
func (s *clientStream) event(ev *wireEvent, now time.Time) {
	a := s.a
	a.c.events.Add(1)
	switch {
	case ev.Seq <= s.last:
		a.c.seqDups.Add(1)
		return
	case ev.Seq > s.last+1:
		a.c.seqGaps.Add(int64(ev.Seq - s.last - 1))
	}
	s.last = ev.Seq
	switch ev.Type {
	case "chat.msg":
		if k, sent, ok := parseTag(ev.Data); ok {
			s.tagged(k, now.Sub(sent))
		}
	case "sys.reset":
		a.c.resets.Add(1)
	case "sys.error":
		a.c.sysErrors.Add(1)
		a.note(fmt.Errorf("sys.error %s", ev.Data))
	case "room.joined", "room.state", "room.snapshot", "room.diff":
		if s.bot != nil {
			s.bot.event(ev, now)
		}
	}
}

// tagged counts the first receipt of tag k on this stream.
func (s *clientStream) tagged(k int, lat time.Duration) {
	a := s.a
	if k < 0 || k >= len(a.perTag) {
		return
	}
	if e := a.epoch.Load(); e != s.epoch {
		s.epoch = e
		clear(s.seen)
	}
	if s.seen == nil {
		s.seen = make([]uint64, (len(a.perTag)+63)/64)
	}
	if s.seen[k/64]&(1<<(k%64)) != 0 {
		a.c.tagDups.Add(1)
		return
	}
	s.seen[k/64] |= 1 << (k % 64)
	a.c.tagged.Add(1)
	a.perTag[k].Add(1)
	a.lat.Record(lat)
}

// tagPrefix starts the text of a bench chat line: "cb <k> <unix nanos>".
const tagPrefix = `"text":"cb `

// tagText is the chat text of message k sent at t.
func tagText(k int, t time.Time) string { return fmt.Sprintf("cb %d %d", k, t.UnixNano()) }

// parseTag finds a bench tag in a chat.msg's data.
func parseTag(data []byte) (k int, sent time.Time, ok bool) {
	i := bytes.Index(data, []byte(tagPrefix))
	if i < 0 {
		return 0, time.Time{}, false
	}
	rest := data[i+len(tagPrefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return 0, time.Time{}, false
	}
	ks, ns, found := strings.Cut(string(rest[:end]), " ")
	if !found {
		return 0, time.Time{}, false
	}
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.ParseInt(ns, 10, 64)
	if err1 != nil || err2 != nil || k < 0 || n <= 0 {
		return 0, time.Time{}, false
	}
	return k, time.Unix(0, n), true
}
