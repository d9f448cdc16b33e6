package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"comet"
	"comet/server/push"
)

// Cluster is this node's membership of a cluster of nodes, each a Server,
// with no sticky routing: any node takes any request, and a request for a
// session homed elsewhere is forwarded there, or its stream relayed from
// there. server/cluster implements it; nil (the default) runs one node.
type Cluster interface {
	// Name is this node's name.
	Name() string
	// Alive reports whether node holds a current lease.
	Alive(node string) bool
	// Claim records this node as the home of a new session of player.
	Claim(ctx context.Context, sid, player string) error
	// Home returns a session's home and player and the directory's
	// revision; node is "" for a session the directory does not list (rev
	// 0) or one its home drained and no node took yet (rev not 0).
	Home(ctx context.Context, sid string) (node, player string, rev uint64, err error)
	// Rehome makes this node the home of a session whose home is gone, a
	// compare-and-set on rev (an error if another node did first).
	Rehome(ctx context.Context, sid, player string, rev uint64) error
	// Forget removes an ended session of this node from the directory.
	Forget(ctx context.Context, sid string)
	// Forward has node answer r (body read already); remote is the client's
	// address. The answer is written to w.
	Forward(ctx context.Context, node string, r *http.Request, body []byte, remote string, w http.ResponseWriter) error
	// Relay has home relay session sid's events after last into mirror, a
	// session of this node's hub with the same id; the error is a
	// *comet.Error to answer the client with, or any other if the home did
	// not answer.
	Relay(ctx context.Context, home, sid, token string, last uint64, mirror *push.Session) error
	// Unmirror says mirror ended here, so its home stops relaying.
	Unmirror(mirror *push.Session)
	// Settle waits, after a Forward or Relay to node got no answer, until
	// node is known gone (gone: its lease expired) or answers again; ctx's
	// error if neither happens first.
	Settle(ctx context.Context, node string) (gone bool, err error)

	// Fenced reports whether this node lost NATS or its lease: it must not
	// serve clients until it recovers (cluster_fence.go).
	Fenced() bool
	// Reconcile says whether a session held here is still this node's
	// (claiming it again if the directory lost it) when a fence ends.
	Reconcile(ctx context.Context, sid, player string) (keep bool, err error)
	// MarkDrained marks a session of this node drained, for the next node
	// its client reaches to take (cluster_drain.go); false if it is no
	// longer this node's.
	MarkDrained(ctx context.Context, sid, player string) (bool, error)
	// SaveDrained stores the blob of a drained session nobody took.
	SaveDrained(ctx context.Context, sid string, blob []byte) error
	// TakeDrained makes this node the home of a drained session (a
	// compare-and-set on rev) and returns its blob; nil when none is left.
	// before runs once the entry is this node's and before the drained
	// home ends the session, with its topics there (takeCapture).
	TakeDrained(ctx context.Context, sid, player string, rev uint64, before func(ctx context.Context, topics []string, seq uint64)) ([]byte, error)
}

// clusterTimeout bounds a directory look-up or a relay request.
const clusterTimeout = 5 * time.Second

type forwardedKey struct{}

// ClusterHandler answers requests other nodes forward here, to this node as
// their session's home: the public handler, marked so that a session not
// found here is answered 404 rather than forwarded again.
func (s *Server) ClusterHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.e.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), forwardedKey{}, true)))
	})
}

// RelaySession returns the session another node asks to relay, if token is
// its player's; errUnavailable (retry) for one the directory still gives
// this node but it no longer holds, because it restarted.
func (s *Server) RelaySession(ctx context.Context, sid, token string) (*push.Session, error) {
	if s.Draining() || s.cluster.Fenced() {
		return nil, errUnavailable
	}
	ps, ok := s.hub.Session(sid)
	if !ok || tabOf(ps).mirror {
		if node, _, _, err := s.cluster.Home(ctx, sid); err == nil && node == s.cluster.Name() {
			// Held here before this node restarted under its name: not
			// lost, a retry re-homes it (on this node, or a poll forwarded here).
			return nil, errUnavailable
		}
		return nil, comet.Errorf(comet.ENOTFOUND, "session not found")
	}
	if subtle.ConstantTimeCompare(hashToken(token), tabOf(ps).tokenHash[:]) != 1 {
		return nil, comet.Errorf(comet.EFORBIDDEN, "session belongs to another player")
	}
	return ps, nil
}

// EndMirror ends a mirror held here; its stream ends as "shutdown" (not
// "ended": the session lives on at its home) and the client resumes
// wherever it reconnects.
func (s *Server) EndMirror(m *push.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	m.EndStream()
	s.hub.Remove(ctx, m)
}

// routeSession sends a per-session request (/send, /close, a downstream)
// to where its session lives: here when this node is its home; forwarded,
// or for a held stream relayed, when another live node is; re-homed here
// when its home is gone and the request is a downstream, whose cursor lets
// the session continue its numbering with a sys.reset.
func (s *Server) routeSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if s.cluster == nil {
			return next(c)
		}
		sid := c.Param("sid")
		if ps, ok := s.hub.Session(sid); ok && !tabOf(ps).mirror {
			return next(c)
		}
		if r.Context().Value(forwardedKey{}) != nil {
			return s.routeForwarded(c, next, sid)
		}
		return s.routeHome(c, next, sid)
	}
}

// errHomeSilent is a forward or relay whose home did not answer (it died,
// or is dying): nothing was written to the client yet.
var errHomeSilent = errors.New("the session's home does not answer")

// errHomeUnavailable is a forward or relay the home refused with 503 (it
// drains, or is fenced): nothing was written to the client yet.
var errHomeUnavailable = errors.New("the session's home is unavailable")

// settleTimeout bounds how long a request waits for a silent home to be
// known gone (its lease, 5 s, expiring) or to answer again.
const settleTimeout = 8 * time.Second

// rehomeWait bounds how long a POST for a session whose home is gone waits
// for the client's downstream to re-home it, before 503.
const rehomeWait = 3 * time.Second

// routeHome routes a request for a session this node does not hold. A
// request whose home stops answering waits here until the home is known
// gone or answers again, then is routed anew (a downstream re-homes the
// session, a POST follows it to where its downstream re-homed it), rather
// than being answered 503 at once: a client of a dead node retries nothing,
// and a load balancer that counts 503s as a node's failure (nginx with
// proxy_next_upstream http_503) does not take live nodes out for it.
func (s *Server) routeHome(c echo.Context, next echo.HandlerFunc, sid string) error {
	r := c.Request()
	downstream := r.Method == http.MethodGet
	if !downstream {
		if done, err := s.forwardCached(c, sid); done {
			return err
		}
	}
	var settled, followed bool // a silent home waited for; a move awaited
	for range 4 {
		ctx, cancel := context.WithTimeout(r.Context(), clusterTimeout)
		node, player, rev, err := s.cluster.Home(ctx, sid)
		cancel()
		if err != nil {
			return fmt.Errorf("session directory: %w", err)
		}
		if node == "" && rev != 0 {
			// Drained by its home: any request takes it here, whole; one
			// moving with its room is followed to the room's taker.
			err := s.takeDrained(c, sid, player, rev)
			if errors.Is(err, errMovingWithRoom) {
				if followed || !s.awaitRehome(c, sid, "", rev) {
					return unavailable(c)
				}
				followed = true
				continue
			}
			if err != nil || c.Response().Committed {
				return err // answered already when the take failed
			}
			return next(c)
		}
		if node == "" {
			return next(c) // unknown everywhere: 404 as on one node
		}
		switch {
		case node != s.cluster.Name() && s.cluster.Alive(node):
			if downstream && c.Param("transport") == "ws" && !followed && s.pullWS(c, node, sid, player) {
				followed = true
				continue // drained by its home for this node to take
			}
			if t := c.Param("transport"); downstream && t != "poll" {
				err = s.relayStream(c, node, sid)
			} else {
				err = s.forward(c, node)
			}
			switch {
			case err == nil && !downstream:
				s.homes.put(sid, node, time.Now())
				return nil
			case errors.Is(err, errNotHome):
				// It moved between this node's read and the home's:
				// read the directory again.
			case errors.Is(err, errHomeUnavailable):
				// Draining (the entry is about to be marked drained, then
				// taken) or fenced: follow the session where it goes.
				if followed || !s.awaitRehome(c, sid, node, rev) {
					return unavailable(c)
				}
				followed = true
			case errors.Is(err, errHomeSilent):
				if settled || !s.settle(c, node) {
					return unavailable(c)
				}
				settled = true
			default:
				return err
			}
		case downstream:
			err := s.rehome(c, sid, player, rev)
			if errors.Is(err, errRehomeLost) {
				continue // another node re-homed it: route there
			}
			if err != nil {
				return err
			}
			return next(c)
		default:
			// A POST for a session whose home is gone: its downstream, which
			// carries the client's cursor, re-homes it; follow it there.
			if followed || !s.awaitRehome(c, sid, node, rev) {
				return unavailable(c)
			}
			followed = true
		}
	}
	return unavailable(c)
}

// forwardCached forwards a POST to the home this node remembers for sid
// (homeCache), skipping the directory read; done is false when there is
// none, or when that node answered that it does not hold the session (404)
// or cannot take it (503, or no answer): the entry is dropped and the
// caller routes the request from the directory, as if uncached.
func (s *Server) forwardCached(c echo.Context, sid string) (done bool, err error) {
	node, ok := s.homes.get(sid, time.Now())
	if !ok || node == s.cluster.Name() || !s.cluster.Alive(node) {
		return false, nil
	}
	err = s.forward(c, node)
	if errors.Is(err, errNotHome) || errors.Is(err, errHomeUnavailable) || errors.Is(err, errHomeSilent) {
		s.homes.drop(sid)
		s.metrics.homeCache.WithLabelValues("stale").Inc()
		return false, nil
	}
	s.metrics.homeCache.WithLabelValues("hit").Inc()
	return true, err
}

// errNotHome is a forward whose node answered 404: the directory no longer
// names it (the session moved, or ended, since it was read or remembered);
// nothing was written to the client yet.
var errNotHome = errors.New("the forward's node no longer holds the session")

// settle waits until node, which did not answer a forward or relay, is
// known gone (its lease expired) or answers again; false if neither
// happened within settleTimeout or the client left.
func (s *Server) settle(c echo.Context, node string) bool {
	ctx, cancel := context.WithTimeout(c.Request().Context(), settleTimeout)
	defer cancel()
	gone, err := s.cluster.Settle(ctx, node)
	if err != nil {
		s.log.Info("the session's home neither left nor answered", "home", node, "err", err)
		return false
	}
	s.log.Debug("a silent home settled", "home", node, "gone", gone)
	return true
}

// awaitRehome waits until sid's directory entry moves on from the dead
// home it names at rev (its downstream re-homed it, or it ended); false
// if it did not within rehomeWait or the client left.
func (s *Server) awaitRehome(c echo.Context, sid, dead string, rev uint64) bool {
	ctx, cancel := context.WithTimeout(c.Request().Context(), rehomeWait)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		node, _, cur, err := s.cluster.Home(ctx, sid)
		if err == nil && (node != dead || cur != rev) {
			return true
		}
	}
}

// routeForwarded answers a request another node forwarded here, as the
// session's home, for a session this node does not hold. When the
// directory still names this node, the session is from before this node
// restarted under its name (its memory lost, its lease taken again before
// the client came back): a downstream re-homes it here — sys.reset
// numbered after the client's cursor, fresh state — and a POST waits for
// that (or for a re-home here already under way) and is answered 503 +
// Retry-After if it does not come.
// Otherwise it is not found here (404, never forwarded again), even when
// this node holds a mirror of it: a mirror relays a stream, it never takes
// a request. The forwarding node, if it used a remembered home, routes the
// request again from the directory.
func (s *Server) routeForwarded(c echo.Context, next echo.HandlerFunc, sid string) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), clusterTimeout)
	node, player, rev, err := s.cluster.Home(ctx, sid)
	cancel()
	if err != nil {
		return fmt.Errorf("session directory: %w", err)
	}
	if node != s.cluster.Name() {
		return comet.Errorf(comet.ENOTFOUND, "session not found")
	}
	if c.Request().Method != http.MethodGet {
		// Being re-homed here right now (the entry is written before the
		// session is made), or to be by the client's downstream: wait.
		if s.awaitLocal(c, sid) {
			return next(c)
		}
		return unavailable(c)
	}
	if err := s.rehome(c, sid, player, rev); errors.Is(err, errRehomeLost) {
		return unavailable(c) // re-homed elsewhere meanwhile: the retry is routed there
	} else if err != nil {
		return err
	}
	return next(c)
}

// awaitLocal waits until this node holds session sid (not a mirror);
// false if it did not within rehomeWait or the client left.
func (s *Server) awaitLocal(c echo.Context, sid string) bool {
	ctx, cancel := context.WithTimeout(c.Request().Context(), rehomeWait)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if ps, ok := s.hub.Session(sid); ok && !tabOf(ps).mirror {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// forward has node answer the request and copies its answer. A node that
// answers 404 no longer holds the session (routeForwarded): errNotHome,
// nothing written, and the caller reads the directory again — a request
// for a session that ended is answered 404 by this node itself then.
func (s *Server) forward(c echo.Context, node string) error {
	r := c.Request()
	var body []byte
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(io.LimitReader(r.Body, max(maxSendBytes, s.cfg.BodyLimit)+1))
		if err != nil {
			return fmt.Errorf("forward: %w", err)
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b)) // for a retry routed elsewhere
	}
	budget := eventTimeout
	if c.Param("transport") == "poll" {
		budget += push.MaxPollWait
	}
	ctx, cancel := context.WithTimeout(r.Context(), budget)
	defer cancel()
	remote := netip.AddrPortFrom(s.limits.clientAddr(r), 0).String()
	w := &statusWriter{header: http.Header{}, keep: true}
	if err := s.cluster.Forward(ctx, node, r, body, remote, w); err != nil {
		if ctx.Err() == nil {
			s.log.Info("forward: the session's home does not answer", "home", node, "path", r.URL.Path, "err", err)
			return errHomeSilent
		}
		s.log.Warn("forward to home failed", "home", node, "path", r.URL.Path, "err", err)
		return unavailable(c)
	}
	if w.status == http.StatusServiceUnavailable {
		return errHomeUnavailable
	}
	if w.status == http.StatusNotFound {
		return errNotHome
	}
	for k, v := range w.header {
		c.Response().Header()[k] = v
	}
	c.Response().WriteHeader(w.status)
	_, err := c.Response().Write(w.body.Bytes())
	return err
}

// relayStream holds a downstream here for a session homed on node: a mirror
// session with the same id, numbered from the client's cursor, is fed the
// home's events with the home's seqs, and this node's writers serve it.
// mirror makes this node's mirror of session sid, homed on node, and has
// the home relay the session's events into it from last: errMirrorRace if
// a request racing this one made one, errHomeUnavailable or errHomeSilent
// if the home drains or does not answer, the home's refusal otherwise.
func (s *Server) mirror(r *http.Request, node, sid, tok string, last uint64) (*tab, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), clusterTimeout)
	defer cancel()
	if old, ok := s.hub.Session(sid); ok { // an earlier relay's mirror
		s.hub.Remove(ctx, old)
	}
	m := &tab{mirror: true, home: node, token: tok, addr: s.limits.clientAddr(r)}
	copy(m.tokenHash[:], hashToken(tok))
	m.setName("")
	ps, err := s.hub.Restore(push.SavedSession{ID: sid, Seq: last}, m)
	if err != nil {
		return nil, errMirrorRace
	}
	m.Session = ps
	if err := s.cluster.Relay(ctx, node, sid, tok, last, ps); err != nil {
		s.hub.Remove(ctx, ps)
		var ce *comet.Error
		if errors.As(err, &ce) && ce.Code == codeUnavailable {
			return nil, errHomeUnavailable // the home drains or is fenced
		}
		if errors.As(err, &ce) {
			return nil, ce
		}
		s.log.Info("relay: the session's home does not answer", "home", node, "sid", sid, "err", err)
		return nil, errHomeSilent
	}
	return m, nil
}

// errMirrorRace is a mirror another request made first.
var errMirrorRace = errors.New("a mirror of the session was made meanwhile")

// muxMirror returns a mirror, relayed from its live home on another node,
// for a session a mux asks for that this node does not hold: a mux carries
// sessions homed anywhere, as a stream of one does. ok is false when the
// session cannot be mirrored now (unknown, drained, its home gone or
// refusing): the mux refuses that sid alone.
func (s *Server) muxMirror(r *http.Request, sid, tok string, last uint64) (*push.Session, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), clusterTimeout)
	node, _, _, err := s.cluster.Home(ctx, sid)
	cancel()
	if err != nil || node == "" || node == s.cluster.Name() || !s.cluster.Alive(node) {
		return nil, false
	}
	m, err := s.mirror(r, node, sid, tok, last)
	if err != nil {
		s.log.Debug("mux: no mirror", "sid", sid, "home", node, "err", err)
		return nil, false
	}
	return m.Session, true
}

func (s *Server) relayStream(c echo.Context, node, sid string) error {
	r := c.Request()
	tok := tokenOf(r)
	if tok == "" {
		return comet.Errorf(comet.EUNAUTHORIZED, "missing player token")
	}
	last, err := lastSeq(c)
	if err != nil {
		return err
	}
	name := c.Param("transport")
	t, held := push.NewTransport(name, sid)
	if !held && name != "ws" {
		return echo.ErrNotFound
	}
	release, err := s.limits.acquireStream(r)
	if err != nil {
		return err
	}
	m, err := s.mirror(r, node, sid, tok, last)
	if err != nil {
		release()
		if errors.Is(err, errMirrorRace) {
			return unavailable(c)
		}
		return err
	}
	if name == "ws" {
		return s.holdWS(c, m, last, release)
	}
	return s.hold(c, m, t, last, release)
}

// rehome makes this node the home of sid, whose home is gone, for the
// player whose token the request presents. The session starts empty with
// the lobby's topics; the downstream's cursor, above its numbering, makes
// the core send sys.reset numbered after it and ask for fresh state, so the
// client's seqs continue with no gap and no repeat.
func (s *Server) rehome(c echo.Context, sid, player string, rev uint64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), sessionTimeout)
	defer cancel()
	p, tok, err := s.rehomeAuth(ctx, c, player)
	if err != nil {
		return err
	}
	if err := s.cluster.Rehome(ctx, sid, p.ID, rev); err != nil {
		s.log.Info("re-home lost a race", "sid", sid, "err", err)
		return errRehomeLost // another node re-homed it: route there
	}
	return s.startRehomed(ctx, c, sid, p, tok)
}

// errRehomeLost is a re-home another node won: nothing was written yet.
var errRehomeLost = errors.New("another node re-homed the session")

// rehomeAuth checks that the request's token is player's, who is not
// banned, before a session of player is re-homed or taken here.
func (s *Server) rehomeAuth(ctx context.Context, c echo.Context, player string) (*comet.Player, string, error) {
	tok := tokenOf(c.Request())
	if tok == "" {
		return nil, "", comet.Errorf(comet.EUNAUTHORIZED, "missing player token")
	}
	p, err := s.store.PlayerByToken(ctx, hashToken(tok))
	if comet.ErrorCode(err) == comet.ENOTFOUND {
		return nil, "", comet.Errorf(comet.EUNAUTHORIZED, "invalid player token")
	}
	if err != nil {
		return nil, "", fmt.Errorf("re-home: find player: %w", err)
	}
	if p.ID != player {
		return p, "", comet.Errorf(comet.EFORBIDDEN, "session belongs to another player")
	}
	if banned, err := s.store.Banned(ctx, p.ID); err != nil {
		return p, "", fmt.Errorf("re-home: ban check: %w", err)
	} else if banned {
		return p, "", comet.Errorf(comet.EFORBIDDEN, "this player is banned")
	}
	return p, tok, nil
}

// startRehomed registers sid here, empty in the lobby, once this node is
// its home in the directory.
func (s *Server) startRehomed(ctx context.Context, c echo.Context, sid string, p *comet.Player, tok string) error {
	r := c.Request()
	addr, err := s.limits.acquireSession(r)
	if err != nil {
		return err
	}
	t := &tab{playerID: p.ID, addr: addr}
	copy(t.tokenHash[:], hashToken(tok))
	t.setName(p.Name)
	ps, err := s.hub.Restore(push.SavedSession{
		ID: sid, User: p.ID, Topics: []string{comet.TopicLobby, comet.ChatTopic("lobby")},
	}, t)
	if err != nil {
		s.limits.releaseSession(addr)
		return unavailable(c)
	}
	t.Session = ps
	s.loadMutes(ctx, t)
	s.log.Info("session re-homed", "sid", sid, "player", p.ID)
	if last, _ := lastSeq(c); last == 0 {
		// Nothing to reset from: the client never read an event.
		s.onReset(ctx, t)
	}
	s.lobby.presenceChanged()
	return nil
}

// forwardWS sends a message a client wrote on a relayed WebSocket to the
// session's home as the POST /send it stands for; the home answers its
// events' errors on the stream. A refused POST (the session is gone, the
// token is no longer good) ends the mirror, so the client reconnects.
func (s *Server) forwardWS(ctx context.Context, m *tab, msg []byte) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "/comet/"+m.ID()+"/send", nil)
	if err != nil {
		return
	}
	r.Header.Set("Authorization", "Bearer "+m.token)
	r.Header.Set("Content-Type", "application/json")
	w := &statusWriter{header: http.Header{}}
	err = s.cluster.Forward(ctx, m.home, r, msg, netip.AddrPortFrom(m.addr, 0).String(), w)
	if err != nil || w.status >= 300 {
		s.log.Info("relayed websocket message refused by its home; ending the relay", "sid", m.ID(), "status", w.status, "err", err)
		s.EndMirror(m.Session)
	}
}

// statusWriter keeps a forwarded answer's status and headers, and its body
// if keep is set.
type statusWriter struct {
	header http.Header
	status int
	keep   bool
	body   bytes.Buffer
}

func (w *statusWriter) Header() http.Header  { return w.header }
func (w *statusWriter) WriteHeader(code int) { w.status = code }
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.keep {
		return w.body.Write(b)
	}
	return len(b), nil
}

// dropMirrors ends every mirror held here (a hand-over saves only the
// sessions this node is home of; a mirror's client resumes elsewhere). It
// runs before sys.restart is sent: a mirror's seqs are its home's, and one
// numbered here would make the client's resume from the home a reset.
func (s *Server) dropMirrors(ctx context.Context) {
	for _, ps := range s.hub.Sessions() {
		if tabOf(ps).mirror {
			ps.EndStream()
			s.hub.Remove(ctx, ps)
		}
	}
}

// codeUnavailable is the code of a request refused while this node (or the
// session's home) drains or is fenced: 503 with Retry-After.
const codeUnavailable = "unavailable"

// errUnavailable refuses a relay while this node drains or is fenced.
var errUnavailable = comet.Errorf(codeUnavailable, "the session's home is draining or fenced; retry")
