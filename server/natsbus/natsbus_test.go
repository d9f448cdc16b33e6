package natsbus_test

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"comet"
	"comet/internal/check"
	"comet/internal/natstest"
	"comet/server/bustest"
	"comet/server/natsbus"
)

// runServer starts an embedded nats-server with no listener.
func runServer(t testing.TB) *server.Server { return natstest.Run(t, nil) }

// connect opens an in-process connection to s (unless extra names another
// server) with the bus's options.
func connect(t testing.TB, s *server.Server, extra ...nats.Option) *nats.Conn {
	t.Helper()
	opts := natsbus.ConnOptions()
	if s != nil {
		opts = append(opts, nats.InProcessServer(s))
	}
	nc, err := nats.Connect("", append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// node is one bus on its own connection, closed at the end of the test.
func node(t testing.TB, nc *nats.Conn, cfg natsbus.Config) *natsbus.Bus {
	t.Helper()
	return natstest.Bus(t, nc, cfg)
}

func sync2(b *natsbus.Bus) func(t testing.TB) {
	return func(t testing.TB) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
	}
}

// TestConformance runs the shared bus table on one node, then on two nodes
// (publish on one, subscribe on the other), then on two nodes whose
// connections echo (the bus must drop its own echo, not deliver twice).
func TestConformance(t *testing.T) {
	t.Run("one node", func(t *testing.T) {
		bustest.Run(t, func(t *testing.T) bustest.Nodes {
			b := node(t, connect(t, runServer(t)), natsbus.Config{})
			return bustest.Nodes{Pub: b, Sub: b, Settle: sync2(b)}
		})
	})
	t.Run("two nodes", func(t *testing.T) {
		bustest.Run(t, func(t *testing.T) bustest.Nodes {
			s := runServer(t)
			a, b := node(t, connect(t, s), natsbus.Config{}), node(t, connect(t, s), natsbus.Config{})
			return bustest.Nodes{Pub: a, Sub: b, Settle: sync2(b)}
		})
	})
	t.Run("one node with echo", func(t *testing.T) {
		bustest.Run(t, func(t *testing.T) bustest.Nodes {
			nc := connect(t, runServer(t), func(o *nats.Options) error { o.NoEcho = false; return nil })
			b := node(t, nc, natsbus.Config{})
			return bustest.Nodes{Pub: b, Sub: b, Settle: sync2(b)}
		})
	})
}

// TestTwoNodesEachDeliverOnceInOrder: a publish on either node reaches the
// sinks of both, once each, in the publisher's order; the publishing node's
// own sinks get the published *Message itself.
func TestTwoNodesEachDeliverOnceInOrder(t *testing.T) {
	s := runServer(t)
	a, b := node(t, connect(t, s), natsbus.Config{}), node(t, connect(t, s), natsbus.Config{})
	const topic = "room:r_1"
	sinks := map[string][]*bustest.Sink{}
	for name, n := range map[string]*natsbus.Bus{"a": a, "b": b} {
		for i := 0; i < 3; i++ {
			sk := &bustest.Sink{}
			n.Subscribe(topic, sk)
			sinks[name] = append(sinks[name], sk)
		}
	}
	sync2(a)(t)
	sync2(b)(t)

	const count = 500
	var published []*comet.Message
	for i := 0; i < count; i++ {
		m := comet.MustMessage("room.diff", i)
		m.From = "p_a"
		published = append(published, m.WithFlags(comet.Droppable))
		a.Publish(topic, m)
	}
	fromB := comet.MustMessage("chat.msg", "from b")
	b.Publish(topic, fromB)

	for name, ss := range sinks {
		for i, sk := range ss {
			check.For(t, 5*time.Second, func() error {
				if n := len(sk.Messages()); n != count+1 {
					return errors.New("node " + name + ": not everything delivered yet")
				}
				return nil
			})
			ms := sk.Messages()
			var fromA []*comet.Message
			sawB := 0
			for _, m := range ms {
				if m.Type == "chat.msg" {
					sawB++
					continue
				}
				fromA = append(fromA, m)
			}
			if sawB != 1 || len(fromA) != count {
				t.Fatalf("node %s sink %d: %d from b, %d from a; want 1 and %d", name, i, sawB, len(fromA), count)
			}
			for j, m := range fromA {
				if string(m.Data()) != string(published[j].Data()) || m.Flags != comet.Droppable || m.From != "p_a" {
					t.Fatalf("node %s sink %d: message %d is %s (flags %d, from %q)", name, i, j, m.Data(), m.Flags, m.From)
				}
				if name == "a" && m != published[j] {
					t.Fatalf("node a sink %d: got a copy of its own publish", i)
				}
			}
		}
	}
	// A fence on each node's own order: nothing more arrives after it.
	fa := comet.MustMessage("test.fence", "a")
	a.Publish(topic, fa)
	for _, sk := range append(sinks["a"], sinks["b"]...) {
		check.For(t, 5*time.Second, func() error {
			if ms := sk.Messages(); len(ms) < count+2 {
				return errors.New("fence not delivered")
			}
			return nil
		})
		if ms := sk.Messages(); len(ms) != count+2 {
			t.Fatalf("a sink has %d messages after the fence, want %d", len(ms), count+2)
		}
	}
	if st := b.Stats(); st.Received != count+1 || st.Refused != 0 || st.Dropped != 0 {
		t.Fatalf("node b stats %+v: want %d received from a, nothing refused or dropped", st, count+1)
	}
}

// TestNodeLeavesSubjectWithLastSubscriber: the node holds one NATS
// subscription per topic however many local sinks it has, and none once the
// last one closes.
func TestNodeLeavesSubjectWithLastSubscriber(t *testing.T) {
	s := runServer(t)
	nc := connect(t, s)
	b := node(t, nc, natsbus.Config{})
	base := s.NumSubscriptions() // the server's own
	var subs []comet.Subscription
	for i := 0; i < 10; i++ {
		subs = append(subs, b.Subscribe("lobby", &bustest.Sink{}))
	}
	subs = append(subs, b.Subscribe("room:1", &bustest.Sink{}))
	sync2(b)(t)
	if n := nc.NumSubscriptions(); n != 2 {
		t.Fatalf("%d NATS subscriptions for 2 topics", n)
	}
	if n := s.NumSubscriptions() - base; n != 2 {
		t.Fatalf("the server holds %d subscriptions of the bus, want 2", n)
	}
	for _, sub := range subs {
		sub.Close()
	}
	sync2(b)(t)
	if n := nc.NumSubscriptions(); n != 0 {
		t.Fatalf("%d NATS subscriptions left after every sink closed", n)
	}
	check.For(t, 5*time.Second, func() error {
		if n := s.NumSubscriptions() - base; n != 0 {
			return errors.New("the server still holds subscriptions")
		}
		return nil
	})
}

// TestDisconnectReported: when the NATS server goes away, the bus says so
// (Healthy false, OnError with ErrDisconnected), local delivery goes on,
// and Publish returns at once, counting what other nodes miss.
func TestDisconnectReported(t *testing.T) {
	s := runServer(t)
	var mu sync.Mutex
	var errs []error
	b := node(t, connect(t, s), natsbus.Config{OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}})
	local := &bustest.Sink{}
	b.Subscribe("lobby", local)
	if !b.Healthy() {
		t.Fatal("not healthy on a live connection")
	}
	s.Shutdown()
	check.For(t, 5*time.Second, func() error {
		if b.Healthy() {
			return errors.New("still healthy after the server shut down")
		}
		mu.Lock()
		defer mu.Unlock()
		for _, err := range errs {
			if errors.Is(err, natsbus.ErrDisconnected) {
				return nil
			}
		}
		return errors.New("no ErrDisconnected reported")
	})
	start := time.Now()
	for i := 0; i < 1000; i++ {
		b.Publish("lobby", comet.MustMessage("x", i))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1000 publishes took %v while disconnected", d)
	}
	if n := len(local.Messages()); n != 1000 {
		t.Fatalf("local sink got %d of 1000 while disconnected", n)
	}
	if st := b.Stats(); st.Dropped < 1000 {
		t.Fatalf("stats %+v: want the 1000 publishes counted as dropped", st)
	}
	check.For(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, err := range errs {
			if errors.Is(err, natsbus.ErrDropped) {
				return nil
			}
		}
		return errors.New("no ErrDropped reported")
	})
}

// TestRefusesMalformedMessages: what another publisher puts on a topic's
// subject reaches no sink unless it is a well-formed, HTML-safe frame.
func TestRefusesMalformedMessages(t *testing.T) {
	s := runServer(t)
	b := node(t, connect(t, s), natsbus.Config{})
	raw := connect(t, s)
	sk := &bustest.Sink{}
	b.Subscribe("lobby", sk)
	sync2(b)(t)
	good := natsbus.EncodeForTest(comet.MustMessage("ok", 1))
	bad := [][]byte{
		nil,
		[]byte("hello"),
		append([]byte{9}, good[1:]...), // another format
		good[:12],                      // cut short
		append(append([]byte(nil), good[:len(good)-1]...), '<'), // raw '<'
		[]byte(strings.Replace(string(good), `"type":`, `"tipe":`, 1)),
	}
	for _, p := range bad {
		if err := raw.Publish(natsbus.Subject("lobby"), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Publish(natsbus.Subject("lobby"), good); err != nil {
		t.Fatal(err)
	}
	check.For(t, 5*time.Second, func() error {
		if len(sk.Messages()) == 0 {
			return errors.New("the good message did not arrive")
		}
		return nil
	})
	if ms := sk.Messages(); len(ms) != 1 || ms[0].Type != "ok" {
		t.Fatalf("sink got %d messages, want only the well-formed one", len(ms))
	}
	if st := b.Stats(); st.Refused != uint64(len(bad)) {
		t.Fatalf("Refused = %d, want %d", st.Refused, len(bad))
	}
}

// TestImportsOnlyTheRoot: natsbus is an adapter; it imports the root and no
// sibling (it reuses server/bus through comet.Bus, wired by its caller).
func TestImportsOnlyTheRoot(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "comet/server/natsbus", "comet/server/bustest").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.HasPrefix(imp, "comet/") && imp != "comet/internal/check" {
			t.Errorf("imports %s; an adapter imports only the root", imp)
		}
	}
}

// swappable hands out in-process connections to whichever server is current,
// so a client reconnects to a restarted embedded server.
type swappable struct{ cur atomic.Pointer[server.Server] }

func (p *swappable) InProcessConn() (net.Conn, error) { return p.cur.Load().InProcessConn() }

// TestRecoversWhenServerReturns: after the NATS server restarts, both nodes
// report it (OnReconnect, Healthy), their subscriptions are back, and what
// was published during the outage is not delivered late.
func TestRecoversWhenServerReturns(t *testing.T) {
	p := &swappable{}
	p.cur.Store(runServer(t))
	var back atomic.Int32
	cfg := natsbus.Config{OnReconnect: func() { back.Add(1) }}
	a := node(t, connect(t, nil, nats.InProcessServer(p)), cfg)
	b := node(t, connect(t, nil, nats.InProcessServer(p)), cfg)
	sk := &bustest.Sink{}
	b.Subscribe("lobby", sk)
	sync2(b)(t)

	p.cur.Load().Shutdown()
	check.For(t, 5*time.Second, func() error {
		if a.Healthy() || b.Healthy() {
			return errors.New("a node still healthy")
		}
		return nil
	})
	a.Publish("lobby", comet.MustMessage("lost", 1))
	p.cur.Store(runServer(t))
	check.For(t, 10*time.Second, func() error {
		if !a.Healthy() || !b.Healthy() || back.Load() != 2 {
			return errors.New("not both back")
		}
		return nil
	})
	sync2(b)(t)
	after := comet.MustMessage("after", 1)
	a.Publish("lobby", after)
	check.For(t, 5*time.Second, func() error {
		if len(sk.Messages()) == 0 {
			return errors.New("nothing delivered after the reconnect")
		}
		return nil
	})
	if ms := sk.Messages(); len(ms) != 1 || ms[0].Type != "after" {
		t.Fatalf("after the reconnect the sink has %d messages (first %q), want only the one published after", len(ms), ms[0].Type)
	}
}

// TestSubscribedMeansTheServerHasIt: Subscribed returns once the server
// holds the node's subscription to a topic (so what is published elsewhere
// afterwards reaches the node), at once when that is known already, and
// fails for a topic the node holds no subscription to.
func TestSubscribedMeansTheServerHasIt(t *testing.T) {
	s := runServer(t)
	b := node(t, connect(t, s), natsbus.Config{})
	base := s.NumSubscriptions() // the server's own
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Subscribed(ctx, "lobby"); err == nil {
		t.Fatal("Subscribed to a topic nobody here is on: no error")
	}
	sub := b.Subscribe("lobby", &bustest.Sink{})
	if err := b.Subscribed(ctx, "lobby"); err != nil {
		t.Fatalf("Subscribed: %v", err)
	}
	if n := s.NumSubscriptions() - base; n != 1 {
		t.Fatalf("after Subscribed the server holds %d subscriptions of the bus, want 1", n)
	}
	ended, stop := context.WithCancel(ctx)
	stop()
	if err := b.Subscribed(ended, "lobby"); err != nil {
		t.Fatalf("Subscribed again, known in effect, needs no round trip: %v", err)
	}
	sub.Close()
	if err := b.Subscribed(ctx, "lobby"); err == nil {
		t.Fatal("Subscribed after the last sink left: no error")
	}
}
