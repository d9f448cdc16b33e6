package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"comet/internal/nginxtest"
)

// tlsClient is an HTTPS client trusting only cert that speaks only proto
// ("h2" or "http/1.1"), from the loopback address local (nil: any), and
// counts the TCP connections it dials.
type tlsClient struct {
	*http.Client
	dials atomic.Int32
}

func newTLSClient(cert *x509.Certificate, proto string, local net.Addr) *tlsClient {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c := &tlsClient{}
	d := &net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		Protocols: new(http.Protocols),
	}
	if proto == "h2" {
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	c.Client = &http.Client{Transport: tr}
	return c
}

// h2Tab is a tab speaking the public protocol through a given client, and
// recording the connection every request went out on.
type h2Tab struct {
	t          *testing.T
	base       string
	hc         *tlsClient
	sid, token string
	seq        atomic.Uint64

	mu     sync.Mutex
	conns  map[string]int // local address of the connection → requests
	protos map[string]int // response protocol → responses
}

func (tb *h2Tab) do(req *http.Request) (*http.Response, error) {
	if tb.token != "" { // none yet while the session is being made
		req.Header.Set("Authorization", "Bearer "+tb.token)
	}
	// As a browser on the page at base: Comet refuses a POST whose Origin
	// is not the host it was asked for, so nginx must pass the Host on
	// with its port.
	req.Header.Set("Origin", tb.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		tb.mu.Lock()
		tb.conns[info.Conn.LocalAddr().String()]++
		tb.mu.Unlock()
	}}
	resp, err := tb.hc.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err == nil {
		tb.mu.Lock()
		tb.protos[resp.Proto]++
		tb.mu.Unlock()
	}
	return resp, err
}

// openH2Tab creates a session through base with hc.
func openH2Tab(t *testing.T, base string, hc *tlsClient) *h2Tab {
	t.Helper()
	tb := &h2Tab{t: t, base: base, hc: hc, conns: map[string]int{}, protos: map[string]int{}}
	req, _ := http.NewRequest("POST", base+"/comet/session", nil)
	resp, err := tb.do(req)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("create session: %d %s", resp.StatusCode, b)
	}
	var out struct{ SID, Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	tb.sid, tb.token = out.SID, out.Token
	return tb
}

// send posts events (type, data pairs) and wants 204.
func (tb *h2Tab) send(events ...any) {
	tb.t.Helper()
	var evs []map[string]any
	for i := 0; i+1 < len(events); i += 2 {
		evs = append(evs, map[string]any{"seq": tb.seq.Add(1), "type": events[i], "data": events[i+1]})
	}
	body, _ := json.Marshal(evs)
	req, _ := http.NewRequest("POST", tb.base+"/comet/"+tb.sid+"/send", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := tb.do(req)
	if err != nil {
		tb.t.Fatalf("send: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 204 {
		b, _ := io.ReadAll(resp.Body)
		tb.t.Fatalf("send: %d %s", resp.StatusCode, b)
	}
}

// open holds a downstream (multipart, sse, iframe) read batch by batch.
func (tb *h2Tab) open(transport string, last uint64) *tstream {
	tb.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/comet/%s/%s?last=%d", tb.base, tb.sid, transport, last), nil)
	resp, err := tb.do(req)
	if err != nil {
		tb.t.Fatalf("open %s: %v", transport, err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tb.t.Fatalf("open %s: %d %s", transport, resp.StatusCode, b)
	}
	s := &tstream{resp: resp, batches: make(chan []wireEvent, 1024), done: make(chan error, 1), raw: &bytes.Buffer{}}
	go s.read(transport)
	tb.t.Cleanup(s.close)
	return s
}

// poll is one GET /poll; an error instead of a failure so a goroutine may call it.
func (tb *h2Tab) poll(last uint64, wait int) ([]wireEvent, error) {
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/comet/%s/poll?last=%d&wait=%d", tb.base, tb.sid, last, wait), nil)
	resp, err := tb.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("poll: %d %s", resp.StatusCode, b)
	}
	var evs []wireEvent
	if err := json.Unmarshal(b, &evs); err != nil {
		return nil, fmt.Errorf("poll body %q: %v", b, err)
	}
	return evs, nil
}

// longPoller polls with wait=25 in a loop, each answer's events onto evs,
// until stop closes.
type longPoller struct {
	evs  chan wireEvent
	errc chan error
	stop chan struct{}
}

func (tb *h2Tab) longPoll(last uint64) *longPoller {
	lp := &longPoller{evs: make(chan wireEvent, 1024), errc: make(chan error, 1), stop: make(chan struct{})}
	go func() {
		for {
			select {
			case <-lp.stop:
				return
			default:
			}
			evs, err := tb.poll(last, 25)
			if err != nil {
				select {
				case <-lp.stop:
				default:
					lp.errc <- err
				}
				return
			}
			for _, ev := range evs {
				last = ev.Seq
				lp.evs <- ev
			}
		}
	}()
	return lp
}

func (lp *longPoller) waitType(t *testing.T, typ string, timeout time.Duration) wireEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-lp.evs:
			if ev.Type == typ {
				return ev
			}
		case err := <-lp.errc:
			t.Fatalf("long-poll: %v", err)
		case <-deadline:
			t.Fatalf("no %s on the long-poll within %v", typ, timeout)
		}
	}
}

// untilText takes chat lines from next (which fails the test on a timeout)
// until one says text.
func untilText(next func() wireEvent, text string) {
	for {
		var msg struct{ Text string }
		if ev := next(); json.Unmarshal(ev.Data, &msg) == nil && msg.Text == text {
			return
		}
	}
}

// TestNginxTLSHTTP2 runs Comet behind real nginx with docs/deploy/nginx.conf:
// TLS with HTTP/2 to the client, HTTP/1.1 to Comet. Over ONE HTTP/2
// connection a client holds a multipart, an SSE and an iframe stream and a
// long-poll at once (four tabs), sends events, and each stream gets its
// events and heartbeats while it is still open (nginx does not buffer);
// nine more tabs' streams join them on the same connection;
// the WebSocket upgrade goes through over TLS on HTTP/1.1; plain HTTP is
// redirected to HTTPS.
func TestNginxTLSHTTP2(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Hub.Heartbeat = 300 * time.Millisecond
		c.SecureCookies = true
		c.Limits.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	ngx := nginxtest.StartDeployed(t, strings.TrimPrefix(ts.URL, "http://"))
	h2 := newTLSClient(ngx.Cert, "h2", nil)
	defer h2.CloseIdleConnections()

	tabs := map[string]*h2Tab{}
	for _, tr := range []string{"multipart", "sse", "iframe", "longpoll"} {
		tabs[tr] = openH2Tab(t, ngx.HTTPS, h2)
	}
	streams := map[string]*tstream{}
	for _, tr := range streamTransports {
		streams[tr] = tabs[tr].open(tr, 0)
	}
	for tr, st := range streams {
		st.waitType(t, "lobby.rooms", 5*time.Second)
		if st.resp.ProtoMajor != 2 {
			t.Fatalf("%s: %s, want HTTP/2", tr, st.resp.Proto)
		}
	}
	// The long-poll tab: what is there at once, then held polls.
	first, err := tabs["longpoll"].poll(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for _, ev := range first {
		last = ev.Seq
	}
	if last == 0 {
		t.Fatalf("first poll %v: no events", first)
	}
	lp := tabs["longpoll"].longPoll(last)
	defer close(lp.stop)

	// Each tab's ping comes back on its own stream while that stream and
	// the others stay open on the one connection.
	for round := 1; round <= 3; round++ {
		for tr, st := range streams {
			tabs[tr].send("sys.ping", map[string]any{"t": round})
			ev := st.waitType(t, "sys.pong", 3*time.Second)
			if string(ev.Data) != fmt.Sprintf(`{"t":%d}`, round) {
				t.Fatalf("%s: pong %s, want t=%d", tr, ev.Data, round)
			}
		}
		tabs["longpoll"].send("sys.ping", map[string]any{"t": round})
		if ev := lp.waitType(t, "sys.pong", 3*time.Second); string(ev.Data) != fmt.Sprintf(`{"t":%d}`, round) {
			t.Fatalf("longpoll: pong %s, want t=%d", ev.Data, round)
		}
	}
	// A lobby chat line said by one tab reaches all four.
	tabs["sse"].send("chat.say", map[string]string{"channel": "lobby", "text": "over h2"})
	for _, st := range streams {
		untilText(func() wireEvent { return st.waitType(t, "chat.msg", 3*time.Second) }, "over h2")
	}
	untilText(func() wireEvent { return lp.waitType(t, "chat.msg", 3*time.Second) }, "over h2")
	// Heartbeats (an empty batch) come through on every stream.
	for tr, st := range streams {
		st.pending = nil
		deadline := time.After(3 * time.Second)
	beat:
		for {
			select {
			case b, ok := <-st.batches:
				if !ok {
					t.Fatalf("%s ended: %v", tr, <-st.done)
				}
				if len(b) == 0 {
					break beat
				}
			case <-deadline:
				t.Fatalf("%s: no heartbeat through nginx", tr)
			}
		}
		select {
		case err := <-st.done:
			t.Fatalf("%s ended (%v): events were not incremental", tr, err)
		default:
		}
	}

	// Nine more tabs, three on each held transport, on the same connection:
	// what a browser cannot do over HTTP/1.1 (six connections per host),
	// each tab's stream live at once beside the four above.
	more := []*h2Tab{}
	moreStreams := []*tstream{}
	for i := range 9 {
		tr := streamTransports[i%len(streamTransports)]
		tb := openH2Tab(t, ngx.HTTPS, h2)
		more = append(more, tb)
		moreStreams = append(moreStreams, tb.open(tr, 0))
	}
	for i, st := range moreStreams {
		st.waitType(t, "lobby.rooms", 5*time.Second)
		more[i].send("sys.ping", map[string]any{"t": 100 + i})
		if ev := st.waitType(t, "sys.pong", 3*time.Second); string(ev.Data) != fmt.Sprintf(`{"t":%d}`, 100+i) {
			t.Fatalf("tab %d: pong %s", i, ev.Data)
		}
	}
	for i, st := range append(moreStreams, streams["multipart"], streams["sse"], streams["iframe"]) {
		select {
		case err := <-st.done:
			t.Fatalf("stream %d ended (%v) while nine more were held", i, err)
		default:
		}
	}
	for i, tb := range more {
		tabs[fmt.Sprint("more", i)] = tb // counted below
	}

	// One TCP (TLS) connection carried every request, all of them HTTP/2.
	if n := h2.dials.Load(); n != 1 {
		t.Errorf("dialled %d connections, want 1", n)
	}
	conns, protos := map[string]int{}, map[string]int{}
	for _, tb := range tabs {
		tb.mu.Lock()
		for k, v := range tb.conns {
			conns[k] += v
		}
		for k, v := range tb.protos {
			protos[k] += v
		}
		tb.mu.Unlock()
	}
	if len(conns) != 1 {
		t.Errorf("requests went out on %d connections (%v), want 1", len(conns), conns)
	}
	if len(protos) != 1 || protos["HTTP/2.0"] == 0 {
		t.Errorf("response protocols %v, want only HTTP/2.0", protos)
	}

	t.Run("websocket", func(t *testing.T) {
		// nginx 1.22 has no WebSocket over HTTP/2 (RFC 8441), nor do most
		// browsers use it: the socket is its own HTTP/1.1 connection over TLS.
		h1 := newTLSClient(ngx.Cert, "http/1.1", nil)
		defer h1.CloseIdleConnections()
		tab := openH2Tab(t, ngx.HTTPS, h2)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		url := strings.Replace(ngx.HTTPS, "https://", "wss://", 1) + "/comet/" + tab.sid + "/ws?last=0"
		conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
			HTTPClient: h1.Client,
			HTTPHeader: http.Header{"Authorization": {"Bearer " + tab.token}, "Origin": {ngx.HTTPS}},
		})
		if err != nil {
			if resp != nil {
				err = fmt.Errorf("%w (%s)", err, resp.Status)
			}
			t.Fatalf("dial through nginx: %v", err)
		}
		defer conn.CloseNow()
		if resp.StatusCode != 101 || resp.ProtoMajor != 1 {
			t.Fatalf("upgrade answered %s %s", resp.Proto, resp.Status)
		}
		wsNext := func(typ string) wireEvent {
			t.Helper()
			for {
				for _, ev := range readBatch(t, conn) {
					if ev.Type == typ {
						return ev
					}
				}
			}
		}
		wsNext("lobby.rooms")
		say := func(seq int, typ string, data any) {
			t.Helper()
			up, _ := json.Marshal([]map[string]any{{"seq": seq, "type": typ, "data": data}})
			if err := conn.Write(ctx, websocket.MessageText, up); err != nil {
				t.Fatal(err)
			}
		}
		say(1, "sys.ping", map[string]int{"t": 7})
		if ev := wsNext("sys.pong"); string(ev.Data) != `{"t":7}` {
			t.Fatalf("pong %s", ev.Data)
		}
		// Upstream on the socket reaches the HTTP/2 streams, and back.
		say(2, "chat.say", map[string]string{"channel": "lobby", "text": "over the socket"})
		onSocket := func() wireEvent { return wsNext("chat.msg") }
		onStream := func() wireEvent { return streams["multipart"].waitType(t, "chat.msg", 3*time.Second) }
		untilText(onSocket, "over the socket")
		untilText(onStream, "over the socket")
		tabs["iframe"].send("chat.say", map[string]string{"channel": "lobby", "text": "to the socket"})
		untilText(onSocket, "to the socket")
		if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatalf("close: %v", err)
		}
	})

	t.Run("plain HTTP redirects", func(t *testing.T) {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(ngx.HTTP + "/comet/session")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 301 || !strings.HasPrefix(loc, "https://") {
			t.Fatalf("plain HTTP: %d Location %q, want 301 to https://", resp.StatusCode, loc)
		}
	})
}

// TestNginxForwardsClientAddress: with the deployed config and
// --trusted-proxy naming nginx, Comet limits each client by its own address
// (nginx's X-Forwarded-For), not nginx's, and a client cannot pick its
// address by sending X-Forwarded-For itself.
func TestNginxForwardsClientAddress(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Limits.SessionsPerMinute = 2
		c.Limits.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	ngx := nginxtest.StartDeployed(t, strings.TrimPrefix(ts.URL, "http://"))
	from := func(ip string) *tlsClient {
		c := newTLSClient(ngx.Cert, "h2", &net.TCPAddr{IP: net.ParseIP(ip)})
		t.Cleanup(c.CloseIdleConnections)
		return c
	}
	a, b := from("127.0.0.2"), from("127.0.0.3")
	session := func(c *tlsClient, xff string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", ngx.HTTPS+"/comet/session", nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, step := range []struct {
		c      *tlsClient
		xff    string
		status int
	}{
		{a, "", 201}, {a, "", 201},
		{a, "", 429},             // 127.0.0.2 spent its two
		{a, "198.51.100.7", 429}, // and cannot claim another address
		{b, "127.0.0.2", 201},    // 127.0.0.3 is its own address, whatever it says
		{b, "", 201},
		{b, "", 429},
	} {
		if got := session(step.c, step.xff); got != step.status {
			t.Fatalf("step %d (X-Forwarded-For %q): %d, want %d", i, step.xff, got, step.status)
		}
	}
}

// TestNginxRollingRestart: SIGTERM's hand-over seen through the deployed
// nginx over HTTP/2. The stream ends with sys.restart and {"end":"shutdown"};
// while no process listens nginx answers 503 unavailable with Retry-After
// (as Comet itself does during a restart), not a proxy error page; the next
// process on the same address and database resumes the same session with
// the seqs running on, no gap and no repeat.
func TestNginxRollingRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "comet.db")
	first := startNode(t, path, "", 0)
	ngx := nginxtest.StartDeployed(t, first.addr)
	h2 := newTLSClient(ngx.Cert, "h2", nil)
	defer h2.CloseIdleConnections()
	tab := openH2Tab(t, ngx.HTTPS, h2)
	st := tab.open("sse", 0)
	var last uint64
	upTo := func(st *tstream, typ string) wireEvent {
		t.Helper()
		for {
			ev := st.next(t, 5*time.Second)
			if ev.Seq != last+1 {
				t.Fatalf("seq %d (%s) after %d: a gap or a repeat", ev.Seq, ev.Type, last)
			}
			last = ev.Seq
			if ev.Type == typ {
				return ev
			}
		}
	}
	tab.send("chat.say", map[string]string{"channel": "lobby", "text": "before"})
	upTo(st, "chat.msg")

	first.stop(t) // what SIGTERM does in comet serve
	upTo(st, "sys.restart")
	if err := <-st.done; err != nil || st.endWhy != "shutdown" {
		t.Fatalf("stream ended with %q (%v), want a clean shutdown end", st.endWhy, err)
	}
	req, _ := http.NewRequest("POST", tab.base+"/comet/"+tab.sid+"/send", strings.NewReader(`[]`))
	resp, err := tab.do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Code string }
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || json.Unmarshal(body, &e) != nil || e.Code != "unavailable" {
		t.Fatalf("between processes: %d Retry-After %q %s, want 503 unavailable, Retry-After 1",
			resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}

	startNode(t, path, first.addr, 1)
	st = tab.open("sse", last)
	tab.send("chat.say", map[string]string{"channel": "lobby", "text": "after"})
	untilText(func() wireEvent { return upTo(st, "chat.msg") }, "after")
	if st.resp.ProtoMajor != 2 {
		t.Fatalf("resumed over %s, want HTTP/2", st.resp.Proto)
	}
}
