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
)

// Chat across nodes. Chat channels and direct messages are bus topics
// (natsbus carries them to every node with a subscriber), but a change to a
// player's mute list must be in force on every node before chat.mute is
// answered: a line the muted player says after the answer must not reach
// the muter's tabs anywhere. A bus topic cannot promise that — natsbus
// dispatches topics on separate goroutines, so a chat line published after
// the mute may be handed to a tab before it — so the change is a call to
// every other live node (ChatAll), answered once the node has applied it.

func chatSubject(node string) string { return "comet.node." + node + ".chat" }

// chatCallTimeout bounds one node's answer to a chat call: a node that
// does not answer within it is dying or fenced, and its sessions reload
// their mutes from the store when they start again elsewhere.
const chatCallTimeout = 5 * time.Second

// ServeChat answers the other nodes' chat calls (ChatAll) with h, one at a
// time in the order they arrive, so two changes of one player's mutes are
// applied here in the order their callers made them; h's error is answered.
func (n *Node) ServeChat(h func(ctx context.Context, data []byte) error) error {
	sub, err := n.nc.Subscribe(chatSubject(n.cfg.Node), func(m *nats.Msg) {
		ctx, cancel := context.WithTimeout(n.ctx, chatCallTimeout)
		err := h(ctx, m.Data)
		cancel()
		n.respond(m, err, "chat call")
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", chatSubject(n.cfg.Node), err)
	}
	n.subs = append(n.subs, sub)
	return n.nc.Flush()
}

// ChatAll sends data to every other live node's chat handler (ServeChat) at
// once and returns when each has answered: nil when all applied it, else
// the joined errors of the nodes that refused, did not answer within
// ctx, or have no handler.
func (n *Node) ChatAll(ctx context.Context, data []byte) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, node := range n.Nodes() {
		if node == n.cfg.Node {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.chatCall(ctx, node, data); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// chatCall is one node's part of ChatAll.
func (n *Node) chatCall(ctx context.Context, node string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, chatCallTimeout)
	defer cancel()
	msg, err := n.nc.RequestWithContext(ctx, chatSubject(node), data)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%w: %s serves no chat calls", ErrUnreachable, node)
	}
	if err != nil {
		return fmt.Errorf("cluster: chat call to %s: %w", node, err)
	}
	var a relayAnswer
	if err := json.Unmarshal(msg.Data, &a); err != nil {
		return fmt.Errorf("cluster: chat call to %s: answer: %w", node, err)
	}
	if a.Code != "" {
		return fmt.Errorf("cluster: chat call to %s: %w", node, comet.Errorf(a.Code, "%s", a.Error))
	}
	return nil
}
