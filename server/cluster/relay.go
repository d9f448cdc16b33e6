package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"comet"
	"comet/server/push"
)

// A stream held on one node (the edge) for a session homed on another is
// relayed: the home attaches a push.Relay to the session in place of a
// stream, and one goroutine per node collects what its relays have and
// publishes it, one message per edge node per round, on that node's mirror
// subject (relay_batch.go: each distinct frame once). The edge holds a mirror — a session in its own hub with the same
// id, fed the home's events with the home's seqs — and its writers, poller
// and sweeper serve the stream as any other. Each relay has an id the edge
// chooses, so what is left of an earlier relay of the same session is told
// apart and ignored.

// relayRequest asks a home to relay a session to Edge (or, with Stop, to stop).
type relayRequest struct {
	SID   string `json:"sid"`
	ID    string `json:"id"`
	Edge  string `json:"edge"`
	Token string `json:"token,omitempty"`
	Last  uint64 `json:"last,omitempty"`
	Stop  bool   `json:"stop,omitempty"`
	// Enc is the batch encoding the edge reads best (relay_batch.go):
	// relayEncRaw, or "" for JSON; a home that knows no other sends JSON.
	Enc string `json:"enc,omitempty"`
}

// relayAnswer is the home's answer: empty when the relay runs.
type relayAnswer struct {
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// mirrorItem is one relayed session's part of a batch: events after Prev,
// or End when the home stopped relaying it.
type mirrorItem struct {
	SID    string            `json:"sid"`
	ID     string            `json:"id"`
	Prev   uint64            `json:"prev,omitempty"`
	Events []push.SavedEvent `json:"events,omitempty"`
	End    bool              `json:"end,omitempty"`
}

// relayBatchBytes is about the most a relay round publishes to one edge in
// one message (NATS's default payload limit is 1 MiB; frames grow in JSON).
const relayBatchBytes = 256 << 10

// homeRelay is a relay this node runs as a session's home.
type homeRelay struct {
	sid, id, edge string
	raw           bool // the edge asked for raw batches
	r             *push.Relay
	queued        bool
}

// batchTo is where a batch goes: an edge, in the encoding its relay asked for.
type batchTo struct {
	edge string
	raw  bool
}

// mirror is a mirror this node holds as the edge of a relay.
type mirror struct {
	s        *push.Session
	home, id string
}

type relays struct {
	n       *Node
	mu      sync.Mutex
	home    map[string]*homeRelay // by sid
	mirrors map[string]*mirror    // by sid
	pending []*homeRelay
	ends    []mirrorItem // End items not yet published
	endTo   []batchTo    // and where each goes
	signal  chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

func (rs *relays) init(n *Node) {
	rs.n = n
	rs.home = map[string]*homeRelay{}
	rs.mirrors = map[string]*mirror{}
	rs.signal = make(chan struct{}, 1)
	rs.quit = make(chan struct{})
	rs.done = make(chan struct{})
	go rs.run()
}

func (rs *relays) close() {
	select {
	case <-rs.quit:
	default:
		close(rs.quit)
	}
	<-rs.done
}

func (rs *relays) poke() {
	select {
	case rs.signal <- struct{}{}:
	default:
	}
}

// wake queues hr for the next round.
func (rs *relays) wake(hr *homeRelay, pr *push.Relay) {
	rs.mu.Lock()
	if hr.r == nil {
		hr.r = pr
	}
	q := !hr.queued
	hr.queued = true
	if q {
		rs.pending = append(rs.pending, hr)
	}
	rs.mu.Unlock()
	if q {
		rs.poke()
	}
}

// stopped is the home's relay ending (replaced, session ended): tell the edge.
func (rs *relays) stopped(hr *homeRelay) {
	rs.mu.Lock()
	if rs.home[hr.sid] == hr {
		delete(rs.home, hr.sid)
	}
	rs.ends = append(rs.ends, mirrorItem{SID: hr.sid, ID: hr.id, End: true})
	rs.endTo = append(rs.endTo, batchTo{hr.edge, hr.raw})
	rs.mu.Unlock()
	rs.poke()
}

// run is the node's one relay goroutine: each round it collects what every
// woken relay has and publishes one message per edge node.
func (rs *relays) run() {
	defer close(rs.done)
	for {
		select {
		case <-rs.quit:
			return
		case <-rs.signal:
		}
		rs.mu.Lock()
		pend, ends, endTo := rs.pending, rs.ends, rs.endTo
		rs.pending, rs.ends, rs.endTo = nil, nil, nil
		for _, hr := range pend {
			hr.queued = false
		}
		rs.mu.Unlock()
		out := map[batchTo][]mirrorItem{}
		size := map[batchTo]int{}
		for i, it := range ends {
			out[endTo[i]] = append(out[endTo[i]], it)
		}
		for _, hr := range pend {
			if hr.r == nil {
				continue
			}
			prev, evs, more := hr.r.Next(relayBatchBytes)
			if len(evs) > 0 {
				to := batchTo{hr.edge, hr.raw}
				out[to] = append(out[to], mirrorItem{SID: hr.sid, ID: hr.id, Prev: prev, Events: evs})
				for _, e := range evs { // shared frames counted each time: a bound, not the size
					size[to] += len(e.Frame)
				}
				if size[to] >= relayBatchBytes {
					rs.publish(to, out[to])
					out[to], size[to] = nil, 0
				}
			}
			if more {
				rs.wake(hr, hr.r)
			}
		}
		for to, items := range out {
			if len(items) > 0 {
				rs.publish(to, items)
			}
		}
	}
}

func (rs *relays) publish(to batchTo, items []mirrorItem) {
	b, err := encodeBatch(items, to.raw)
	if err == nil {
		err = rs.n.nc.Publish(mirrorSubject(to.edge), b)
	}
	if err != nil {
		// Lost: the edge sees the next batch not follow and ends its stream,
		// and the client resumes from the home.
		rs.n.log.Warn("relay batch not published", "edge", to.edge, "err", err)
	}
}

// onRequest answers a relay request (home side), off the dispatcher: the
// service may look the token up in the store.
func (rs *relays) onRequest(m *nats.Msg) {
	go func() {
		var req relayRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			rs.answer(m, comet.Errorf(comet.EINVALID, "bad relay request"))
			return
		}
		if req.Stop {
			rs.mu.Lock()
			hr := rs.home[req.SID]
			rs.mu.Unlock()
			if hr != nil && hr.id == req.ID && hr.r != nil {
				hr.r.Stop()
			}
			return
		}
		rs.answer(m, rs.start(req))
	}()
}

func (rs *relays) start(req relayRequest) error {
	svc := rs.n.svc.Load()
	if svc == nil || svc.Relay == nil {
		return comet.Errorf(comet.EINTERNAL, "node not serving yet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := svc.Relay(ctx, req.SID, req.Token)
	if err != nil {
		return err
	}
	hr := &homeRelay{sid: req.SID, id: req.ID, edge: req.Edge, raw: req.Enc == relayEncRaw}
	rs.mu.Lock()
	rs.home[req.SID] = hr
	rs.mu.Unlock()
	pr, err := sess.Relay(req.Last, func(pr *push.Relay) { rs.wake(hr, pr) }, func(*push.Relay) { rs.stopped(hr) })
	if err != nil {
		rs.mu.Lock()
		if rs.home[req.SID] == hr {
			delete(rs.home, req.SID)
		}
		rs.mu.Unlock()
		if errors.Is(err, push.ErrDraining) {
			return comet.Errorf("unavailable", "home draining; retry")
		}
		return comet.Errorf(comet.ENOTFOUND, "session not found")
	}
	rs.wake(hr, pr)
	return nil
}

func (rs *relays) answer(m *nats.Msg, err error) { rs.n.respond(m, err, "relay request") }

// respond answers a call to this node (a relay, a move, a chat call) with
// err's code and message, or success; a caller gone meanwhile is logged.
func (n *Node) respond(m *nats.Msg, err error, what string) {
	var a relayAnswer
	if err != nil {
		a.Code, a.Error = comet.ErrorCode(err), comet.ErrorMessage(err)
	}
	b, _ := json.Marshal(a)
	if rerr := m.Respond(b); rerr != nil {
		n.log.Debug("answer "+what, "err", rerr)
	}
}

// onMirror takes a batch from a home (edge side) into the mirrors it names.
func (rs *relays) onMirror(m *nats.Msg) {
	items, err := decodeBatch(m.Data)
	if err != nil {
		rs.n.log.Warn("bad relay batch", "err", err)
		return
	}
	for _, it := range items {
		rs.mu.Lock()
		mr := rs.mirrors[it.SID]
		if mr == nil || mr.id != it.ID {
			rs.mu.Unlock()
			continue
		}
		if it.End {
			delete(rs.mirrors, it.SID)
			rs.mu.Unlock()
			rs.endMirror(mr)
			continue
		}
		rs.mu.Unlock()
		if err := mr.s.Mirror(it.Prev, it.Events); err != nil {
			rs.n.log.Warn("relayed events refused; ending the stream", "sid", it.SID, "err", err)
			rs.mu.Lock()
			if rs.mirrors[it.SID] == mr {
				delete(rs.mirrors, it.SID)
			}
			rs.mu.Unlock()
			rs.sendStop(mr, it.SID)
			rs.endMirror(mr)
		}
	}
}

func (rs *relays) endMirror(mr *mirror) {
	if svc := rs.n.svc.Load(); svc != nil && svc.EndMirror != nil {
		svc.EndMirror(mr.s)
	}
}

func (rs *relays) sendStop(mr *mirror, sid string) {
	b, _ := json.Marshal(relayRequest{SID: sid, ID: mr.id, Edge: rs.n.cfg.Node, Stop: true})
	if err := rs.n.nc.Publish(relaySubject(mr.home), b); err != nil {
		rs.n.log.Debug("relay stop not sent", "home", mr.home, "err", err)
	}
}

// nodeGone ends what this node relays to, or mirrors from, a dead node.
func (rs *relays) nodeGone(node string) {
	var stop []*homeRelay
	var end []*mirror
	rs.mu.Lock()
	for sid, hr := range rs.home {
		if hr.edge == node {
			stop = append(stop, hr)
			delete(rs.home, sid)
		}
	}
	for sid, mr := range rs.mirrors {
		if mr.home == node {
			end = append(end, mr)
			delete(rs.mirrors, sid)
		}
	}
	rs.mu.Unlock()
	for _, hr := range stop {
		if hr.r != nil {
			hr.r.Stop()
		}
	}
	for _, mr := range end {
		rs.endMirror(mr)
	}
}

// Relay asks home to relay session sid to this node, into mirror (a session
// of this node's hub with the same id, numbered up to last, the client's
// cursor). token is the client's player token, checked by the home. The
// error is a *comet.Error the client can be answered with, or
// ErrUnreachable when the home does not answer.
func (n *Node) Relay(ctx context.Context, home, sid, token string, last uint64, m *push.Session) error {
	mr := &mirror{s: m, home: home, id: push.RandomID(9)}
	n.relay.mu.Lock()
	n.relay.mirrors[sid] = mr
	n.relay.mu.Unlock()
	err := n.relayRequest(ctx, home, relayRequest{SID: sid, ID: mr.id, Edge: n.cfg.Node, Token: token, Last: last, Enc: relayEncRaw})
	if err != nil {
		n.relay.mu.Lock()
		if n.relay.mirrors[sid] == mr {
			delete(n.relay.mirrors, sid)
		}
		n.relay.mu.Unlock()
	}
	return err
}

func (n *Node) relayRequest(ctx context.Context, home string, req relayRequest) error {
	b, _ := json.Marshal(req)
	msg, err := n.call(ctx, "relay", home, relaySubject(home), b)
	if err != nil {
		return fmt.Errorf("cluster: relay from %s: %w", home, err)
	}
	var a relayAnswer
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		return fmt.Errorf("cluster: relay from %s: answer: %w", home, err)
	}
	if a.Code != "" {
		return comet.Errorf(a.Code, "%s", a.Error)
	}
	return nil
}

// Unmirror is told that a mirror held here ended (it expired, or was
// replaced): its home stops relaying.
func (n *Node) Unmirror(m *push.Session) {
	n.relay.mu.Lock()
	mr := n.relay.mirrors[m.ID()]
	if mr == nil || mr.s != m {
		n.relay.mu.Unlock()
		return
	}
	delete(n.relay.mirrors, m.ID())
	n.relay.mu.Unlock()
	n.relay.sendStop(mr, m.ID())
}
