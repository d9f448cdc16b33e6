// Package natsbus is a comet.Bus across nodes over core NATS: each topic is a
// subject, each node subscribes once per topic it has local subscribers for,
// and fans out to them through the node's in-process bus.
//
// Delivery is at most once, as core NATS is: a message published while a
// node's connection is down, or dropped because a queue is full, is lost and
// counted (Stats) and reported (Config.OnError), never replayed later.
package natsbus

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"comet"
)

// ErrDisconnected is reported (wrapped, with the connection's last error)
// when the bus's NATS connection is lost or closed.
var ErrDisconnected = errors.New("natsbus: NATS connection lost")

// ErrDropped is reported (wrapped) when publishes to other nodes are dropped,
// at most once a second; Stats counts every one.
var ErrDropped = errors.New("natsbus: publishes to other nodes dropped")

// Config is what New needs. Conn and Local are required.
type Config struct {
	// Conn is the node's NATS connection, made with ConnOptions. The bus does
	// not close it.
	Conn *nats.Conn
	// Local delivers to this node's sinks (server/bus's in-process bus). The
	// bus owns it: subscribing on it directly would upset the per-topic
	// count that decides when the node subscribes to a subject.
	Local comet.Bus
	// OnError is told of a lost connection (ErrDisconnected), of dropped
	// publishes (ErrDropped) and of refused messages; it runs on one
	// goroutine of the bus, never on a publisher, and must not block for long.
	OnError func(error)
	// OnReconnect is called, on the same goroutine, when the connection is
	// back after a loss (subscriptions are resent by nats.go).
	OnReconnect func()
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// QueueBytes bounds the publishes waiting for the connection; past it
	// Publish drops rather than waits (default 8 MiB).
	QueueBytes int
	// Dispatchers is how many goroutines deliver messages from other nodes to
	// local sinks (default GOMAXPROCS). A topic always goes to the same one,
	// which is what keeps its order; 1 also keeps order across topics.
	Dispatchers int
	// Inbox is each dispatcher's channel capacity in messages (default
	// 65536); a message arriving at a full inbox is dropped by nats.go.
	Inbox int
}

// ConnOptions are the nats.go options the bus relies on, for nats.Connect
// beside the caller's own (URL, credentials, name).
//
//   - NoEcho: a node delivers its own publishes locally, not through the server.
//   - ReconnectBufSize(-1): nothing is buffered while disconnected, so no
//     message published before a loss is delivered after the reconnect, when
//     the cluster has moved on (the node's own queue is bounded by QueueBytes).
//   - FlusherTimeout(2s): a write to a stalled server gives up, and the
//     connection reconnects, instead of holding the connection for a minute.
//   - MaxReconnects(-1), ReconnectWait(250ms): a node never gives up on NATS.
func ConnOptions() []nats.Option {
	return []nats.Option{
		nats.NoEcho(),
		nats.ReconnectBufSize(-1),
		nats.FlusherTimeout(flusherTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
	}
}

const (
	flusherTimeout = 2 * time.Second
	reconnectWait  = 250 * time.Millisecond
)

// Bus is a comet.Bus shared by every node on one NATS system.
type Bus struct {
	nc      *nats.Conn
	local   comet.Bus
	log     *slog.Logger
	onErr   func(error)
	onRecon func()
	origin  uint64

	// Lock order: a topic's stripe, then mu, the local bus's locks or
	// nats.go's; mu is a leaf. Publish and the dispatchers deliver holding
	// none of these.
	stripes [64]sync.Mutex // serialise Subscribe and Close per topic
	seed    maphash.Seed
	mu      sync.RWMutex // guards subs, topics and inEffect
	subs    map[string]*nats.Subscription
	topics  map[*nats.Subscription]string
	inboxes []chan *nats.Msg

	// inEffect maps a topic to its subscription once the server is known
	// to have it (Subscribed).
	inEffect map[string]*nats.Subscription

	out            outbox
	healthy        atomic.Bool
	closed         atomic.Bool
	dropReported   atomic.Int64 // unix nanos of the last ErrDropped report
	refuseReported atomic.Int64 // and of the last refused message's
	errs           chan error
	status         chan nats.Status
	done           chan struct{}
	sent           chan struct{} // closed when the sender has sent everything queued
	wg             sync.WaitGroup
	stats          counters
}

var _ comet.Bus = (*Bus)(nil)

// New starts a bus on cfg.Conn.
func New(cfg Config) (*Bus, error) {
	if cfg.Conn == nil || cfg.Local == nil {
		return nil, errors.New("natsbus: Config.Conn and Config.Local are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 8 << 20
	}
	if cfg.Dispatchers <= 0 {
		cfg.Dispatchers = runtime.GOMAXPROCS(0)
	}
	if cfg.Inbox <= 0 {
		cfg.Inbox = 65536
	}
	var o [8]byte
	_, _ = rand.Read(o[:])
	b := &Bus{
		nc:      cfg.Conn,
		local:   cfg.Local,
		log:     cfg.Logger.With("component", "natsbus"),
		onErr:   cfg.OnError,
		onRecon: cfg.OnReconnect,
		origin:  binary.BigEndian.Uint64(o[:]),
		seed:    maphash.MakeSeed(),
		subs:    make(map[string]*nats.Subscription),
		topics:  make(map[*nats.Subscription]string),
		inboxes: make([]chan *nats.Msg, cfg.Dispatchers),
		errs:    make(chan error, 16),
		done:    make(chan struct{}),
		sent:    make(chan struct{}),
	}
	b.out.init(cfg.QueueBytes)
	b.status = b.nc.StatusChanged(nats.CONNECTED, nats.DISCONNECTED, nats.RECONNECTING, nats.CLOSED)
	b.healthy.Store(b.nc.IsConnected())
	for i := range b.inboxes {
		b.inboxes[i] = make(chan *nats.Msg, cfg.Inbox)
		b.wg.Add(1)
		go b.dispatch(b.inboxes[i])
	}
	b.wg.Add(1)
	go b.watch()
	go b.send()
	return b, nil
}

// Publish delivers m to this node's subscribers of topic at once, and queues
// it, encoded once, for the topic's subject; it never waits for NATS. While
// the connection is down (or the queue full) other nodes miss m.
func (b *Bus) Publish(topic string, m *comet.Message) {
	b.local.Publish(topic, m)
	b.stats.published.Add(1)
	if b.closed.Load() {
		b.drop(errors.New("bus closed"))
		return
	}
	if !b.healthy.Load() {
		b.drop(ErrDisconnected)
		return
	}
	data := appendMessage(make([]byte, 0, payloadSize(m)), b.origin, m)
	if !b.out.push(outMsg{subj: Subject(topic), data: data}) {
		b.drop(fmt.Errorf("queue full (%d bytes)", b.out.limit))
	}
}

// Subscribe adds s to topic on this node; the node subscribes to the topic's
// subject with its first local subscriber. Messages published elsewhere reach
// s once the server has the subscription (Sync waits for that).
func (b *Bus) Subscribe(topic string, s comet.Sink) comet.Subscription {
	mu := b.stripe(topic)
	mu.Lock()
	defer mu.Unlock()
	sub := &subscription{bus: b, local: b.local.Subscribe(topic, s)}
	b.mu.RLock()
	ns := b.subs[topic]
	b.mu.RUnlock()
	if ns == nil && !b.closed.Load() {
		ns, err := b.nc.ChanSubscribe(Subject(topic), b.inboxes[b.shard(topic)])
		if err != nil { // the local subscription stands; the next Subscribe tries again
			b.report(fmt.Errorf("natsbus: subscribe %q: %w", topic, err))
			return sub
		}
		b.mu.Lock()
		if b.closed.Load() { // Close ran meanwhile and unsubscribed the rest
			b.mu.Unlock()
			_ = ns.Unsubscribe()
			return sub
		}
		b.subs[topic], b.topics[ns] = ns, topic
		b.mu.Unlock()
	}
	return sub
}

// Subscribed returns once this node's subscription to topic is in effect
// on the server: a message published elsewhere after it returns reaches
// this node's subscribers of topic (at most once, as ever). nats.go sends a
// subscription without waiting, so a caller that reads what was published
// before (a chat history) calls this first, or a message published between
// the read and the server taking the subscription reaches neither. The
// first call after the node subscribes waits for a round trip (ctx's
// deadline, else subscribedTimeout); later ones return at once. It fails
// when the node holds no subscription to topic (no local subscriber, or
// subscribing failed) or the server does not answer in time.
func (b *Bus) Subscribed(ctx context.Context, topic string) error {
	b.mu.RLock()
	ns, done := b.subs[topic], b.inEffect[topic]
	b.mu.RUnlock()
	switch {
	case ns == nil:
		return fmt.Errorf("natsbus: this node has no subscription to %q", topic)
	case done == ns:
		return nil
	}
	if _, ok := ctx.Deadline(); !ok { // nats.go refuses a flush without one
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, subscribedTimeout)
		defer cancel()
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("natsbus: subscription to %q not confirmed: %w", topic, err)
	}
	b.mu.Lock()
	if b.subs[topic] == ns { // not left and subscribed again meanwhile
		if b.inEffect == nil {
			b.inEffect = make(map[string]*nats.Subscription)
		}
		b.inEffect[topic] = ns
	}
	b.mu.Unlock()
	return nil
}

// subscribedTimeout bounds Subscribed's round trip when ctx has no deadline.
const subscribedTimeout = 5 * time.Second

// Local returns the node's in-process bus: what is published there reaches
// this node's sinks only (a node's own view, such as its lobby lists).
func (b *Bus) Local() comet.Bus { return b.local }

// Subscribers reports how many sinks topic has on this node (other nodes'
// subscribers are not counted).
func (b *Bus) Subscribers(topic string) int { return b.local.Subscribers(topic) }

// Healthy reports whether the NATS connection is up.
func (b *Bus) Healthy() bool { return !b.closed.Load() && b.nc.IsConnected() }

// Sync returns once every publish queued before it has been handed to the
// server and the server has processed it and every subscription made before
// it, or when ctx ends.
func (b *Bus) Sync(ctx context.Context) error {
	mark := make(chan struct{})
	if !b.out.push(outMsg{mark: mark}) {
		return errors.New("natsbus: bus closed")
	}
	select {
	case <-mark:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.nc.FlushWithContext(ctx)
}

// Close sends what is queued (until ctx ends), unsubscribes the node from
// every subject and stops the bus's goroutines; afterwards Publish delivers
// locally only. It leaves the connection open.
func (b *Bus) Close(ctx context.Context) error {
	if b.closed.Swap(true) {
		return nil
	}
	b.out.close()
	var err error
	select {
	case <-b.sent:
		if b.nc.IsConnected() {
			err = b.nc.FlushWithContext(ctx)
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	for topic, ns := range b.subs {
		_ = ns.Unsubscribe()
		delete(b.subs, topic)
		delete(b.topics, ns)
		delete(b.inEffect, topic)
	}
	b.mu.Unlock()
	close(b.done)
	b.nc.RemoveStatusListener(b.status)
	b.wg.Wait()
	return err
}

// Stats are the bus's counters since New.
type Stats struct {
	Published uint64 // Publish calls
	Sent      uint64 // handed to NATS
	Dropped   uint64 // not sent: disconnected, queue full, closed or refused by nats.go
	Received  uint64 // from other nodes, delivered locally
	Refused   uint64 // from other nodes, not a well-formed message
}

type counters struct{ published, sent, dropped, received, refused atomic.Uint64 }

// Stats returns the counters.
func (b *Bus) Stats() Stats {
	return Stats{
		Published: b.stats.published.Load(),
		Sent:      b.stats.sent.Load(),
		Dropped:   b.stats.dropped.Load(),
		Received:  b.stats.received.Load(),
		Refused:   b.stats.refused.Load(),
	}
}

type subscription struct {
	bus   *Bus
	local comet.Subscription
}

func (s *subscription) Topic() string { return s.local.Topic() }

// Close removes the sink; the node leaves the subject with its last one.
func (s *subscription) Close() {
	b, topic := s.bus, s.local.Topic()
	mu := b.stripe(topic)
	mu.Lock()
	defer mu.Unlock()
	s.local.Close()
	if b.local.Subscribers(topic) > 0 {
		return
	}
	b.mu.Lock()
	ns := b.subs[topic]
	if ns != nil {
		delete(b.subs, topic)
		delete(b.topics, ns)
		delete(b.inEffect, topic)
	}
	b.mu.Unlock()
	if ns != nil {
		_ = ns.Unsubscribe()
	}
}

func (b *Bus) stripe(topic string) *sync.Mutex {
	return &b.stripes[maphash.String(b.seed, topic)%uint64(len(b.stripes))]
}

func (b *Bus) shard(topic string) int {
	return int(maphash.String(b.seed, topic) >> 32 % uint64(len(b.inboxes)))
}

// dispatch delivers messages from other nodes to local sinks, in the order
// the server sent them.
func (b *Bus) dispatch(in <-chan *nats.Msg) {
	defer b.wg.Done()
	var d decoder
	for {
		select {
		case <-b.done:
			return
		case msg := <-in:
			b.mu.RLock()
			topic, ok := b.topics[msg.Sub]
			b.mu.RUnlock()
			if !ok { // the node left the topic after this was queued
				continue
			}
			origin, m, err := d.decode(msg.Data)
			if err != nil {
				n := b.stats.refused.Add(1)
				if b.limit(&b.refuseReported) {
					b.report(fmt.Errorf("%w on %s (%d bytes; %d refused so far)", err, msg.Subject, len(msg.Data), n))
				}
				continue
			}
			if origin == b.origin { // our own echo: delivered locally at Publish
				continue
			}
			b.stats.received.Add(1)
			b.local.Publish(topic, m)
		}
	}
}

// send hands queued publishes to nats.go in order.
func (b *Bus) send() {
	defer close(b.sent)
	var batch []outMsg
	for {
		var ok bool
		batch, ok = b.out.take(batch[:0])
		for i := range batch {
			o := &batch[i]
			if o.mark != nil {
				close(o.mark)
				continue
			}
			if err := b.nc.Publish(o.subj, o.data); err != nil {
				b.drop(err)
			} else {
				b.stats.sent.Add(1)
			}
			*o = outMsg{}
		}
		if !ok {
			return
		}
	}
}

// watch follows the connection's state and runs the callbacks.
func (b *Bus) watch() {
	defer b.wg.Done()
	for {
		select {
		case <-b.done:
			return
		case err := <-b.errs:
			if b.onErr != nil {
				b.onErr(err)
			}
		case _, ok := <-b.status:
			if !ok {
				return
			}
			st := b.nc.Status() // the channel may have dropped a change; ask
			if st == nats.CONNECTED {
				if !b.healthy.Swap(true) {
					b.log.Info("NATS connection back")
					if b.onRecon != nil {
						b.onRecon()
					}
				}
				continue
			}
			if b.healthy.Swap(false) {
				err := fmt.Errorf("%w (%s)", ErrDisconnected, st)
				if last := b.nc.LastError(); last != nil {
					err = fmt.Errorf("%w: %w", err, last)
				}
				b.log.Warn("NATS connection lost: messages to and from other nodes are lost until it is back", "status", st.String(), "err", err)
				if b.onErr != nil {
					b.onErr(err)
				}
			}
		}
	}
}

func (b *Bus) drop(why error) {
	n := b.stats.dropped.Add(1)
	if b.limit(&b.dropReported) {
		b.report(fmt.Errorf("%w (%d so far): %w", ErrDropped, n, why))
	}
}

// limit reports whether a second has passed since *last, and if so restarts it.
func (b *Bus) limit(last *atomic.Int64) bool {
	now, prev := time.Now().UnixNano(), last.Load()
	return now-prev >= int64(time.Second) && last.CompareAndSwap(prev, now)
}

// report hands err to the watcher for OnError without ever blocking; with
// the watcher behind, err is only counted (Stats).
func (b *Bus) report(err error) {
	select {
	case b.errs <- err:
	default:
	}
}
