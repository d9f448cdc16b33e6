package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"comet/server/push"
)

// Service is what this node answers for the others; the server builds it.
type Service struct {
	// HTTP answers a request forwarded to this node because it is the
	// home of the session the request names.
	HTTP http.Handler
	// Relay returns the session sid if token is its player's, for a relay
	// to the node where its stream is held; a *comet.Error otherwise.
	Relay func(ctx context.Context, sid, token string) (*push.Session, error)
	// EndMirror ends a mirror held here: its home stopped relaying (the
	// stream moved, the session ended or the home died).
	EndMirror func(m *push.Session)
	// Fence ends every stream held here (fence.go): the node lost NATS or
	// its lease and must not serve state others may take over.
	Fence func(why error)
	// Recover reconciles the sessions held here with the directory
	// (Reconcile) before a fenced node serves again.
	Recover func(ctx context.Context)
	// Take hands a session this node drained to the node that took it
	// (drain.go): its saved blob, the session ended here in the same
	// step; ok is false when it is not held here (taken, or saved).
	Take func(ctx context.Context, sid string) (blob []byte, ok bool)
	// Topics lists the bus topics of a session this node drained and the
	// seq it has numbered, for the node about to take it to capture
	// (TakeDrained's before); ok is false when it is not held here.
	Topics func(sid string) (topics []string, seq uint64, ok bool)
}

// ErrUnreachable is returned by Forward and Relay when the node named does
// not answer (no responder: it is gone, or not yet subscribed).
var ErrUnreachable = errors.New("cluster: node unreachable")

// subject names; a node name is one token (ValidNodeName).
func httpSubject(node string) string   { return "comet.node." + node + ".http" }
func relaySubject(node string) string  { return "comet.node." + node + ".relay" }
func mirrorSubject(node string) string { return "comet.node." + node + ".mirror" }

// wireRequest is an HTTP request forwarded to a session's home.
type wireRequest struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query,omitempty"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body,omitempty"`
	Remote string      `json:"remote"` // the client's address as the edge saw it
}

// wireResponse is the home's answer, relayed to the client as it is.
type wireResponse struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body,omitempty"`
}

// forwardedHeaders are the request headers the home needs: the token, the
// origin checks, the resume cursor and the body's type.
var forwardedHeaders = []string{"Authorization", "Cookie", "Origin", "Sec-Fetch-Site", "Content-Type", "Last-Event-ID", "User-Agent"}

// answerHeaders are the response headers passed back to the client.
var answerHeaders = []string{"Content-Type", "Cache-Control", "Retry-After", "X-Content-Type-Options", "Set-Cookie"}

// Forward sends r (its body already read into body) to node, the session's
// home, and writes the home's answer to w. remote is the client's address
// as this node established it. ctx bounds the call.
func (n *Node) Forward(ctx context.Context, node string, r *http.Request, body []byte, remote string, w http.ResponseWriter) error {
	wr := wireRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: http.Header{}, Body: body, Remote: remote}
	for _, h := range forwardedHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			wr.Header[h] = v
		}
	}
	data, err := json.Marshal(wr)
	if err != nil {
		return fmt.Errorf("cluster: forward: %w", err)
	}
	msg, err := n.call(ctx, "http", node, httpSubject(node), data)
	if err != nil {
		return fmt.Errorf("cluster: forward to %s: %w", node, err)
	}
	var resp wireResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("cluster: forward to %s: answer: %w", node, err)
	}
	for _, h := range answerHeaders {
		for _, v := range resp.Header.Values(h) {
			w.Header().Add(h, v)
		}
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
	return nil
}

// Serve starts answering the other nodes with svc. Until it is called, a
// forwarded request is answered 503.
func (n *Node) Serve(svc Service) { n.svc.Store(&svc) }

// svcHolder is the Service set by Serve.
type svcHolder = atomic.Pointer[Service]

// subscribe listens on this node's subjects.
func (n *Node) subscribe() error {
	for subj, h := range map[string]nats.MsgHandler{
		httpSubject(n.cfg.Node):   n.onHTTP,
		relaySubject(n.cfg.Node):  n.relay.onRequest,
		mirrorSubject(n.cfg.Node): n.relay.onMirror,
		takeSubject(n.cfg.Node):   n.onTake,
		topicsSubject(n.cfg.Node): n.onTopics,
		pingSubject(n.cfg.Node):   n.onPing,
	} {
		sub, err := n.nc.Subscribe(subj, h)
		if err != nil {
			return fmt.Errorf("cluster: subscribe %s: %w", subj, err)
		}
		n.subs = append(n.subs, sub)
	}
	if err := n.nc.Flush(); err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	return nil
}

// onHTTP answers one forwarded request on its own goroutine: a long-poll
// is held up to 30 s and must not hold the subscription's dispatcher.
func (n *Node) onHTTP(m *nats.Msg) {
	go func() {
		resp := n.serveHTTP(m.Data)
		b, err := json.Marshal(resp)
		if err == nil {
			err = m.Respond(b)
		}
		if err != nil {
			n.log.Warn("answer forwarded request", "err", err)
		}
	}()
}

func (n *Node) serveHTTP(data []byte) wireResponse {
	svc := n.svc.Load()
	if svc == nil || svc.HTTP == nil {
		return wireResponse{Status: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"1"}}}
	}
	var wr wireRequest
	if err := json.Unmarshal(data, &wr); err != nil {
		return wireResponse{Status: http.StatusBadRequest, Body: []byte(`{"error":"bad forwarded request","code":"invalid"}`)}
	}
	u := &url.URL{Path: wr.Path, RawQuery: wr.Query}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ForwardTimeout+forwardWaitSlack)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, wr.Method, u.String(), bytes.NewReader(wr.Body))
	if err != nil {
		return wireResponse{Status: http.StatusBadRequest, Body: []byte(`{"error":"bad forwarded request","code":"invalid"}`)}
	}
	req.Header = wr.Header
	req.RemoteAddr = wr.Remote
	rec := httptest.NewRecorder()
	svc.HTTP.ServeHTTP(rec, req)
	return wireResponse{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// forwardWaitSlack is added to a forwarded request's budget for a long-poll's wait.
const forwardWaitSlack = 35e9
