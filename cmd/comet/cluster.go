package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"comet"
	"comet/server/cluster"
	"comet/server/natsbus"
)

// clusterParts are what cluster mode adds to a node: the NATS connection
// (and the embedded NATS server, if this node runs one), the bus across
// nodes and the node's membership.
type clusterParts struct {
	embedded *natsserver.Server
	storeDir string // removed at exit when it was a temporary folder
	nc       *nats.Conn
	bus      *natsbus.Bus
	node     *cluster.Node
}

// clustered reports whether this node runs as part of a cluster.
func (m *Main) clustered() bool { return m.NATSURL != "" || m.NATSEmbedded }

var notNodeChar = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// validateCluster checks the cluster flags and picks the default node name.
func (m *Main) validateCluster() error {
	if !m.clustered() {
		return nil
	}
	if m.NATSURL != "" && m.NATSEmbedded {
		return errors.New("--nats and --nats-embedded: give one (the node with the embedded server connects to it in-process)")
	}
	if m.Node == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(m.Addr)
		m.Node = notNodeChar.ReplaceAllString(host+"-"+port, "-")
	}
	if !cluster.ValidNodeName(m.Node) {
		return fmt.Errorf("--node %q (COMET_NODE): want 1 to 64 of A-Z a-z 0-9 - _", m.Node)
	}
	return nil
}

// joinCluster connects to NATS (starting the embedded server first with
// --nats-embedded), builds the bus across nodes around local and takes
// this node's lease; the node's metrics go to reg.
func (m *Main) joinCluster(ctx context.Context, local comet.Bus, reg prometheus.Registerer) (*clusterParts, error) {
	log := m.logger()
	p := &clusterParts{}
	m.cluster = p
	opts := append(natsbus.ConnOptions(), nats.Name("comet "+m.Node))
	url := m.NATSURL
	if m.NATSEmbedded {
		host, port, err := net.SplitHostPort(m.NATSListen)
		if err != nil {
			return nil, fmt.Errorf("--nats-listen %q: %w", m.NATSListen, err)
		}
		pn, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("--nats-listen %q: port: %w", m.NATSListen, err)
		}
		dir := m.NATSStore
		if dir == "" {
			if dir, err = os.MkdirTemp("", "comet-nats-"); err != nil {
				return nil, fmt.Errorf("embedded NATS store: %w", err)
			}
			p.storeDir = dir
		}
		ns, err := natsserver.NewServer(&natsserver.Options{
			ServerName: m.Node, Host: host, Port: pn, JetStream: true, StoreDir: dir,
			NoSigs: true, NoLog: true,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS server: %w", err)
		}
		go ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			ns.Shutdown()
			return nil, fmt.Errorf("embedded NATS server on %s not ready in 10 s", m.NATSListen)
		}
		p.embedded = ns
		opts = append(opts, nats.InProcessServer(ns))
		log.Info("embedded NATS server listening", "addr", ns.Addr().String())
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	p.nc = nc
	if p.bus, err = natsbus.New(natsbus.Config{
		Conn: nc, Local: local, Logger: log,
		OnError:     func(err error) { log.Warn("cluster bus", "err", err) },
		OnReconnect: func() { log.Info("cluster bus reconnected") },
	}); err != nil {
		return nil, err
	}
	if p.node, err = cluster.Start(ctx, cluster.Config{
		Conn: nc, Node: m.Node, Logger: log, Registerer: reg,
		OnLeaseLost: func(err error) {
			log.Error("this node is no longer a cluster member; fenced until it takes its lease back", "err", err)
		},
	}); err != nil {
		return nil, err
	}
	log.Info("joined the cluster", "node", m.Node, "nodes", p.node.Nodes())
	return p, nil
}

// serveCluster starts answering the other nodes once the server is built.
func (m *Main) serveCluster() {
	if m.cluster == nil || m.cluster.node == nil {
		return
	}
	m.cluster.node.Serve(cluster.Service{
		HTTP: m.Server.ClusterHandler(), Relay: m.Server.RelaySession, EndMirror: m.Server.EndMirror,
		Fence: m.Server.Fence, Recover: m.Server.Recover, Take: m.Server.TakeSession, Topics: m.Server.TakenTopics,
	})
}

// leaveCluster gives up the lease and closes the connection and the
// embedded server, after the server stopped.
func (m *Main) leaveCluster() {
	p := m.cluster
	if p == nil {
		return
	}
	m.cluster = nil
	if p.node != nil {
		p.node.Close()
	}
	if p.bus != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = p.bus.Close(ctx)
		cancel()
	}
	if p.nc != nil {
		p.nc.Close()
	}
	if p.embedded != nil {
		p.embedded.Shutdown()
		p.embedded.WaitForShutdown()
	}
	if p.storeDir != "" {
		_ = os.RemoveAll(p.storeDir)
	}
}
